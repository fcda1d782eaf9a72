"""The stack's PodDisruptionBudget over KubernetesPodOperator pods, under the real disruption
controller (kube-controller-manager) and the real Eviction API.

KPO's pods have no controller. For such pods Kubernetes supports only an integer `minAvailable`
("Specifying a Disruption Budget for your Application", Arbitrary workloads and arbitrary
selectors). With `maxUnavailable` or a percentage, the controller counts them as unmanaged, warns
`UnmanagedPods` on the budget ("the status of the PDB cannot be calculated correctly"), and what it
allows is undefined (k8s.io/kubernetes v1.36.3 pkg/controller/disruption/disruption.go).
"""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.kube.controlplane import GPU_TAINT, ControlPlane

NAMESPACE = "budget-check"
NODE = "budget-check-l4-0"


@pytest.fixture(scope="module")
def stack_budget(
    stack_objects: Callable[..., list[dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """dev's analytics budget and ResourceQuota, as the stack renders them."""
    objects = stack_objects("dev", False)
    namespaced = [o for o in objects if o["metadata"].get("namespace") == "airflow-analytics"]
    [budget] = [o for o in namespaced if o["kind"] == "PodDisruptionBudget"]
    [quota] = [o for o in namespaced if o["kind"] == "ResourceQuota"]
    return budget, quota


@pytest.fixture(scope="module")
def task(
    control_plane: ControlPlane, stack_budget: tuple[dict[str, Any], dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The budget in a namespace of its own, and one running pod with KPO's label."""
    cp = control_plane
    budget = copy.deepcopy(stack_budget[0])
    budget["metadata"]["namespace"] = NAMESPACE
    cp.kubectl("create", "namespace", NAMESPACE)
    cp.apply([budget])
    cp.gpu_node(NODE, "budget-check-l4", "nvidia-l4", gpus=1)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "gpu-task",
            "namespace": NAMESPACE,
            "labels": {"kubernetes_pod_operator": "True"},
            "annotations": {"pod-complete.stage.kwok.x-k8s.io/never": "true"},
        },
        "spec": {
            "nodeSelector": {"cloud.google.com/gke-nodepool": "budget-check-l4"},
            "tolerations": [{**GPU_TAINT, "operator": "Equal"}],
            "containers": [{"name": "base", "image": "busybox"}],
        },
    }
    cp.kubectl("create", "-f", "-", input=json.dumps(pod))
    deadline = time.time() + 60
    while True:  # the controller has counted the running pod
        status = cp.get("pdb", budget["metadata"]["name"], "-n", NAMESPACE).get("status", {})
        if status.get("currentHealthy") == 1:
            break
        assert time.time() < deadline, status
        time.sleep(0.3)
    yield status
    cp.kubectl("delete", "namespace", NAMESPACE, "--wait=false")
    cp.kubectl("delete", "node", NODE, "--wait=false")


def test_the_budget_is_one_kubernetes_supports_for_pods_without_a_controller(
    control_plane: ControlPlane,
    stack_budget: tuple[dict[str, Any], dict[str, Any]],
    task: dict[str, Any],
) -> None:
    budget, quota = stack_budget
    events = control_plane.get("events", "-n", NAMESPACE)["items"]
    warnings = [
        e["reason"]
        for e in events
        if e["involvedObject"]["kind"] == "PodDisruptionBudget" and e["type"] == "Warning"
    ]
    assert warnings == []  # with maxUnavailable: 0, ["UnmanagedPods"]
    assert "maxUnavailable" not in budget["spec"]
    # An integer at least the namespace's pod quota: no number of task pods is ever enough.
    assert budget["spec"]["minAvailable"] == int(quota["spec"]["hard"]["pods"])
    assert (task["expectedPods"], task["currentHealthy"], task["disruptionsAllowed"]) == (1, 1, 0)
    assert task["desiredHealthy"] == budget["spec"]["minAvailable"]


def test_the_eviction_api_refuses_to_evict_the_task(
    control_plane: ControlPlane,
    stack_budget: tuple[dict[str, Any], dict[str, Any]],
    task: dict[str, Any],
) -> None:
    budget = stack_budget[0]
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "gpu-task", "namespace": NAMESPACE},
    }
    request = urllib.request.Request(
        f"{control_plane.url}/api/v1/namespaces/{NAMESPACE}/pods/gpu-task/eviction",
        data=json.dumps(eviction).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=control_plane.ssl_context(), timeout=30)
    status = json.loads(refused.value.read())
    assert (status["code"], status["reason"]) == (429, "TooManyRequests")
    assert status["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": f"The disruption budget {budget['metadata']['name']} needs "
            f"{budget['spec']['minAvailable']} healthy pods and has 1 currently",
        }
    ]
