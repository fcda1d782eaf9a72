"""GKE's part of a GPU task's life, on the session's real control plane: the cluster autoscaler
that adds a node for a pending pod, and Compute Engine taking a Spot VM back. Both are Google's
and cannot run here (docs/contract-suite.md "What stays fake").

`GkeNodes` starts a stack's GPU pools at zero nodes, as after idle. It watches the run's
namespace. For a pod the real kube-scheduler marked Unschedulable, it posts what the cluster
autoscaler posts. If a new node of one of the stack's pools would take the pod, that is
`TriggeredScaleUp`, and after the cold start a kwok node of that pool follows. Otherwise it is
`NotTriggerScaleUp`, with the reason per pool. kwok then plays the kubelet: the image pull is the
pod's `pod-run` delay, and a Spot preemption is the `pod-preempt` Stage (tests/kube/stages).
Once the preempted pod has failed, the node goes away, as the VM does. The pool placement and the
autoscaler's wording are `gke_autoscaler.Autoscaler`'s, from the stack's node pools.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from gke_autoscaler import Autoscaler

PULL = "pod-run.stage.kwok.x-k8s.io/delay"  # tests/kube/stages/pod-run.yaml
COMPLETE = "pod-complete.stage.kwok.x-k8s.io/delay"  # tests/kube/stages/pod-complete.yaml
PREEMPT = "pod-preempt.stage.kwok.x-k8s.io/delay"  # tests/kube/stages/pod-preempt.yaml
NODEPOOL = "cloud.google.com/gke-nodepool"


def unschedulable(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "PodScheduled"
        and c["status"] == "False"
        and c.get("reason") == "Unschedulable"
        for c in pod.get("status", {}).get("conditions", [])
    )


def stage_delay(seconds: float) -> str:
    """A kwok Stage's delay annotation value (a Go duration)."""
    return f"{round(seconds * 1000)}ms"


class GkeNodes(threading.Thread):
    """One run's autoscaler and Spot VMs. `kube` is kube_real.RunKube, `pods` its Pods watch of
    the run's namespace. The first `preempt_first` pods it scales up for are preempted after
    `run_seconds` of running."""

    def __init__(
        self,
        kube: Any,
        data: dict[str, Any],
        pods: Any,
        *,
        cold_start: float = 0.0,
        image_pull: float = 0.0,
        preempt_first: int = 0,
        run_seconds: float = 0.0,
    ) -> None:
        super().__init__(daemon=True)
        self.kube, self.pods = kube, pods
        self.data = data
        self.autoscaler = Autoscaler(data["node_pools"], data["compute_classes"])
        self.gpu_pools = {p["name"]: p for p in data["node_pools"] if p["gpus"]}
        self.cold_start, self.image_pull = cold_start, image_pull
        self.preempt_first, self.run_seconds = preempt_first, run_seconds
        self.scale_ups: list[dict[str, Any]] = []  # what it decided, per pod
        self.no_scale_ups: list[dict[str, Any]] = []
        self.preempted: list[dict[str, str]] = []  # pod, node
        self.created: dict[str, dict[str, str]] = {}  # node name -> labels
        self._due: list[tuple[float, dict[str, Any], int]] = []  # (at, pool, index)
        self._seen: set[str] = set()
        self._halt = threading.Event()
        self._error: BaseException | None = None

    # --- the pools -----------------------------------------------------------------------

    def _pool_nodes(self, pool: dict[str, Any]) -> list[str]:
        out = self.kube.kubectl("get", "nodes", "-l", f"{NODEPOOL}={pool['name']}", "-o", "name")
        return out.split()

    def scale_to_zero(self) -> None:
        """The stack's GPU pools after idle: no node (the autoscaler removed them)."""
        names = [n for pool in self.gpu_pools.values() for n in self._pool_nodes(pool)]
        if names:
            self.kube.kubectl("delete", *names, "--wait=true", "--timeout=60s")

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self._halt.wait(0.1):
                self._step()
        except BaseException as error:  # reported by stop()
            self._error = error

    def _step(self) -> None:
        now = time.monotonic()
        for at, pool, index in [d for d in self._due if d[0] <= now]:
            self._due.remove((at, pool, index))
            self.created.update(self.kube.pool_node(self.data, pool, index))
        for name, pod in list(self.pods.last.items()):
            if name in self.pods.deleted:
                continue
            if name not in self._seen and unschedulable(pod):
                self._seen.add(name)
                self._decide(pod)
            self._after_preemption(pod)

    def _decide(self, pod: dict[str, Any]) -> None:
        spec, name = pod["spec"], pod["metadata"]["name"]
        fitting = [p for p in self.autoscaler.fits(spec) if p["name"] in self.gpu_pools]
        if not fitting:
            message = self.autoscaler.no_scale_up_message(spec)
            self._event(pod, "NotTriggerScaleUp", message)
            self.no_scale_ups.append({"pod": name, "message": message})
            return
        pool = fitting[0]
        size = len(self._pool_nodes(pool)) + sum(1 for d in self._due if d[1] is pool)
        group = f"{{{pool['name']} {size}->{size + 1} (max: {pool['max_nodes']})}}"
        annotations = {}
        if self.image_pull:  # a fresh node pulls the image
            annotations[PULL] = stage_delay(self.image_pull)
        if len(self.scale_ups) < self.preempt_first:
            annotations[PREEMPT] = stage_delay(self.run_seconds)
        if annotations:
            patch = json.dumps({"metadata": {"annotations": annotations}})
            self.kube.kubectl("patch", "pod", name, "-n", pod["metadata"]["namespace"], "-p", patch)
        self._event(pod, "TriggeredScaleUp", f"pod triggered scale-up: [{group}]")
        index = len(
            [n for n in self.created if n.startswith(self.kube.node_prefix(self.data, pool))]
        )
        self._due.append((time.monotonic() + self.cold_start, pool, index))
        self.scale_ups.append({"pod": name, "pool": pool, "preempt": PREEMPT in annotations})

    def _after_preemption(self, pod: dict[str, Any]) -> None:
        """The Spot VM is gone once the kubelet has ended its pods."""
        status, name = pod.get("status", {}), pod["metadata"]["name"]
        node = pod["spec"].get("nodeName")
        if (
            status.get("phase") == "Failed"
            and status.get("reason") == "Terminated"
            and node
            and all(p["pod"] != name for p in self.preempted)
        ):
            self.kube.kubectl("delete", "node", node, "--wait=false", "--ignore-not-found")
            self.preempted.append({"pod": name, "node": node})

    def _event(self, pod: dict[str, Any], reason: str, message: str) -> None:
        """An Event on the pod, as cluster-autoscaler records one (its EventRecorder)."""
        meta = pod["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"],
            },
            "reason": reason,
            "message": message,
            "type": "Normal",
            "source": {"component": "cluster-autoscaler"},
            "reportingComponent": "cluster-autoscaler",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.kube.kubectl("create", "-f", "-", input=json.dumps(event))

    def stop(self) -> dict[str, Any]:
        """Stop; the nodes it added go (the next run starts from its own nodes); its record."""
        self._halt.set()
        self.join(30)
        for node in self.created:
            self.kube.kubectl("delete", "node", node, "--wait=false", "--ignore-not-found")
        if self._error is not None:
            raise RuntimeError("the GKE stand-in failed") from self._error
        return {
            "scale_ups": self.scale_ups,
            "no_scale_ups": self.no_scale_ups,
            "preempted": self.preempted,
            "nodes": self.created,
        }
