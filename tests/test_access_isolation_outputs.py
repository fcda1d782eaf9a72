"""The Airflow access path, across deployments: nothing shared, nothing waiting on node pools, and
the outputs Astro consumes."""

from __future__ import annotations

import json

import pytest

from offline import runner
from tests.airflow_access_common import (
    ASTRO_REPORTING,
    ASTRO_TRAINING,
    BACKEND,
    BATCH_TRIGGERER,
    BATCH_WORKER,
    BINDING,
    LAUNCHER_DEV,
    LAUNCHER_TRAINING,
    NAMESPACE,
    ROLE,
    SECRET_IAM,
    grants_to,
)
from tests.conftest import NODE_POOL, airflow_side

# --- Isolation and ordering ---------------------------------------------------------------------


def test_deployments_share_nothing(prod: runner.Run) -> None:
    namespaces = [r.inputs["metadata"]["name"] for r in airflow_side(prod.of_type(NAMESPACE))]
    assert sorted(namespaces) == [
        "airflow-batch",
        "airflow-ml-training",
        "airflow-reporting",
        "astro-agent-batch",
    ]
    roles = [
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"])
        for r in prod.of_type(ROLE)
    ]
    assert sorted(roles) == [
        ("airflow-batch", "kpo-launcher"),
        ("airflow-ml-training", "kpo-launcher"),
        ("airflow-reporting", "kpo-launcher"),
    ]
    subjects = {
        b.inputs["metadata"]["namespace"]: [(s["kind"], s["name"]) for s in b.inputs["subjects"]]
        for b in prod.of_type(BINDING)
    }
    assert subjects == {
        "airflow-ml-training": [("User", LAUNCHER_TRAINING)],
        "airflow-reporting": [("User", ASTRO_REPORTING)],
        "airflow-batch": [
            ("ServiceAccount", "astro-agent-worker"),
            ("ServiceAccount", "astro-agent-triggerer"),
        ],
    }
    readers = {(r.inputs["secretId"], r.inputs["member"]) for r in prod.of_type(SECRET_IAM)}
    assert readers == {
        ("airflow-connections-gke_gpu", f"serviceAccount:{LAUNCHER_TRAINING}"),
        ("airflow-connections-gke_gpu_reporting", f"serviceAccount:{ASTRO_REPORTING}"),
        ("airflow-connections-gke_gpu_batch", BATCH_WORKER),
        ("airflow-connections-gke_gpu_batch", BATCH_TRIGGERER),
    }
    # Neither Astro identity can reach the other's launcher, namespace or secret.
    assert all("reporting" not in str(target) for _, target, _ in grants_to(prod, ASTRO_TRAINING))
    assert all(target != "gke_gpu_reporting" for _, target, _ in grants_to(prod, LAUNCHER_TRAINING))


def _closure(run: runner.Run, urn: str) -> set[str]:
    """Everything `urn` waits for: dependency edges and its provider, transitively."""
    by_urn = {r.urn: r for r in run.registrations}
    seen: set[str] = set()
    todo = [urn]
    while todo:
        r = by_urn.get(todo.pop())
        if r is None:
            continue
        # A provider reference is "<provider urn>::<provider id>".
        provider_urn = r.provider.rsplit("::", 1)[0] if r.provider else ""
        for dep in [*r.dependencies, provider_urn]:
            if dep and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_kubernetes_objects_and_secrets_never_wait_on_node_pools(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    pools = {r.urn for r in run.of_type(NODE_POOL)}
    checked = 0
    for r in run.registrations:
        if "astro-gke-gpu:airflow:DeploymentAccess" not in r.urn:
            continue  # the access path only (a ComputeClass names its pools on purpose)
        if r.type.startswith("kubernetes:") or r.type.startswith("gcp:secretmanager/"):
            assert not (_closure(run, r.urn) & pools), r.name
            checked += 1
    assert checked >= 9
    # ... while the Kubernetes objects do wait for the cluster (through their provider).
    cluster = run.one("gcp:container/cluster:Cluster").urn
    assert cluster in _closure(run, run.of_type(ROLE)[0].urn)


# --- Outputs -------------------------------------------------------------------------------------


def test_outputs_for_astro(dev: runner.Run, prod: runner.Run) -> None:
    assert dev.outputs["airflow"] == {
        "analytics": {
            "execution": "hosted",
            "connection_id": "gke_gpu",
            "namespace": "airflow-analytics",
            "secret_id": "airflow-connections-gke_gpu",
            "secret_project": "acme-ml-dev",
            "secrets_backend": "stack",
            "auth_mode": "impersonation",
            "launcher_email": LAUNCHER_DEV,
            # gpu_quota 2: the pool's slots; a deferred task keeps its slots (it keeps its pod)
            "airflow_pool": {
                "name": "gke_gpu",
                "slots": 2,
                "include_deferred": True,
                "description": (
                    "GPU tasks of Astro deployment analytics: 2 slots = the GPU quota "
                    "(requests.nvidia.com/gpu) of namespace airflow-analytics; pool_slots = GPUs "
                    "per task (managed by Pulumi, make airflow-pool)"
                ),
            },
            "AIRFLOW__SECRETS__BACKEND": BACKEND,
            "AIRFLOW__SECRETS__BACKEND_KWARGS": dev.outputs["airflow"]["analytics"][
                "AIRFLOW__SECRETS__BACKEND_KWARGS"
            ],
        }
    }
    assert json.loads(dev.outputs["airflow"]["analytics"]["AIRFLOW__SECRETS__BACKEND_KWARGS"]) == {
        "connections_prefix": "airflow-connections",
        "variables_prefix": None,
        "config_prefix": None,
        "sep": "-",
        "project_id": "acme-ml-dev",
        "impersonation_chain": LAUNCHER_DEV,
    }
    reporting = prod.outputs["airflow"]["reporting"]
    assert reporting["launcher_email"] is None
    # Every deployment's pool is sized from its own quota (prod: 8, 1 and 2 GPUs) plus what it may
    # borrow through Kueue (prod: 4, 2 and 2; docs/gpu-sharing.md).
    assert {name: d["airflow_pool"]["slots"] for name, d in prod.outputs["airflow"].items()} == {
        "ml-training": 12,
        "reporting": 3,
        "batch-remote": 4,
    }
    assert json.loads(reporting["AIRFLOW__SECRETS__BACKEND_KWARGS"]) == {
        "connections_prefix": "airflow-connections",
        "variables_prefix": None,
        "config_prefix": None,
        "sep": "-",
        "project_id": "acme-ml-prod",
    }
    for key in ("cluster_name", "cluster_location", "cluster_endpoint", "gpu_scheduling"):
        assert key in dev.outputs
