"""GPU node pool: one per `gpu_pools` entry.

GKE installs the NVIDIA driver (version from config). Nodes carry an explicit
`nvidia.com/gpu=present:NoSchedule` taint (GKE adds it on its own only when a non-GPU pool exists;
declaring it keeps the contract visible), so only pods that request `nvidia.com/gpu` land there:
the ExtendedResourceToleration admission plugin gives them the toleration.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components import cold_start, node_config
from components.config import GpuPoolConfig

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NO_SCHEDULE"  # provider spelling of NoSchedule
GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
POOL_LABEL = "gpu-pool"


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


def scheduling_hints(cfg: GpuPoolConfig) -> dict[str, object]:
    """What a KubernetesPodOperator task needs to land on this pool, and to wait for it: the
    cold-start timeouts and retries of components/cold_start.py, by KPO's parameter names."""
    return {
        **cold_start.budget(cfg).hints(),
        "node_selector": {ACCELERATOR_LABEL: cfg.accelerator_type, POOL_LABEL: cfg.name},
        "tolerations": [
            {
                "key": GPU_TAINT_KEY,
                "operator": "Equal",
                "value": GPU_TAINT_VALUE,
                "effect": "NoSchedule",
            }
        ],
        "resource_name": GPU_RESOURCE,
        "gpus_per_node": cfg.accelerator_count,
    }


class GpuNodePool(pulumi.ComponentResource):
    pool: gcp.container.NodePool

    def __init__(
        self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:gke:GpuNodePool", name, None, opts)
        cfg = args.config
        self.pool = node_config.node_pool(
            f"{name}-pool",
            parent=self,
            args=args,
            node_labels={**cfg.node_labels, POOL_LABEL: cfg.name},
            node_locations=cfg.zones or None,
            taints=[
                gcp.container.NodePoolNodeConfigTaintArgs(
                    key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT
                )
            ],
            guest_accelerators=[accelerator(cfg)],
        )
        self.register_outputs({"name": self.pool.name, "scheduling": scheduling_hints(cfg)})
