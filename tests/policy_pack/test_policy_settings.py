"""The policy pack's metadata and settings, through its real Analyzer gRPC service: levels, tags
and config schemas as the engine reads them, the pack's defaults equal to the stack's catalog, and
config overrides; the committed stacks pass every policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from pulumi.runtime.proto import analyzer_pb2

from components.gke import catalog
from offline import runner
from offline.analyzer import PolicyPackServer
from tests.policy_pack.mutations import verdicts_for


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_pass_every_policy(
    pack: PolicyPackServer, stacks: dict[str, runner.Run], stack: str
) -> None:
    assert pack.analyze_all(stacks[stack].registrations) == []


def test_pack_metadata(pack: PolicyPackServer) -> None:
    info = pack.info()
    assert info.name == "astro-gke-gpu-policies"
    assert info.supportsConfig
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert {n for n, lvl in levels.items() if lvl == analyzer_pb2.ADVISORY} == {
        "gke-labels",
        "gpu-pool-dcgm-metrics",
        "gpu-scale-to-zero-non-prod",
        "gpu-zone-offers-accelerator",
        "secret-labels",
    }
    assert all(lvl in (analyzer_pb2.ADVISORY, analyzer_pb2.MANDATORY) for lvl in levels.values())
    for p in info.policies:
        assert p.description.endswith(".") and len(p.description.split(". ")) == 1, p.name
    tagged = {p.name: list(p.tags) for p in info.policies}
    assert tagged["gke-private-nodes"] == ["CIS GKE 5.6.5", "CKV_GCP_64"]
    assert tagged["iam-no-service-account-keys"] == ["CIS GCP 1.4", "CKV2_GCP_3"]


def test_config_schema_and_defaults_without_config(
    pack: PolicyPackServer, stacks: dict[str, runner.Run]
) -> None:
    schemas = {p.name: p.configSchema for p in pack.info().policies}
    assert set(schemas["gpu-accelerator-allowed"].properties) == {"allowedAcceleratorTypes"}
    assert set(schemas["gpu-max-nodes"].properties) == {"maxNodesPerPool"}
    assert set(schemas["gke-allowed-region"].properties) == {"allowedRegions"}
    assert set(schemas["gke-deletion-protection-prod"].properties) == {"prodStacks"}
    # The SDK applies no schema defaults: with no config at all, the pack's own defaults hold.
    pack.configure({})
    assert pack.analyze_all(stacks["prod"].registrations) == []


def test_default_accelerators_match_the_stack_catalog() -> None:
    """One list: the pack's packaged accelerators.json is the file the stack's catalog reads."""
    from astro_gke_policies import gke

    packaged = resources.files("astro_gke_policies").joinpath(gke.ACCELERATORS_FILE)
    assert Path(str(packaged)).resolve() == catalog.ACCELERATORS_FILE.resolve()
    assert set(gke.DEFAULT_ACCELERATORS) == set(catalog.ACCELERATORS)
    assert {"nvidia-gb200", "nvidia-rtx-pro-6000", "nvidia-l4"} <= set(gke.DEFAULT_ACCELERATORS)


def test_stack_reads_the_zone_table_the_pack_ships() -> None:
    """One file: the pack's packaged gpu_zones.json is the file the stack's catalog reads."""
    from astro_gke_policies import capacity

    packaged = resources.files("astro_gke_policies").joinpath(capacity.ZONES_FILE)
    assert isinstance(packaged, Path)
    assert packaged.parent == runner.ROOT / "policies" / "astro_gke_policies"
    assert packaged.samefile(catalog.GPU_ZONES_FILE)


def test_zone_table_ships_inside_the_pack_directory(tmp_path: Path) -> None:
    """`pulumi preview --policy-pack policies` runs the pack from its own directory: a copy of
    that directory alone (no repository beside it) loads the same table."""
    shutil.copytree(
        runner.ROOT / "policies", tmp_path / "policies", ignore=shutil.ignore_patterns("venv")
    )
    script = (
        "import json; from astro_gke_policies import capacity; "
        "print(json.dumps([capacity.__file__, {z: sorted(a) for z, a in capacity.GPU_ZONES.items()}]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path / "policies",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded_from, zones = json.loads(out)
    assert Path(loaded_from).is_relative_to(tmp_path / "policies")
    assert {z: frozenset(a) for z, a in zones.items()} == catalog.GPU_ZONES
    assert zones["us-central1-a"] == [
        "nvidia-a100-80gb",
        "nvidia-h100-80gb",
        "nvidia-h100-mega-80gb",
        "nvidia-l4",
        "nvidia-tesla-a100",
    ]


def test_zone_table_names_known_zones_and_accelerators() -> None:
    data = json.loads(catalog.GPU_ZONES_FILE.read_text())
    assert data["sources"]
    assert set(data["zones"]) <= catalog.ZONES
    assert set().union(*data["zones"].values()) <= catalog.ACCELERATORS
    for zone, kinds in data["zones"].items():
        assert kinds == sorted(set(kinds)), zone


def test_prod_stacks_is_configurable(pack: PolicyPackServer, stacks: dict[str, runner.Run]) -> None:
    found = verdicts_for(
        pack, stacks["dev"].registrations, {"prodStacks": ["dev"]}, "gke-deletion-protection-prod"
    )
    # The SDK sends "<description>\n<message>".
    assert [(v.level, v.message) for v in found] == [
        (
            "mandatory",
            "Production clusters have deletion protection on.\n"
            "stack dev is production: deletionProtection must be true.",
        )
    ]


def test_stricter_caps_by_config(pack: PolicyPackServer, stacks: dict[str, runner.Run]) -> None:
    found = verdicts_for(pack, stacks["dev"].registrations, {"maxNodesPerPool": 1}, "gpu-max-nodes")
    assert [v.message.splitlines()[-1] for v in found] == [
        "autoscaling.maxNodeCount 2 exceeds the cap of 1 GPU nodes per pool."
    ]
    found = verdicts_for(
        pack,
        stacks["dev"].registrations,
        {"allowedAcceleratorTypes": ["nvidia-tesla-t4"]},
        "gpu-accelerator-allowed",
    )
    assert [v.message.splitlines()[-1] for v in found] == [
        "accelerator nvidia-l4 is not allowed (allowed: nvidia-tesla-t4)."
    ]
