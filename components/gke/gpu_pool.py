"""GPU node pool: one per `gpu_pools` entry.

GKE installs the NVIDIA driver (version from config). Nodes carry an explicit
`nvidia.com/gpu=present:NoSchedule` taint (GKE adds it on its own only when a non-GPU pool exists;
declaring it keeps the contract visible), so only pods that request `nvidia.com/gpu` land there:
the ExtendedResourceToleration admission plugin gives them the toleration.
"""

from __future__ import annotations

from typing import cast

import pulumi
import pulumi_gcp as gcp

from components.config import GpuPoolConfig, StackConfig
from components.gke import catalog, cold_start, node_config

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NO_SCHEDULE"  # provider spelling of NoSchedule
GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
POOL_LABEL = "gpu-pool"
# A manually created pool joins a custom ComputeClass through this node label AND a NoSchedule
# taint of the same key and value (GKE docs "About custom ComputeClasses").
COMPUTE_CLASS_KEY = "cloud.google.com/compute-class"


GpuNodePoolArgs = node_config.NodePoolArgs[GpuPoolConfig]


def accelerator(cfg: GpuPoolConfig) -> gcp.container.NodePoolNodeConfigGuestAcceleratorArgs:
    return gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
        type=cfg.accelerator_type,
        count=cfg.accelerator_count,
        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
            gpu_driver_version=cfg.driver_version
        ),
        gpu_sharing_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
            gpu_sharing_strategy=cfg.sharing.strategy,
            max_shared_clients_per_gpu=cfg.sharing.max_shared_clients_per_gpu,
        )
        if cfg.sharing
        else None,
        gpu_partition_size=cfg.partition_size,
    )


# Airflow pool slots one pod takes per `nvidia.com/gpu` it requests. The deployment's pool has
# `gpu_quota` slots, and the namespace's ResourceQuota counts `requests.nvidia.com/gpu`: devices as
# GKE's device plugin advertises them, not physical GPUs. On a time-shared or MPS pool each device
# is one shared client of a GPU (a pod may request only 1), on a MIG pool one partition; either
# way one device is one unit of quota, so one slot. Slots per pod = GPUs requested x this.
POOL_SLOTS_PER_GPU = 1


RESERVATION_KEY = "compute.googleapis.com/reservation-name"
IMAGE_CACHE = "CONTAINER_IMAGE_CACHE"


def provisioning(cfg: GpuPoolConfig, queued: bool = False) -> node_config.Provisioning:
    """Flex-start (GKE "About flex-start": node_config.flex_start, with no reservation),
    reservations (GKE "Consuming reserved zonal resources": key
    compute.googleapis.com/reservation-name) and image preloading (GKE "Use secondary boot disks
    to preload data or container images": mode CONTAINER_IMAGE_CACHE, needs image streaming)."""
    affinity = None
    if cfg.flex_start:
        # GKE's flex-start pools take --reservation-affinity=none.
        affinity = gcp.container.NodePoolNodeConfigReservationAffinityArgs(
            consume_reservation_type="NO_RESERVATION"
        )
    elif cfg.reservation is not None:
        specific = cfg.reservation.affinity == "SPECIFIC_RESERVATION"
        affinity = gcp.container.NodePoolNodeConfigReservationAffinityArgs(
            consume_reservation_type=cfg.reservation.affinity,
            key=RESERVATION_KEY if specific else None,
            values=[cfg.reservation.name] if specific and cfg.reservation.name else None,
        )
    disks = (
        [
            gcp.container.NodePoolNodeConfigSecondaryBootDiskArgs(
                disk_image=cfg.preload_disk_image, mode=IMAGE_CACHE
            )
        ]
        if cfg.preload_disk_image
        else None
    )
    return node_config.Provisioning(
        reservation_affinity=affinity,
        secondary_boot_disks=disks,
        flex_start=True if cfg.flex_start else None,
        queued=queued,
    )


def _toleration(key: str, value: str) -> dict[str, str]:
    return {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}


# GKE taints every Arm node kubernetes.io/arch=arm64:NoSchedule ("Prepare an Arm workload for
# deployment"); A4X (GB200) runs NVIDIA Grace Arm CPUs, so its task images must be arm64 or
# multi-arch, and its hints select and tolerate the Arm architecture.
ARCH_KEY = "kubernetes.io/arch"
ARM64 = "arm64"


def is_arm(cfg: GpuPoolConfig) -> bool:
    return catalog.is_arm(cfg.machine_type)


def tolerations(compute_class: str | None, arm: bool = False) -> list[dict[str, str]]:
    out = [_toleration(GPU_TAINT_KEY, GPU_TAINT_VALUE)]
    if compute_class:
        out.append(_toleration(COMPUTE_CLASS_KEY, compute_class))
    if arm:
        out.append(_toleration(ARCH_KEY, ARM64))
    return out


# The label that puts a pod into a Kueue LocalQueue of its namespace (Kueue docs "Run Plain Pods").
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def queue_labels(queue: str | None) -> dict[str, object]:
    """With Kueue on: the pod labels that queue a task (the LocalQueue of the same name exists in
    every deployment namespace, so one hint serves every deployment)."""
    return {"labels": {QUEUE_LABEL: queue}} if queue else {}


def scheduling_hints(
    cfg: GpuPoolConfig,
    compute_class: str | None = None,
    figures: cold_start.Figures = cold_start.SOURCED,
    queue: str | None = None,
) -> dict[str, object]:
    """What a KubernetesPodOperator task needs to land on this pool, and to wait for it: the
    cold-start timeouts and retries of components/gke/cold_start.py, by KPO's parameter names.
    `figures`: the sourced ones; the contract suite passes them scaled down to seconds. `queue`:
    the Kueue LocalQueue its pods name."""
    return {
        **queue_labels(queue),
        **cold_start.budget(cfg, figures).hints(),
        "node_selector": {
            ACCELERATOR_LABEL: cfg.accelerator_type,
            POOL_LABEL: cfg.name,
            **({ARCH_KEY: ARM64} if is_arm(cfg) else {}),
        },
        "tolerations": tolerations(compute_class, is_arm(cfg)),
        "resource_name": GPU_RESOURCE,
        "gpus_per_node": gpus_per_pod(cfg),
        "pool_slots_per_gpu": POOL_SLOTS_PER_GPU,
    }


def gpus_per_pod(cfg: GpuPoolConfig) -> int:
    """How many `nvidia.com/gpu` one pod may request on the pool. Shared GPUs (time-sharing,
    MPS): 1 (GKE refuses more: "at most 1 nvidia.com/gpu can be requested on GPU nodes", "About
    GPU sharing strategies"). MIG: every partition on the node, GPUs x partitions per GPU (each
    partition is one device to GKE's device plugin). Otherwise the node's GPUs."""
    if cfg.sharing is not None:
        return 1
    if cfg.partition_size is not None:
        per_gpu = catalog.MIG_PARTITION_COUNTS[cfg.accelerator_type][cfg.partition_size]
        return cfg.accelerator_count * per_gpu
    return cfg.accelerator_count


def class_hints(
    name: str,
    members: list[GpuPoolConfig],
    figures: cold_start.Figures = cold_start.SOURCED,
    queue: str | None = None,
) -> dict[str, object]:
    """What a task needs to run on a ComputeClass: its selector ONLY (GKE rejects a pod that also
    selects `cloud.google.com/gke-accelerator`), both tolerations, and the waits of the slowest
    member (the autoscaler may have to fall through to it)."""
    budgets = [cold_start.budget(p, figures).hints() for p in members]
    waits = {key: max(b[key] for b in budgets) for key in budgets[0]}
    return {
        **queue_labels(queue),
        **waits,
        "node_selector": {COMPUTE_CLASS_KEY: name},
        "tolerations": tolerations(name, is_arm(members[0])),
        "resource_name": GPU_RESOURCE,
        "gpus_per_node": gpus_per_pod(members[0]),
        "pool_slots_per_gpu": POOL_SLOTS_PER_GPU,
    }


def gpu_scheduling(
    cfg: StackConfig, figures: cold_start.Figures = cold_start.SOURCED
) -> dict[str, dict[str, object]]:
    """The `gpu_scheduling` output: what a task passes to KubernetesPodOperator per GPU pool and
    per GPU class (`figures` as in scheduling_hints)."""
    class_of = {member: c.name for c in cfg.gpu_classes for member in c.pools}
    by_name = {pool.name: pool for pool in cfg.gpu_pools}
    queue = cfg.kueue.queue_name if cfg.kueue.enabled else None
    hints: dict[str, dict[str, object]] = {
        **{
            p.name: scheduling_hints(p, class_of.get(p.name), figures, queue) for p in cfg.gpu_pools
        },
        **{
            c.name: class_hints(c.name, [by_name[member] for member in c.pools], figures, queue)
            for c in cfg.gpu_classes
        },
    }
    if queue:
        # KPO's schedule timeout runs while Kueue holds the pod gated (it waits for
        # PodScheduled: cncf-kubernetes utils/pod_manager.py), so the queue wait is added to it.
        # At the figures' time scale (the contract suite's scaled budgets scale it too).
        scale = figures.node_boot.seconds / cold_start.SOURCED.node_boot.seconds
        wait = cfg.kueue.queue_wait_minutes * 60 * scale
        for hint in hints.values():
            total = cast(float, hint["schedule_timeout_seconds"]) + wait
            # Whole seconds stay an int, as the budget gives them (the preview prints m:ss).
            hint["schedule_timeout_seconds"] = int(total) if float(total).is_integer() else total
        # A class member's flavor carries the class label, which Kueue adds to the pod's selector
        # at admission; GKE rejects a pod that selects a ComputeClass and the accelerator label
        # together, so the member's hint selects it by `gpu-pool` alone (unique to the pool).
        for member in class_of:
            selector = cast(dict[str, str], hints[member]["node_selector"])
            selector.pop(ACCELERATOR_LABEL, None)
    return hints


class GpuNodePool(pulumi.ComponentResource):
    pool: gcp.container.NodePool

    def __init__(
        self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:gke:GpuNodePool", name, None, opts)
        cfg = args.config
        labels = {**cfg.node_labels, POOL_LABEL: cfg.name}
        taints = [
            gcp.container.NodePoolNodeConfigTaintArgs(
                key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT
            )
        ]
        if args.compute_class:
            labels[COMPUTE_CLASS_KEY] = args.compute_class
            taints.append(
                gcp.container.NodePoolNodeConfigTaintArgs(
                    key=COMPUTE_CLASS_KEY, value=args.compute_class, effect=GPU_TAINT_EFFECT
                )
            )
        self.pool = node_config.node_pool(
            f"{name}-pool",
            parent=self,
            args=args,
            node_labels=labels,
            node_locations=cfg.zones or None,
            taints=taints,
            guest_accelerators=[accelerator(cfg)],
            provisioning=provisioning(cfg, args.queued_provisioning),
        )
        self.register_outputs(
            {"name": self.pool.name, "scheduling": scheduling_hints(cfg, args.compute_class)}
        )
