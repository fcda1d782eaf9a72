"""Kueue on the contract suite's control plane: the real controller (tests/kube/kueue_controller.py,
`make kube-bin` builds it from sigs.k8s.io/kueue), started once per session with the Configuration
prod gives Kueue's chart (`offline.export`'s `kueue_manager_config`), and prod's Kueue objects
(ResourceFlavors, ClusterQueues, LocalQueues) applied server-side with the rest of its objects.

`KueueHold` is one run's busy cohort: before the task starts, a placeholder pod per ClusterQueue
takes that queue's whole nominal GPU quota on the task's flavor, so the task's pod must wait in
Kueue, gated. Once the task's pod has been gated `seconds`, the placeholder of the task's own
queue is deleted and Kueue admits the task. A placeholder carries a scheduling gate of its own as
well as Kueue's: Kueue admits it (reserves its quota, lifts its gate), and it never takes a node.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# The repository, last: tests.kube imports as a package, and nothing of it shadows another module.
sys.path.append(str(HERE.parents[1]))
from tests.kube import kueue_controller  # noqa: E402

KUEUE_API = "kueue.x-k8s.io/v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GATE = "kueue.x-k8s.io/admission"  # the gate Kueue's pod webhook adds (pkg/controller/jobs/pod)
HOLD_GATE = "contract.test/hold"  # a placeholder's own gate: never scheduled, never on a node
HOLD_PREFIX = "kueue-hold-"
GPU = "nvidia.com/gpu"
ENV = "CONTRACT_KUEUE"  # set once Kueue serves the session's control plane (kube_real applies)


def _wait(check: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.time() + timeout
    while not (result := check()):
        if time.time() > deadline:
            raise TimeoutError(f"no {what} in {timeout}s")
        time.sleep(0.3)
    return result


def start_kueue(cp: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Kueue's CRDs, webhooks and controller on `cp`, then the stack's objects (its namespaces
    first) with its Kueue objects; returns once every ClusterQueue is Active."""
    config = data["kueue_manager_config"]
    if config is None:
        raise RuntimeError(f"the {data['stack']} stack runs no Kueue")
    if not kueue_controller.has_binary():
        raise RuntimeError(f"kueue missing in {kueue_controller.BIN}: run make kube-bin")
    kueue_controller.start(cp, config)
    os.environ[ENV] = "1"
    from kube_real import RunKube

    RunKube("kueue-setup").apply_stack(data)
    queues = [o["metadata"]["name"] for o in data["manifests"] if o["kind"] == "ClusterQueue"]

    def active() -> bool:
        items = cp.get("clusterqueues.kueue.x-k8s.io")["items"]
        return sorted(q["metadata"]["name"] for q in items) == sorted(queues) and all(
            any(
                c["type"] == "Active" and c["status"] == "True"
                for c in q.get("status", {}).get("conditions", [])
            )
            for q in items
        )

    _wait(active, "active ClusterQueues")
    return dict(config)


def flavor_of(data: dict[str, Any], hint: dict[str, Any]) -> str:
    """The one ResourceFlavor whose node labels the hint's node selector agrees with (Kueue
    assigns a pod only a flavor whose labels do not contradict its selector)."""
    selector = hint["node_selector"]
    names = [
        o["metadata"]["name"]
        for o in data["manifests"]
        if o["kind"] == "ResourceFlavor"
        and all(o["spec"]["nodeLabels"].get(k, v) == v for k, v in selector.items())
    ]
    if len(names) != 1:
        raise AssertionError(f"hint selector {selector} fits flavors {names}, not one")
    return names[0]


def placeholders(data: dict[str, Any], hint: dict[str, Any]) -> list[dict[str, Any]]:
    """A pod per LocalQueue, asking for its ClusterQueue's nominal GPUs on the hint's flavor."""
    flavor = flavor_of(data, hint)
    nominal = {
        o["metadata"]["name"]: int(r["nominalQuota"])
        for o in data["manifests"]
        if o["kind"] == "ClusterQueue"
        for group in o["spec"]["resourceGroups"]
        for f in group["flavors"]
        if f["name"] == flavor
        for r in f["resources"]
        if r["name"] == GPU
    }
    pods = []
    for queue in (o for o in data["manifests"] if o["kind"] == "LocalQueue"):
        cluster_queue = queue["spec"]["clusterQueue"]
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{HOLD_PREFIX}{cluster_queue}",
                    "namespace": queue["metadata"]["namespace"],
                    "labels": {QUEUE_LABEL: queue["metadata"]["name"]},
                },
                "spec": {
                    "schedulingGates": [{"name": HOLD_GATE}],
                    "nodeSelector": hint["node_selector"],
                    "tolerations": hint["tolerations"],
                    "containers": [
                        {
                            "name": "hold",
                            "image": "busybox",
                            "resources": {"limits": {GPU: str(nominal[cluster_queue])}},
                        }
                    ],
                },
            }
        )
    return pods


class KueueHold(threading.Thread):
    """Fill the cohort (`fill`), then free the task's queue once its pod has waited `seconds`
    gated (`start`); `stop` ends it early, `result` says what happened and when.

    With `borrow`, only the task's own ClusterQueue is filled, and nothing is freed: the other
    queues' nominal GPUs are idle, and Kueue admits the task on GPUs it borrows from them. The
    ClusterQueue's usage as Kueue admitted the task is `result()["usage"]`."""

    def __init__(
        self, kube: Any, pods: Any, data: dict[str, Any], namespace: str, hint: dict[str, Any],
        seconds: float, borrow: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.kube, self.pods, self.namespace, self.seconds = kube, pods, namespace, seconds
        self.borrow = borrow
        self.flavor = flavor_of(data, hint)
        self.held = [
            p
            for p in placeholders(data, hint)
            if not borrow or p["metadata"]["namespace"] == namespace
        ]
        self.local_queues = {
            o["metadata"]["namespace"]: o["metadata"]["name"]
            for o in data["manifests"]
            if o["kind"] == "LocalQueue"
        }
        self.cluster_queue = next(
            o["spec"]["clusterQueue"]
            for o in data["manifests"]
            if o["kind"] == "LocalQueue" and o["metadata"]["namespace"] == namespace
        )
        self.usage: dict[str, Any] | None = None
        self.halt = threading.Event()
        self.gated_at: float | None = None
        self.released_at: float | None = None
        self.workload: dict[str, Any] | None = None  # the task's Workload while it waited
        self.admitted: list[dict[str, Any]] = []

    def fill(self) -> None:
        self.kube.kubectl("create", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": self.held}
        ))  # fmt: skip

        def reserved() -> list[dict[str, Any]] | None:
            pods = [
                json.loads(
                    self.kube.kubectl(
                        "get", "pod", p["metadata"]["name"], "-n", p["metadata"]["namespace"],
                        "-o", "json",
                    )
                )
                for p in self.held
            ]  # fmt: skip
            done = all(
                [g["name"] for g in p["spec"].get("schedulingGates", [])] == [HOLD_GATE]
                for p in pods
            )
            return pods if done else None

        self.admitted = [
            {
                "namespace": p["metadata"]["namespace"],
                "name": p["metadata"]["name"],
                "gpus": p["spec"]["containers"][0]["resources"]["limits"][GPU],
                "node_selector": p["spec"].get("nodeSelector", {}),
            }
            for p in _wait(reserved, "placeholders admitted by Kueue")
        ]

    def _task_pod(self) -> str | None:
        for name, pod in list(self.pods.last.items()):
            gates = [g["name"] for g in pod["spec"].get("schedulingGates", [])]
            if not name.startswith(HOLD_PREFIX) and GATE in gates:
                return name
        return None

    def run(self) -> None:
        while (name := self._task_pod()) is None:
            if self.halt.wait(0.05):
                return
        if self.borrow:
            self._admitted_usage(name)
            return
        self.gated_at = time.time()
        # The queue frees a GPU only for a pod still waiting: one KPO gave up on stays deleted.
        while time.time() < self.gated_at + self.seconds:
            if self.halt.wait(0.05) or name in self.pods.deleted:
                return
        workloads = json.loads(
            self.kube.kubectl("get", "workloads.kueue.x-k8s.io", "-n", self.namespace, "-o", "json")
        )["items"]
        self.workload = next(
            (
                {"name": w["metadata"]["name"], "conditions": w.get("status", {}).get("conditions")}
                for w in workloads
                if any(o["name"] == name for o in w["metadata"].get("ownerReferences", []))
            ),
            None,
        )
        mine = next(p for p in self.held if p["metadata"]["namespace"] == self.namespace)
        self.kube.kubectl(
            "delete", "pod", mine["metadata"]["name"], "-n", self.namespace,
            "--grace-period=0", "--force", "--wait=true",
        )  # fmt: skip
        self.released_at = time.time()

    def _admitted_usage(self, name: str) -> None:
        """Once Kueue has lifted the task's gate, until the pod is gone: its ClusterQueue's GPU
        reservation on the flavor, borrowing included, each time it changed ({total, borrowed})."""
        self.usage = {"samples": []}
        while not self.halt.wait(0.2):
            pod = self.pods.last.get(name)
            if pod is None or GATE in [g["name"] for g in pod["spec"].get("schedulingGates", [])]:
                continue
            if name in self.pods.deleted:
                return
            queue = json.loads(
                self.kube.kubectl(
                    "get", "clusterqueues.kueue.x-k8s.io", self.cluster_queue, "-o", "json"
                )
            )
            sample = next(
                (
                    {"total": r.get("total"), "borrowed": r.get("borrowed", "0")}
                    for f in queue.get("status", {}).get("flavorsReservation", [])
                    if f["name"] == self.flavor
                    for r in f["resources"]
                    if r["name"] == GPU
                ),
                None,
            )
            samples = self.usage["samples"]
            if sample and (not samples or samples[-1] != sample):
                samples.append(sample)

    def stop(self) -> None:
        self.halt.set()
        self.join(60)

    def result(self) -> dict[str, Any]:
        return {
            "flavor": self.flavor,
            "local_queues": self.local_queues,
            "hold_seconds": self.seconds,
            "placeholders": self.admitted,
            "gated_at": self.gated_at,
            "released_at": self.released_at,
            "workload": self.workload,
            "borrow": self.borrow,
            "cluster_queue": self.cluster_queue,
            "usage": self.usage,
        }
