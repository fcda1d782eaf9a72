"""The policy pack's metadata and settings, through its real Analyzer gRPC service: levels, tags
and config schemas as the engine reads them, the pack's defaults equal to the stack's catalog, and
config overrides; the committed stacks pass every policy."""

from __future__ import annotations

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
    from astro_gke_policies import gke

    assert set(gke.DEFAULT_ACCELERATORS) == set(catalog.ACCELERATORS)
    assert {"nvidia-gb200", "nvidia-rtx-pro-6000"} <= set(gke.DEFAULT_ACCELERATORS)


def test_pack_gpu_zones_match_the_stack_catalog() -> None:
    from astro_gke_policies import capacity

    assert capacity.GPU_ZONES == catalog.GPU_ZONES


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
