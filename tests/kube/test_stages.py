"""The kubelet's part that kwok plays (tests/kube/stages): what a pod's status says when its
containers exit, and when its node shuts down under it, on the real API server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.kube.controlplane import GPU_TAINT, ControlPlane

SHUTDOWN = "Pod was terminated in response to imminent node shutdown."


@pytest.fixture(scope="module")
def node(control_plane: ControlPlane) -> Iterator[str]:
    name = "stages-l4-0"
    control_plane.gpu_node(name, "stages-l4", "nvidia-l4", gpus=1, spot=True)
    yield name
    control_plane.kubectl("delete", "node", name, "--wait=false")


def manifest(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {
            "nodeSelector": {"cloud.google.com/gke-nodepool": "stages-l4"},
            "tolerations": [{**GPU_TAINT, "operator": "Equal"}],
            "containers": [{"name": "base", "image": "busybox"}],
        },
    }


def run(cp: ControlPlane, name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A pod on the stage test's node, until its phase is final; its last status."""
    cp.kubectl("create", "-f", "-", input=json.dumps(manifest(name, annotations)))
    try:
        deadline = time.time() + 60
        while True:
            got = cp.get("pod", name, "-n", "default")
            if got["status"].get("phase") in ("Succeeded", "Failed"):
                return dict(got["status"])
            assert time.time() < deadline, got["status"]
            time.sleep(0.2)
    finally:
        cp.kubectl("delete", "pod", name, "-n", "default", "--grace-period=0", "--force")


def test_a_pod_ends_succeeded_after_its_run_time(control_plane: ControlPlane, node: str) -> None:
    status = run(control_plane, "runs", {"pod-complete.stage.kwok.x-k8s.io/delay": "500ms"})
    assert status["phase"] == "Succeeded"
    [base] = status["containerStatuses"]
    assert base["state"]["terminated"]["exitCode"] == 0
    assert base["state"]["terminated"]["reason"] == "Completed"
    assert "reason" not in status


def test_a_node_shutdown_ends_a_running_pod_as_the_kubelet_does(
    control_plane: ControlPlane, node: str
) -> None:
    """The preempt annotation wins over the pod's run time: Failed, with the kubelet's graceful
    node-shutdown reason, message and DisruptionTarget condition (what include/gke_gpu.py reads)."""
    status = run(
        control_plane,
        "preempted",
        {
            "pod-complete.stage.kwok.x-k8s.io/delay": "1s",
            "pod-preempt.stage.kwok.x-k8s.io/delay": "200ms",
        },
    )
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed",
        "Terminated",
        SHUTDOWN,
    )
    [target] = [c for c in status["conditions"] if c["type"] == "DisruptionTarget"]
    assert (target["status"], target["reason"], target["message"]) == (
        "True",
        "TerminationByKubelet",
        SHUTDOWN,
    )
    [base] = status["containerStatuses"]
    assert (base["state"]["terminated"]["exitCode"], base["state"]["terminated"]["reason"]) == (
        143,
        "Error",
    )


def test_a_pod_with_the_xcom_sidecar_is_left_running(
    control_plane: ControlPlane, node: str
) -> None:
    """pod-complete leaves a pod with KubernetesPodOperator's XCom sidecar Running: its end is
    its containers' (tests/airflow/kube_runtime.py runs them), not a run time."""
    pod = manifest("with-sidecar", {"pod-complete.stage.kwok.x-k8s.io/delay": "200ms"})
    pod["spec"]["containers"].append({"name": "airflow-xcom-sidecar", "image": "alpine"})
    control_plane.kubectl("create", "-f", "-", input=json.dumps(pod))
    try:
        deadline = time.time() + 30
        while (
            control_plane.get("pod", "with-sidecar", "-n", "default")["status"].get("phase")
            != "Running"
        ):
            assert time.time() < deadline
            time.sleep(0.2)
        time.sleep(2)  # ten times the run time that ends the pod without the sidecar
        status = control_plane.get("pod", "with-sidecar", "-n", "default")["status"]
        assert status["phase"] == "Running"
        assert {c["name"]: list(c["state"]) for c in status["containerStatuses"]} == {
            "base": ["running"],
            "airflow-xcom-sidecar": ["running"],
        }
    finally:
        control_plane.kubectl(
            "delete", "pod", "with-sidecar", "-n", "default", "--grace-period=0", "--force"
        )
