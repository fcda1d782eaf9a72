"""Moving or renaming a module must not change a URN: a URN is the resource's identity in Pulumi
state, and a changed one is a delete and a create (Pulumi docs, "Resource names" / "URNs").

A URN is built from the parent chain's type tokens and the resource's name. Two checks:
- every URN the dev and prod stacks register is the one recorded in tests/__snapshots__ (read here
  directly, so a URN change is named even when the snapshot is re-recorded in the same change);
- every component's type token (the string passed to `ComponentResource.__init__`) is the one
  recorded below, including the components the two snapshots do not register (the bootstrap's
  and the opt-in DCGM exporter's).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from offline import runner

SNAPSHOTS = runner.ROOT / "tests" / "__snapshots__" / "test_snapshots"

# class name -> type token, as every existing stack's state records them. Never edit a value here
# without a migration (aliases) for existing stacks.
TOKENS = {
    "AirflowDeploymentAccess": "astro-gke-gpu:airflow:DeploymentAccess",
    "RemoteAgent": "astro-gke-gpu:airflow:RemoteAgent",
    # LauncherRole (astro-gke-gpu:iam:LauncherRole) is gone from the main stack: the bootstrap
    # creates the custom roles (StackRoles), and tools/release_accounts.py moves a deployed
    # stack's roles out of its state first (docs/day0.md).
    "SecretManagerKeys": "astro-gke-gpu:secrets:SecretManagerKeys",
    "XComStorage": "astro-gke-gpu:xcom:XComStorage",
    "GkeCluster": "astro-gke-gpu:gke:Cluster",
    "GpuComputeClass": "astro-gke-gpu:gke:GpuComputeClass",
    "GpuNodePool": "astro-gke-gpu:gke:GpuNodePool",
    "SystemNodePool": "astro-gke-gpu:gke:SystemNodePool",
    "Network": "astro-gke-gpu:network:Network",
    "NodeServiceAccount": "astro-gke-gpu:iam:NodeServiceAccount",
    "Observability": "astro-gke-gpu:observability:Alerts",
    "KubeStateMetrics": "astro-gke-gpu:observability:KubeStateMetrics",
    "DcgmExporter": "astro-gke-gpu:observability:DcgmExporter",
    "ProjectApis": "astro-gke-gpu:day0:ProjectApis",
    "GitHubFederation": "astro-gke-gpu:day0:GitHubFederation",
    "CiIdentities": "astro-gke-gpu:day0:CiIdentities",
    "StackAccess": "astro-gke-gpu:day0:StackAccess",
    "PulumiState": "astro-gke-gpu:day0:PulumiState",
    "StackIdentities": "astro-gke-gpu:day0:StackIdentities",
    "StackRoles": "astro-gke-gpu:day0:StackRoles",
    "Kueue": "astro-gke-gpu:kueue:Kueue",
}


def _component_tokens(path: Path) -> dict[str, str]:
    """class name -> the literal first argument of `super().__init__(...)` in each
    `pulumi.ComponentResource` subclass."""
    out = {}
    for cls in ast.walk(ast.parse(path.read_text())):
        if not isinstance(cls, ast.ClassDef) or "pulumi.ComponentResource" not in map(
            ast.unparse, cls.bases
        ):
            continue
        for node in ast.walk(cls):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "__init__"
                and isinstance(node.func.value, ast.Call)
                and isinstance(node.func.value.func, ast.Name)
                and node.func.value.func.id == "super"
            ):
                arg = node.args[0]
                assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                    f"{path}: {cls.name}'s type token is not a literal string"
                )
                out[cls.name] = arg.value
    return out


def test_component_type_tokens_are_the_recorded_ones() -> None:
    found: dict[str, str] = {}
    for path in sorted((runner.ROOT / "components").rglob("*.py")):
        for name, token in _component_tokens(path).items():
            assert name not in found, f"two component classes named {name}"
            found[name] = token
    assert found == TOKENS


def _snapshot(stack: str) -> list[dict[str, object]]:
    data = json.loads((SNAPSHOTS / f"test_registered_resources[{stack}].json").read_text())
    assert isinstance(data, list) and data, f"no resources in the {stack} snapshot"
    return data


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_urns_are_the_recorded_ones(stack: str, request: pytest.FixtureRequest) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    registered = {(r.urn, r.type, r.name) for r in run.registrations}
    recorded = {(r["urn"], r["type"], r["name"]) for r in _snapshot(stack)}
    assert sorted(registered - recorded) == [], "URNs not in the recorded snapshot"
    assert sorted(recorded - registered) == [], "recorded URNs no longer registered"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_snapshot_component_types_are_recorded_tokens(stack: str) -> None:
    """Every component type in a snapshot's URNs is a recorded token (the snapshots and TOKENS
    cannot drift apart)."""
    components = {r["type"] for r in _snapshot(stack) if not r["custom"]}
    # The provider's own components (prod's Kueue chart, kubernetes:helm.sh/v4:Chart) carry the
    # provider's token, not ours.
    ours = {str(t) for t in components if not str(t).startswith("kubernetes:")}
    assert ours - {"pulumi:pulumi:Stack"} <= set(TOKENS.values())
    assert "astro-gke-gpu:gke:Cluster" in components
