"""A GPU task's real life on a pool that scales from zero, through a real KubernetesPodOperator
(dag.test()) on the session's real control plane, at 1/100 of real time (scenarios.SCALE): the
cold start with KPO's defaults and with the pool's hints, a Spot preemption and its retry, a node
drain against the namespace's disruption budget, tasks that outlive their Google token, and prod's
GPU class (the hint's selector and tolerations reach the pod; the class's first pool scales up).
GKE's autoscaler and Compute Engine are kube_gke.GkeNodes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from scenarios import COLD_START, IMAGE_PULL, LIFECYCLE, SCALE, TOKEN_LIFETIME

SPOT_LOST = (
    "GPU node lost: the node the pod ran on was shut down (on a Spot pool: the Spot VM was "
    "preempted by Compute Engine): Pod was terminated in response to imminent node shutdown"
)
CLASS_TOLERATION = {
    "key": "cloud.google.com/compute-class",
    "operator": "Equal",
    "value": "l4-any",
    "effect": "NoSchedule",
}
GPU_TOLERATION = {
    "key": "nvidia.com/gpu",
    "operator": "Equal",
    "value": "present",
    "effect": "NoSchedule",
}


@pytest.fixture(scope="session")
def life(kpo: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: kpo[name] for name in LIFECYCLE if name in kpo}


# The real kube-scheduler's FailedScheduling wording when no node takes the pod: the whole
# cluster empty, or the other stack's GPU nodes (which share this control plane) refusing it
# (k8s.io/kubernetes v1.36 pkg/scheduler/schedule_one.go ErrNoNodesAvailable, framework
# NoNodeAvailableMsg).
NO_NODE = re.compile(r"no nodes available to schedule pods|0/\d+ nodes are available: .+")


def scale_up_event(pool: dict[str, Any]) -> str:
    return (
        "The Pod has an Event: pod triggered scale-up: "
        f"[{{{pool['name']} 0->1 (max: {pool['max_nodes']})}}]"
    )


def scaled_pool(r: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """The pool GKE's stand-in scaled up for the run's index-th pod."""
    up = r["gke"]["scale_ups"][index]
    assert up["pod"] == r["pods"][index]["manifest"]["metadata"]["name"]
    return dict(up["pool"])


def assert_the_scheduler_found_no_node(r: dict[str, Any], index: int = 0) -> None:
    """The real scheduler refused the pod while its pool had no node, and the user read it."""
    pod = r["pods"][index]["manifest"]["metadata"]["name"]
    refusals = [e for e in r["events"] if e["pod"] == pod and e["reason"] == "FailedScheduling"]
    assert refusals and {e["component"] for e in refusals} == {"default-scheduler"}
    for e in refusals:
        assert NO_NODE.fullmatch(e["message"]), e
        assert "Insufficient nvidia.com/gpu" not in e["message"]  # no node of the pool existed
        assert f"The Pod has an Event: {e['message']} from" in r["log"]


def test_the_test_scale_runs_the_stacks_budget(life: dict[str, dict[str, Any]]) -> None:
    """The scaled hints are the stack's budget function on its sourced figures x SCALE, and the
    replayed cold start is longer than KPO's default wait and shorter than the budget."""
    r = life["cold-hints"]
    real, scaled = r["scheduling"]["l4-spot"], r["scaled"]
    assert scaled["factor"] == SCALE
    assert scaled["kpo_default_timeout_seconds"] == pytest.approx(1.2)
    hint = scaled["hints"]["l4-spot"]
    assert (
        real["schedule_timeout_seconds"],
        real["startup_timeout_seconds"],
        real["retries"],
        real["retry_delay_seconds"],
    ) == (900, 900, 3, 60)
    assert (
        hint["schedule_timeout_seconds"],
        hint["startup_timeout_seconds"],
        hint["retries"],
        hint["retry_delay_seconds"],
    ) == (9, 9, 3, pytest.approx(0.6))
    assert scaled["kpo_default_timeout_seconds"] < COLD_START < hint["schedule_timeout_seconds"]
    assert scaled["kpo_default_timeout_seconds"] < IMAGE_PULL < hint["startup_timeout_seconds"]


def test_cold_start_fails_with_kpos_default_timeouts(life: dict[str, dict[str, Any]]) -> None:
    r = life["cold-default"]
    assert r["state"] == "failed"
    assert r["tries"] == {"1": "failed"}
    pool = scaled_pool(r)
    assert pool["labels"]["gpu-pool"] == "l4-spot"
    # What the user reads: the scheduler's and the autoscaler's events, then the timeout.
    assert_the_scheduler_found_no_node(r)
    assert scale_up_event(pool) in r["log"]
    assert (
        "PodLaunchTimeoutException: Pod took too long to be scheduled on the cluster, giving up. "
        "More than 1.2s. Check the pod events in kubernetes." in r["log"]
    )
    # KPO deletes the pod before its node is up: it never ran anywhere.
    assert [(p["deleted"], p["placed_on"]) for p in r["pods"]] == [(True, None)]


def test_cold_start_succeeds_with_the_pools_hints(life: dict[str, dict[str, Any]]) -> None:
    r = life["cold-hints"]
    hint = r["scaled"]["hints"]["l4-spot"]
    assert r["state"] == "success"
    assert r["tries"] == {"1": "success"}
    assert f"Waiting up to {hint['schedule_timeout_seconds']}s to get the POD scheduled" in r["log"]
    pool = scaled_pool(r)
    assert_the_scheduler_found_no_node(r)
    assert scale_up_event(pool) in r["log"]
    # The pod ran on the node the autoscaler added, of that pool.
    [pod] = r["pods"]
    assert pod["placed_on"] in r["gke"]["nodes"]
    assert pod["node_labels"]["cloud.google.com/gke-nodepool"] == pool["name"]
    assert f"Waiting {hint['startup_timeout_seconds']}s to get the POD running" in r["log"]
    assert "PodLaunchTimeoutException" not in r["log"]


@pytest.mark.parametrize("name", ["preempted", "preempted-deferrable"])
def test_spot_preemption_names_the_cause_and_the_retry_succeeds(
    life: dict[str, dict[str, Any]], name: str
) -> None:
    r = life[name]
    first, second = (p["manifest"]["metadata"] for p in r["pods"])
    assert r["state"] == "success"
    assert r["tries"] == {"1": "failed", "2": "success"}
    assert (first["labels"]["try_number"], second["labels"]["try_number"]) == ("1", "2")
    # KPO's own failure, and the line the stack's callback (astro/include/gke_gpu.py) adds.
    assert f"Pod {first['name']} returned a failure." in r["log"]
    assert (
        f"{SPOT_LOST}. Pod airflow-analytics/{first['name']}. Not a failure of the task's code: "
        "Airflow retries it (3 of 3 retries left); the retry waits for a new node." in r["log"]
    )
    # Once, for the preempted pod only: a pod that ends on its own gets no such line.
    assert r["log"].count("GPU node lost") == 1
    assert [p["deleted"] for p in r["pods"]] == [True, True]
    # Compute Engine took the VM back: the first try's node is gone, the retry ran on a new one.
    assert r["gke"]["preempted"] == [{"pod": first["name"], "node": r["pods"][0]["placed_on"]}]
    assert r["pods"][1]["placed_on"] not in (None, r["pods"][0]["placed_on"])
    assert r["pods"][1]["placed_on"] in r["gke"]["nodes"]


def test_a_drain_cannot_evict_a_running_task(life: dict[str, dict[str, Any]]) -> None:
    """GKE drains a node through the Eviction API; the namespace's budget (an integer
    minAvailable, the namespace's pod quota, over KPO's pods) allows no disruption, so the real API
    server refuses the eviction and the task finishes. A pod the budget does not select is evicted
    (the budget is not a blanket no). The server's words are the real disruption controller's
    status read back by the Eviction API (k8s.io/kubernetes v1.36.3 pkg/registry/core/pod/storage/
    eviction.go): 1 healthy pod of the 100 it needs."""
    r = life["drained"]
    task_pod = r["pods"][0]["manifest"]["metadata"]["name"]
    assert r["state"] == "success"
    assert r["drain"] == [
        {
            "pod": task_pod,
            "phase": "Running",
            "status": 429,
            "body": {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "reason": "TooManyRequests",
                "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                "code": 429,
                "details": {
                    "causes": [
                        {
                            "reason": "DisruptionBudget",
                            "message": "The disruption budget kpo-pods needs 100 healthy pods "
                            "and has 1 currently",
                        }
                    ]
                },
            },
        },
        {"pod": "bystander", "status": 201},
    ]
    # The API server's audit log: both evictions, as GKE's control plane (cluster admin here).
    assert r["evictions"] == [
        {"pod": task_pod, "namespace": "airflow-analytics", "user": "test-admin", "code": 429},
        {"pod": "bystander", "namespace": "airflow-analytics", "user": "test-admin", "code": 201},
    ]
    assert r["pods"][0]["deleted"] is True  # by KPO, once it succeeded


@pytest.mark.parametrize("name", ["long-sync", "long-deferrable"])
def test_a_task_outlives_its_token(life: dict[str, dict[str, Any]], name: str) -> None:
    """Tokens live TOKEN_LIFETIME seconds; the task runs longer. The Kubernetes client runs the
    plugin again when its token expires (it refreshes 5 minutes early, so here on every call):
    every request the server saw carried a live token, never a 401."""
    r = life[name]
    calls, tokens = r["calls"], r["tokens"]
    assert r["state"] == "success"
    assert r["lifetime"] == TOKEN_LIFETIME
    assert {c["status"] for c in calls} == {200}
    assert calls[-1]["at"] - calls[0]["at"] > 2 * TOKEN_LIFETIME
    first = calls[0]["token"]
    after_expiry = [c for c in calls if c["at"] > tokens[first]["expires"]]
    assert after_expiry and all(c["token"] != first for c in after_expiry)
    assert all(c["at"] < tokens[c["token"]]["expires"] for c in calls)
    # Every one of them the launcher's, minted through the chain (gcloud impersonating it).
    launcher = r["deployment"]["launcher_email"]
    assert {tokens[c["token"]]["identity"] for c in calls} == {launcher}


def test_a_class_hint_reaches_the_pod_and_the_first_priority_scales_up(
    life: dict[str, dict[str, Any]],
) -> None:
    r = life["class"]
    spec = r["pod"]["spec"]
    assert r["state"] == "success"
    assert r["scheduling"]["l4-any"]["node_selector"] == {
        "cloud.google.com/compute-class": "l4-any"
    }
    assert spec["nodeSelector"] == {"cloud.google.com/compute-class": "l4-any"}
    assert GPU_TOLERATION in spec["tolerations"] and CLASS_TOLERATION in spec["tolerations"]
    # The class's priorities put spot L4 first: that pool is the one the autoscaler grows, and the
    # pod runs on its new node.
    pool = scaled_pool(r)
    assert pool["labels"]["gpu-pool"] == "l4-spot"
    assert pool["labels"]["cloud.google.com/gke-spot"] == "true"
    assert scale_up_event(pool) in r["log"]
    assert r["pods"][0]["node_labels"]["cloud.google.com/gke-nodepool"] == pool["name"]
    hint = r["scaled"]["hints"]["l4-any"]
    assert f"Waiting up to {hint['schedule_timeout_seconds']}s to get the POD scheduled" in r["log"]


def test_a_class_pod_without_the_class_toleration_never_schedules(
    life: dict[str, dict[str, Any]],
) -> None:
    r = life["class-untolerated"]
    assert r["state"] == "failed"
    assert CLASS_TOLERATION not in r["pods"][0]["manifest"]["spec"]["tolerations"]
    assert r["pods"][0]["placed_on"] is None
    assert r["gke"]["scale_ups"] == [] and r["gke"]["nodes"] == {}
    assert_the_scheduler_found_no_node(r)
    assert (
        "The Pod has an Event: pod didn't trigger scale-up: 2 node(s) didn't match Pod's node "
        "affinity/selector, 3 node(s) had untolerated taint {cloud.google.com/compute-class: "
        "l4-any}" in r["log"]
    )
    # The class's scaled budget: 9 s (900 s at 0.01) plus Kueue's scaled queue wait, 18 s (prod
    # shares GPUs: 30 minutes at 0.01), since KPO's schedule timeout runs while Kueue gates a pod.
    assert r["scaled"]["hints"]["l4-any"]["schedule_timeout_seconds"] == 9 + 18
    assert "Pod took too long to be scheduled on the cluster, giving up. More than 27s." in r["log"]
