"""Cross-deployment GPU sharing, proven with the real Kueue controller on a real control plane
(tests/kube/controlplane.py, tests/kube/kueue_controller.py) with kwok GPU nodes.

What is applied is what prod's stack registers under mocks (offline/manifests.py): the deployment
namespaces with their ResourceQuota and LimitRange, and the Kueue objects (ResourceFlavors,
ClusterQueues, LocalQueues); Kueue runs the Configuration the stack gives its chart. The pods
are built as KubernetesPodOperator builds them from the `l4` hint of prod's `gpu_scheduling`
output (its labels, node selector, tolerations, one `nvidia.com/gpu`), and run until deleted; a
real KubernetesPodOperator task on borrowed GPUs is tests/airflow/test_kueue_borrow.py.

Prod, on the `l4` flavor (a pool of 4 nodes per zone x 2 zones x 2 GPUs = 16 GPUs): ml-training
has a nominal quota of 8 and may borrow 4 (its namespace quota is 12), reporting 1 (lends at most
1), batch-remote 2 (lends all). The cohort's nominal total is 11.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from offline import runner
from offline.manifests import manifests
from tests.kube import kueue_controller
from tests.kube.controlplane import ControlPlane

KUEUE = "kueue.x-k8s.io/v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GATE = "kueue.x-k8s.io/admission"
GPU = "nvidia.com/gpu"
ML, REPORTING, BATCH = "airflow-ml-training", "airflow-reporting", "airflow-batch"
L4_CAPACITY = 16  # max_nodes 4 x zones 2 x 2 GPUs per node (Pulumi.prod.yaml)
COHORT_NOMINAL = 11  # 8 + 1 + 2
EFFECTS = {"NO_SCHEDULE": "NoSchedule"}  # the provider spells taint effects its own way


@pytest.fixture(scope="module")
def prod() -> runner.Run:
    return runner.run("prod")


@pytest.fixture(scope="module")
def cluster(prod: runner.Run) -> Iterator[ControlPlane]:
    objects = manifests(prod)
    chart = next(r for r in prod.registrations if r.type == "kubernetes:helm.sh/v4:Chart")
    config = yaml.safe_load(chart.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    cp = ControlPlane().start()
    try:
        namespaces = {ML, REPORTING, BATCH}
        cp.apply(
            [
                o
                for o in objects
                if (o["kind"] == "Namespace" and o["metadata"]["name"] in namespaces)
                or (
                    o["kind"] in ("ResourceQuota", "LimitRange")
                    and o["metadata"]["namespace"] in namespaces
                )
            ]
        )
        kueue_controller.start(cp, config)
        cp.apply([o for o in objects if o["apiVersion"] == KUEUE])
        # The l4 pool at its max (4 per zone x 2 zones), its nodes labelled and tainted as the
        # stack's NodePool declares (its node_labels: gpu-pool, and its ComputeClass's label).
        pool = next(r for r in prod.registrations if r.name == "astro-gpu-prod-l4-pool")
        labels = pool.inputs["nodeConfig"]["labels"]
        assert labels == {"gpu-pool": "l4", "cloud.google.com/compute-class": "l4-any"}
        taints = [
            {"key": t["key"], "value": t["value"], "effect": EFFECTS[t["effect"]]}
            for t in pool.inputs["nodeConfig"]["taints"]
        ]
        for n in range(4 * 2):
            cp.gpu_node(f"l4-{n}", "astro-gpu-prod-l4", "nvidia-l4", gpus=2, labels=labels)
            cp.kubectl(
                "patch", "node", f"l4-{n}", "--type=merge",
                "-p", json.dumps({"spec": {"taints": taints}}),
            )  # fmt: skip
        _wait(lambda: _cluster_queues_active(cp), "ClusterQueues active")
        for ns in sorted(namespaces):
            _wait(functools.partial(_quota_counted, cp, ns), f"quota status in {ns}")
        yield cp
    finally:
        cp.stop()


def _wait(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.time() > deadline:
            raise TimeoutError(f"no {what} in {timeout}s")
        time.sleep(0.3)


def _quota_counted(cp: ControlPlane, namespace: str) -> bool:
    """The resource-quota controller has filled the quota's status (admission needs it)."""
    return bool(cp.get("resourcequota", "kpo-quota", "-n", namespace).get("status", {}).get("hard"))


def _cluster_queues_active(cp: ControlPlane) -> bool:
    queues = cp.get("clusterqueues.kueue.x-k8s.io")["items"]
    return len(queues) == 3 and all(
        any(
            c["type"] == "Active" and c["status"] == "True"
            for c in q.get("status", {}).get("conditions", [])
        )
        for q in queues
    )


def kpo_pod(hint: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    """The pod KubernetesPodOperator builds from `gpu_task(...)`'s arguments (labels, node selector,
    tolerations, GPU limit; its own kubernetes_pod_operator label); it runs until deleted."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**hint["labels"], "kubernetes_pod_operator": "True"},
            "annotations": {"pod-complete.stage.kwok.x-k8s.io/never": "true"},
        },
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": hint["node_selector"],
            "tolerations": hint["tolerations"],
            "containers": [
                {"name": "base", "image": "trainer", "resources": {"limits": {GPU: "1"}}}
            ],
        },
    }


def pods(cp: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return cp.get("pods", "-n", namespace)["items"]


def running(cp: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return [
        p
        for p in pods(cp, namespace)
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


def gated(cp: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return [
        p
        for p in pods(cp, namespace)
        if any(g["name"] == GATE for g in p["spec"].get("schedulingGates", []))
    ]


class AdmittedSampler:
    """Samples, while the scenario runs, the GPUs Kueue has admitted on each flavor (its
    Workloads' quota reservations that are not finished or evicted)."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.peaks: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def admitted(self) -> dict[str, int]:
        per_flavor: dict[str, int] = {}
        for wl in self.cp.get("workloads.kueue.x-k8s.io", "-A")["items"]:
            status = wl.get("status", {})
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            if conditions.get("QuotaReserved") != "True" or conditions.get("Finished") == "True":
                continue
            for assignment in status.get("admission", {}).get("podSetAssignments", []):
                flavor = assignment.get("flavors", {}).get(GPU)
                amount = int(assignment.get("resourceUsage", {}).get(GPU, "0"))
                if flavor:
                    per_flavor[flavor] = per_flavor.get(flavor, 0) + amount
        return per_flavor

    def _run(self) -> None:
        while not self._stop.is_set():
            for flavor, amount in self.admitted().items():
                self.peaks[flavor] = max(self.peaks.get(flavor, 0), amount)
            self.samples += 1
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def test_borrow_then_reclaim_within_the_pools_capacity(
    cluster: ControlPlane, prod: runner.Run
) -> None:
    cp = cluster
    hint = prod.outputs["gpu_scheduling"]["l4"]
    assert hint["labels"] == {QUEUE_LABEL: "gpu"}
    sampler = AdmittedSampler(cp)
    try:
        # ml-training fans out 12 one-GPU tasks (its Airflow pool's 12 slots): 8 run on its own
        # quota, 3 on what the others lend (reporting at most 1, batch-remote its 2), 1 waits.
        for i in range(12):
            cp.apply([kpo_pod(hint, ML, f"train-{i}")])
        _wait(lambda: len(running(cp, ML)) == 11 and len(gated(cp, ML)) == 1, "11 running, 1 gated")
        time.sleep(2)  # nothing more is admitted: the cohort has lent all it may
        assert len(running(cp, ML)) == 11
        assert len(gated(cp, ML)) == 1
        ml_queue = cp.get("clusterqueue.kueue.x-k8s.io", "ml-training")
        usage = {
            r["name"]: r
            for f in ml_queue["status"]["flavorsUsage"]
            if f["name"] == "l4"
            for r in f["resources"]
        }
        assert usage[GPU]["total"] == "11"
        assert usage[GPU]["borrowed"] == "3"

        # A 13th task is refused by the namespace quota (12 = gpu_quota + borrowing_limit), with
        # the API server's own message: why the Airflow pool has exactly 12 slots.
        refused = cp.kubectl(
            "create", "-f", "-", input=json.dumps(kpo_pod(hint, ML, "train-12")), check=False
        )
        assert refused.returncode != 0
        assert "exceeded quota: kpo-quota, requested: requests.nvidia.com/gpu=1" in refused.stderr

        # batch-remote's 2 tasks arrive: Kueue reclaims the 2 GPUs it lent, preempting 2 of
        # ml-training's borrowing tasks (reclaimWithinCohort: Any), and batch-remote's run.
        for i in range(2):
            cp.apply([kpo_pod(hint, BATCH, f"batch-{i}")])
        _wait(lambda: len(running(cp, BATCH)) == 2, "batch-remote's 2 tasks running")
        _wait(lambda: len(running(cp, ML)) == 9, "ml-training down to 9")
        # reporting's task takes back the 1 GPU it lent.
        cp.apply([kpo_pod(hint, REPORTING, "report-0")])
        _wait(lambda: len(running(cp, REPORTING)) == 1, "reporting's task running")
        _wait(lambda: len(running(cp, ML)) == 8, "ml-training at its nominal 8")
        time.sleep(2)
        assert len(running(cp, ML)) == 8
        assert len(running(cp, BATCH)) == 2
        assert len(running(cp, REPORTING)) == 1
        # Kueue stopped (deleted) exactly 3 of ml-training's tasks, the borrowing ones, saying
        # why; its waiting task is still queued, gated.
        stopped = [
            e
            for e in cp.get("events", "-n", ML)["items"]
            if e["involvedObject"]["kind"] == "Pod" and e["reason"] == "Stopped"
        ]
        assert len(stopped) == 3
        assert all("due to reclamation within the cohort" in e["message"] for e in stopped)
        assert len(pods(cp, ML)) == 9
        assert len(gated(cp, ML)) == 1
    finally:
        sampler.stop()
    # At no sample did Kueue admit more GPUs than the cohort's nominal total, nor than the pool
    # holds; and it did reach the total (the sampler saw the borrowing).
    assert sampler.samples > 10
    assert sampler.peaks == {"l4": COHORT_NOMINAL}
    assert COHORT_NOMINAL <= L4_CAPACITY


def test_the_pods_carry_the_queue_and_kueue_placed_them_on_the_flavor(
    cluster: ControlPlane,
) -> None:
    for namespace in (ML, REPORTING, BATCH):
        for pod in running(cluster, namespace):
            assert pod["metadata"]["labels"][QUEUE_LABEL] == "gpu"
            # The flavor's node labels, injected at admission; the gate lifted.
            assert pod["spec"]["nodeSelector"]["gpu-pool"] == "l4"
            assert not pod["spec"].get("schedulingGates")
            assert pod["spec"]["nodeName"].startswith("l4-")
