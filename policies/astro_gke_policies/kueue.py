"""Kueue policies (stack-level: they relate pods, queues, flavors and node pools).

- A GPU pod in a namespace Kueue queues for (one with a LocalQueue) must name a LocalQueue of that
  namespace with the `kueue.x-k8s.io/queue-name` label. Without it Kueue ignores the pod
  (`manageJobsWithoutQueueName: false`): it takes GPUs outside every ClusterQueue's quota, and
  the cohort's accounting no longer matches the nodes.
- A ClusterQueue must not promise GPUs its flavors' node pools cannot hold: on a flavor, its
  nominal quota plus its borrowing limit, and the cohort's nominal quotas together, must fit the
  pool's capacity (max nodes per zone x zones x devices per node). Otherwise Kueue admits pods
  that then wait for nodes that can never exist.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs, StackValidationPolicy

from astro_gke_policies.define import MANDATORY, Meta, stack_policy
from astro_gke_policies.gke import NODE_POOL
from astro_gke_policies.props import get, items, number, text

KUEUE_GROUP = "kubernetes:kueue.x-k8s.io/"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GPU = "nvidia.com/gpu"
POOL_LABEL = "gpu-pool"  # the stack's node label naming a GPU pool (components/gke/gpu_pool.py)
# Where each workload kind keeps its pod template's metadata and spec.
POD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
}


def _kind(resource: PolicyResource, kind: str) -> bool:
    return resource.resource_type.startswith(KUEUE_GROUP) and resource.resource_type.endswith(
        f":{kind}"
    )


def _requests_gpu(spec: Any) -> bool:
    for container in [*items(get(spec, "containers")), *items(get(spec, "initContainers"))]:
        for part in ("limits", "requests"):
            amount = text(get(container, "resources", part) or {}, GPU)
            if amount and amount != "0":
                return True
    return False


def _unqueued_gpu_pods(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    queues: dict[str, set[str]] = {}
    for r in args.resources:
        if _kind(r, "LocalQueue"):
            queues.setdefault(text(r.props, "metadata", "namespace"), set()).add(
                text(r.props, "metadata", "name")
            )
    if not queues:
        return
    for r in args.resources:
        path = POD_TEMPLATES.get(r.resource_type)
        if path is None:
            continue
        namespace = text(r.props, "metadata", "namespace")
        if namespace not in queues:
            continue
        template = get(r.props, *path) if path else r.props
        if not _requests_gpu(get(template, "spec")):
            continue
        label = text(get(template, "metadata", "labels") or {}, QUEUE_LABEL)
        known = ", ".join(sorted(queues[namespace]))
        if not label:
            yield (
                f"{r.name} requests {GPU} in namespace {namespace}, which Kueue queues, without the "
                f"{QUEUE_LABEL} label: Kueue ignores it and its GPUs escape every ClusterQueue's "
                f"quota. Label its pods {QUEUE_LABEL}=<one of: {known}>.",
                r.urn,
            )
        elif label not in queues[namespace]:
            yield (
                f"{r.name} names LocalQueue {label!r}, which namespace {namespace} lacks "
                f"(it has: {known}): Kueue keeps such a pod gated forever.",
                r.urn,
            )


def _pool_capacity(pool: PolicyResource) -> int | None:
    """`nvidia.com/gpu` the pool can hold at most; None when not knowable from its inputs."""
    accelerators = items(get(pool.props, "nodeConfig", "guestAccelerators"))
    if not accelerators or get(accelerators[0], "gpuPartitionSize"):
        return None  # no GPU, or MIG (partitions per GPU: not in the pack's tables)
    per_node = int(number(accelerators[0], "count") or 0)
    clients = number(accelerators[0], "gpuSharingConfig", "maxSharedClientsPerGpu")
    per_node *= int(clients or 1)
    total = number(pool.props, "autoscaling", "totalMaxNodeCount")
    if total:
        return int(total) * per_node
    per_zone = number(pool.props, "autoscaling", "maxNodeCount")
    zones = len(items(get(pool.props, "nodeLocations")))
    if per_zone is None or not zones:
        return None
    return int(per_zone) * zones * per_node


def _quantity(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _gpu_quotas(cq: PolicyResource) -> Iterator[tuple[str, int, int | None]]:
    """(flavor, nominal, borrowing limit or None) for every flavor that quotas GPUs."""
    for group_ in items(get(cq.props, "spec", "resourceGroups")):
        for flavor in items(get(group_, "flavors")):
            for res in items(get(flavor, "resources")):
                if text(res, "name") != GPU:
                    continue
                nominal = _quantity(get(res, "nominalQuota", default="0"))
                limit = get(res, "borrowingLimit")
                yield text(flavor, "name"), nominal or 0, _quantity(limit) if limit else None


def _cluster_queue_fits(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    queues = [r for r in args.resources if _kind(r, "ClusterQueue")]
    if not queues:
        return
    pools = {
        text(get(p.props, "nodeConfig", "labels") or {}, POOL_LABEL): p
        for p in args.resources
        if p.resource_type == NODE_POOL
    }
    pool_of: dict[str, PolicyResource] = {}
    for rf in (r for r in args.resources if _kind(r, "ResourceFlavor")):
        labels: Mapping[str, Any] = get(rf.props, "spec", "nodeLabels") or {}
        pool = pools.get(text(labels, POOL_LABEL))
        if pool is not None:
            pool_of[text(rf.props, "metadata", "name")] = pool
    cohort_nominal: dict[tuple[str, str], int] = {}
    for cq in queues:
        cohort = text(cq.props, "spec", "cohortName")
        for flavor, nominal, _ in _gpu_quotas(cq):
            key = (cohort or text(cq.props, "metadata", "name"), flavor)
            cohort_nominal[key] = cohort_nominal.get(key, 0) + nominal
    for cq in queues:
        name = text(cq.props, "metadata", "name")
        cohort = text(cq.props, "spec", "cohortName") or name
        for flavor, nominal, limit in _gpu_quotas(cq):
            pool = pool_of.get(flavor)
            capacity = _pool_capacity(pool) if pool is not None else None
            if pool is None or capacity is None:
                continue
            total = cohort_nominal[(cohort, flavor)]
            reach = nominal + (limit if limit is not None else total - nominal)
            if reach > capacity:
                yield (
                    f"ClusterQueue {name} may hold {reach} {GPU} on flavor {flavor} (nominal "
                    f"{nominal} + borrowing {reach - nominal}), but node pool {pool.name} holds "
                    f"at most {capacity}: lower its quota or borrowingLimit, or raise the pool's "
                    "max nodes.",
                    cq.urn,
                )
            elif total > capacity:
                yield (
                    f"the cohort of ClusterQueue {name} has {total} nominal {GPU} on flavor "
                    f"{flavor}, but node pool {pool.name} holds at most {capacity}: Kueue would "
                    "admit more GPUs than there can be nodes for.",
                    cq.urn,
                )


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy(
            Meta(
                "kueue-gpu-pods-queued",
                "A GPU pod in a namespace Kueue queues for names one of its LocalQueues.",
                MANDATORY,
                remediation=(
                    f"Label the pod template {QUEUE_LABEL}=<LocalQueue> (the `labels` of the "
                    "stack's gpu_scheduling hints)."
                ),
            ),
            _unqueued_gpu_pods,
        ),
        stack_policy(
            Meta(
                "kueue-quota-fits-pools",
                "A ClusterQueue's GPU quota fits what its flavors' node pools can hold.",
                MANDATORY,
                remediation="Lower the deployment's gpu_quota or borrowing_limit, or raise max_nodes.",
            ),
            _cluster_queue_fits,
        ),
    ]
