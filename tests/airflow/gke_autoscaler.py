"""GKE's cluster autoscaler, as its stand-in `kube_gke.GkeNodes` needs it: which of the stack's
node pools a new node of which would take a pending pod (from the node pools and ComputeClasses
the stack registered), and the autoscaler's wording when none would. The autoscaler is Google's
and cannot run here; the scheduling itself is the real kube-scheduler's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    """Kubernetes' toleration matching (k8s.io/api core/v1 toleration.go ToleratesTaint)."""
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == taint["key"]:
                return True
        elif t.get("key") == taint["key"] and t.get("value", "") == taint["value"]:
            return True
    return False


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector's matchLabels (matchExpressions are not used by the stack)."""
    if selector.get("matchExpressions"):
        raise NotImplementedError("matchExpressions: not emulated")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _tally(reasons: Iterable[tuple[str, int]]) -> str:
    """`<count> <reason>` per reason, sorted, joined as the autoscaler joins them."""
    counts: dict[str, int] = {}
    for reason, count in reasons:
        counts[reason] = counts.get(reason, 0) + count
    return ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))


@dataclass
class Autoscaler:
    """Where a new node would take a pod: the node pools the stack registered (`offline.export` node_pools); a
    pod that selects a ComputeClass goes to the first pool of the class's priorities that fits."""

    pools: list[dict[str, Any]]
    classes: dict[str, list[str]] = field(default_factory=dict)

    def fits(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """The pools a new node of which would take the pod, class priority first."""
        fitting = [pool for pool in self.pools if self.refusal(pool, spec) is None]
        selector = spec.get("nodeSelector") or {}
        order = self.classes.get(selector.get("cloud.google.com/compute-class", ""))
        if order:
            fitting.sort(key=lambda pool: order.index(pool["name"]))
        return fitting

    @staticmethod
    def refusal(pool: dict[str, Any], spec: dict[str, Any]) -> str | None:
        """Why a node of `pool` cannot take the pod (the scheduler's plugin wording), or None."""
        if not matches({"matchLabels": spec.get("nodeSelector") or {}}, pool["labels"]):
            return "node(s) didn't match Pod's node affinity/selector"
        for taint in pool["taints"]:
            if taint["effect"] in ("NoSchedule", "NoExecute") and not tolerates(
                spec.get("tolerations") or [], taint
            ):
                return f"node(s) had untolerated taint {{{taint['key']}: {taint['value']}}}"
        gpus = sum(
            int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
            for c in spec.get("containers", [])
        )
        if pool["max_nodes"] == 0 or gpus > pool["gpus"]:
            return "Insufficient nvidia.com/gpu"
        return None

    def no_scale_up_message(self, spec: dict[str, Any]) -> str:
        """The cluster autoscaler's NotTriggerScaleUp wording (processors/status/
        eventing_scale_up_processor.go, ReasonsMessage): per node group, why a new node of it
        would not fit the pod either."""
        refusals = (self.refusal(pool, spec) for pool in self.pools)
        detail = _tally((reason, 1) for reason in refusals if reason)
        return f"pod didn't trigger scale-up: {detail}"
