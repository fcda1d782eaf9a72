"""The offline plan: JSON schema, determinism, the critical path and the needless-wait warning."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jsonschema
import pytest

from offline import plan, runner
from offline.analyzer import Verdict
from offline.mocks import Registration
from tests.preview_run import run_main

SCHEMA = json.loads((runner.ROOT / "offline" / "plan.schema.json").read_text())


def preview_json(stack: str) -> tuple[int, dict[str, Any]]:
    """A fresh `make preview --format json` run, through its entry point (tests/preview_run.py)."""
    result = run_main("--stack", stack, "--format", "json")
    return result.returncode, json.loads(result.stdout)


@pytest.fixture(scope="module")
def dev_json() -> dict[str, Any]:
    status, doc = preview_json("dev")
    assert status == 0
    return doc


def test_json_plan_matches_its_schema(dev_json: dict[str, Any]) -> None:
    jsonschema.validate(dev_json, SCHEMA)
    _, prod = preview_json("prod")
    jsonschema.validate(prod, SCHEMA)


def test_schema_rejects_what_it_should() -> None:
    bad = {"schema_version": 1, "project": "p", "stack": "s"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_json_plan_content(dev_json: dict[str, Any]) -> None:
    assert dev_json["stack"] == "dev"
    assert dev_json["counts"]["gcp:container/nodePool:NodePool"] == 2
    # 27 before observability (issue 20) + kube-state-metrics (namespace, service account,
    # ClusterRole, binding, Deployment, ClusterPodMonitoring) + 4 alert policies (no XID alert:
    # docs/observability.md), the preemption log metric and the dashboard; minus the node and
    # launcher accounts and the launcher's Token Creator grant, which the bootstrap creates
    # (docs/day0.md, "Service accounts").
    assert (
        sum(dev_json["counts"].values()) == 35
    )  # the launcher role is the bootstrap's (components/custom_roles.py)
    assert dev_json["outputs"]["cluster_endpoint"]["placeholder"] is True
    assert dev_json["outputs"]["cluster_name"] == {
        "value": "astro-gpu-dev",
        "secret": False,
        "placeholder": False,
    }
    assert dev_json["policies"] == {"mandatory": [], "advisory": []}
    assert dev_json["warnings"] == []
    version = next(
        r
        for r in dev_json["resources"]
        if r["type"] == "gcp:secretmanager/secretVersion:SecretVersion"
    )
    assert version["inputs"]["secretData"] == "[secret]"  # masked, never printed
    assert [s["name"] for s in dev_json["critical_path"]["steps"]] == [
        "astro-gpu-dev-vpc",
        "astro-gpu-dev-subnet",
        "astro-gpu-dev-gke",
        "astro-gpu-dev-system-pool",
    ]
    assert dev_json["critical_path"]["estimated_seconds"] == 40 + 20 + 420 + 150


def test_two_runs_give_identical_plans(dev_json: dict[str, Any]) -> None:
    _, again = preview_json("dev")
    assert again == dev_json


# --- critical path and waits, on hand-made graphs ---------------------------------------------


def reg(
    name: str, type_: str, deps: tuple[str, ...] = (), parent: str = "", custom: bool = True
) -> Registration:
    urn = f"urn:pulumi:t::p::{type_}::{name}"
    return Registration(
        type_, name, urn, parent, custom, {}, {}, list(deps), {}, False, [], "", set(), {}
    )


CLUSTER_T = "gcp:container/cluster:Cluster"
POOL_T = "gcp:container/nodePool:NodePool"
NS_T = "kubernetes:core/v1:Namespace"


def test_critical_path_is_the_longest_chain() -> None:
    net = reg("net", "gcp:compute/network:Network")
    sa = reg("sa", "gcp:serviceaccount/account:Account")
    cluster = reg("cluster", CLUSTER_T, (net.urn, sa.urn))
    pool = reg("pool", POOL_T, (cluster.urn,))
    total, steps = plan.critical_path([net, sa, cluster, pool])
    assert total == 40 + 420 + 150
    assert [(s.name, s.starts, s.finishes) for s in steps] == [
        ("net", 0, 40),
        ("cluster", 40, 460),
        ("pool", 460, 610),
    ]


def test_dependency_on_a_component_means_its_children() -> None:
    component = reg("identity", "astro-gke-gpu:iam:NodeServiceAccount", custom=False)
    account = reg("account", "gcp:serviceaccount/account:Account", parent=component.urn)
    binding = reg(
        "binding", "gcp:projects/iAMMember:IAMMember", (account.urn,), parent=component.urn
    )
    cluster = reg("cluster", CLUSTER_T, (component.urn,))
    regs = [component, account, binding, cluster]
    assert plan.waits_on(cluster, {r.urn: r for r in regs}) == sorted([account.urn, binding.urn])
    total, _ = plan.critical_path(regs)
    assert total == 6 + 8 + 420


def test_warns_when_something_waits_on_a_pool_without_needing_nodes() -> None:
    cluster = reg("cluster", CLUSTER_T)
    pool = reg("gpu", POOL_T, (cluster.urn,))
    ns = reg("ns", NS_T, (pool.urn,))
    deployment = reg("app", "kubernetes:apps/v1:Deployment", (pool.urn,))
    # A ComputeClass lists its pools' generated names: waiting on them is its job.
    klass = reg("cc", "kubernetes:cloud.google.com/v1:ComputeClass", (pool.urn,))
    warnings = plan.needless_waits([cluster, pool, ns, deployment, klass])
    assert warnings == [
        "kubernetes:core/v1:Namespace ns waits on node pool(s) gpu without needing nodes"
    ]


def test_a_cycle_is_reported() -> None:
    a = reg("a", NS_T, ("urn:pulumi:t::p::kubernetes:core/v1:Namespace::b",))
    b = reg("b", NS_T, (a.urn,))
    with pytest.raises(ValueError, match="dependency cycle"):
        plan.critical_path([a, b])


def test_mandatory_verdict_sets_exit_status(dev: runner.Run) -> None:
    pool = next(r for r in dev.registrations if r.type == POOL_T)
    verdict = Verdict("mandatory", "gpu-max-nodes", pool.urn, "Description.\nToo many nodes.")
    doc = plan.build(dev, [verdict])
    assert plan.exit_status(doc) == 1
    assert doc["policies"]["mandatory"] == [
        {
            "policy": "gpu-max-nodes",
            "level": "mandatory",
            "urn": pool.urn,
            "resource": f"{POOL_T}  {pool.name}",
            "message": "Too many nodes.",
        }
    ]
    assert plan.exit_status(plan.build(dev, [dataclasses.replace(verdict, level="advisory")])) == 0
