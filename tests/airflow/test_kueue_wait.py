"""A GPU task that waits in Kueue: real Airflow's KubernetesPodOperator (dag.test()) on the session's
real control plane, with the real Kueue controller and prod's Kueue objects (kube_kueue.py).

prod's `reporting` task asks for one L4 (the `l4` hint, its labels as `gpu_task` passes them) while
the cohort's l4 GPUs are all admitted to other workloads (a placeholder per ClusterQueue takes its
nominal quota: 8 + 1 + 2). Its pod waits in Kueue, gated, for KUEUE_HOLD seconds; then reporting's
placeholder goes and Kueue admits the task. KubernetesPodOperator's schedule timeout runs the whole
time (it waits for PodScheduled: cncf-kubernetes utils/pod_manager.py), so the stack adds Kueue's
queue wait (`kueue.queue_wait_minutes`) to the hint's `schedule_timeout_seconds`. Times are the
suite's scale (scenarios.SCALE, as test_lifecycle.py): the stack's figures x 0.01."""

from __future__ import annotations

from typing import Any

import pytest
from kube_kueue import GATE, QUEUE_LABEL
from scenarios import KUEUE, KUEUE_HOLD, SCALE

NAMESPACE = "airflow-reporting"
TOPOLOGY = "kueue.x-k8s.io/topology"
TIMEOUT = "Pod took too long to be scheduled on the cluster, giving up. More than {}s."
# The l4 flavor's node labels (components/gke/kueue.py: the pool's labels and its class's).
L4_FLAVOR_LABELS = {"gpu-pool": "l4", "cloud.google.com/compute-class": "l4-any"}


@pytest.fixture(scope="session")
def waits(kpo: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: kpo[name] for name in KUEUE}


def gated_span(history: list[dict[str, Any]]) -> tuple[float, float | None]:
    """When the watch first saw the pod gated by Kueue, and first saw it without that gate."""
    gated = next(e["at"] for e in history if GATE in e["gates"])
    lifted = next((e["at"] for e in history if e["at"] > gated and GATE not in e["gates"]), None)
    return gated, lifted


def test_the_wait_is_longer_than_kpos_budget_and_the_pools(
    waits: dict[str, dict[str, Any]],
) -> None:
    r = waits["kueue-wait"]
    real, scaled = r["scheduling"]["l4"], r["scaled"]
    # The l4 pool's budget (600 s) plus the queue wait (30 minutes), and the same at the scale.
    assert real["schedule_timeout_seconds"] == 600 + 30 * 60
    assert scaled["factor"] == SCALE
    assert scaled["hints"]["l4"]["schedule_timeout_seconds"] == 6 + 18
    assert scaled["kpo_default_timeout_seconds"] == pytest.approx(1.2)
    assert scaled["kpo_default_timeout_seconds"] < 600 * SCALE < KUEUE_HOLD < 6 + 18


@pytest.mark.parametrize("name", list(KUEUE))
def test_the_pod_names_the_local_queue_and_kueue_gates_it(
    waits: dict[str, dict[str, Any]], name: str
) -> None:
    r = waits[name]
    kueue = r["kueue"]
    assert kueue["flavor"] == "l4"
    # The cohort was full: each ClusterQueue's nominal l4 GPUs admitted (on the flavor's labels).
    assert sorted((p["namespace"], p["gpus"]) for p in kueue["placeholders"]) == [
        ("airflow-batch", "2"),
        ("airflow-ml-training", "8"),
        ("airflow-reporting", "1"),
    ]
    for placeholder in kueue["placeholders"]:
        assert placeholder["node_selector"] == L4_FLAVOR_LABELS
    [pod] = r["pods"]
    # What the task log shows while it waits: Kueue's event on the pod.
    assert "The Pod has an Event: Created Workload: airflow-reporting/pod-gpu-task-" in r["log"]
    labels = pod["manifest"]["metadata"]["labels"]
    assert labels[QUEUE_LABEL] == kueue["local_queues"][NAMESPACE] == "gpu"
    assert labels["kubernetes_pod_operator"] == "True"
    # Kueue's webhook gated the pod as it was created: its admission gate, and (Kueue v0.19) the
    # topology gate it lifts with it.
    first = pod["history"][0]
    assert (first["type"], first["gates"], first["node"]) == ("ADDED", [GATE, TOPOLOGY], None)


def test_with_the_hints_the_task_outwaits_the_queue_and_succeeds(
    waits: dict[str, dict[str, Any]],
) -> None:
    r = waits["kueue-wait"]
    hint = r["scaled"]["hints"]["l4"]
    assert r["state"] == "success"
    assert r["tries"] == {"1": "success"}
    [pod] = r["pods"]
    gated, lifted = gated_span(pod["history"])
    # Gated the whole hold, until reporting's GPU was free; then admitted, placed and run.
    assert lifted is not None and lifted - gated >= KUEUE_HOLD
    assert lifted >= r["kueue"]["released_at"]
    # Kueue said why it waited: no unused l4 quota in the cohort.
    waiting = {c["type"]: c for c in r["kueue"]["workload"]["conditions"]}
    assert waiting["QuotaReserved"]["status"] == "False"
    assert (
        "insufficient unused quota for nvidia.com/gpu in flavor l4"
        in (waiting["QuotaReserved"]["message"])
    )
    spec = pod["manifest"]["spec"]
    assert {k: spec["nodeSelector"][k] for k in L4_FLAVOR_LABELS} == L4_FLAVOR_LABELS
    assert pod["placed_on"].endswith("-l4-0")
    assert f"Waiting up to {hint['schedule_timeout_seconds']}s to get the POD scheduled" in r["log"]
    assert "PodLaunchTimeoutException" not in r["log"]


def test_with_kpos_default_the_same_wait_fails_on_its_timeout(
    waits: dict[str, dict[str, Any]],
) -> None:
    r = waits["kueue-wait-default"]
    default = r["scaled"]["kpo_default_timeout_seconds"]
    assert r["state"] == "failed"
    assert r["tries"] == {"1": "failed"}
    assert "PodLaunchTimeoutException: " + TIMEOUT.format(default) in r["log"]
    [pod] = r["pods"]
    # Gated from creation until KPO deleted it; never on a node; the queue was never freed.
    assert all(GATE in e["gates"] and e["node"] is None for e in pod["history"])
    assert pod["deleted"] is True
    assert r["kueue"]["released_at"] is None
