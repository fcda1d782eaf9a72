"""Violation cases for policies/astro_gke_policies/nodes.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from tests.policy_pack.mutations import (
    GPU_POOL_DEV,
    POOL,
    Case,
    edit,
    set_path,
)

CASES: list[Case] = [
    (
        "node-gke-metadata-server",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            set_path("nodeConfig", "workloadMetadataConfig", "mode", value="GCE_METADATA"),
        ),
        "GKE_METADATA",
        {},
    ),
    (
        "node-secure-boot-integrity",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            set_path("nodeConfig", "shieldedInstanceConfig", "enableSecureBoot", value=False),
        ),
        "enableSecureBoot",
        {},
    ),
    (
        "node-auto-repair-upgrade",
        "dev",
        "mandatory",
        edit(POOL, GPU_POOL_DEV, set_path("management", "autoUpgrade", value=False)),
        "autoUpgrade",
        {},
    ),
    (
        "node-dedicated-service-account",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            set_path(
                "nodeConfig",
                "serviceAccount",
                value="123456789012-compute@developer.gserviceaccount.com",
            ),
        ),
        "default compute service account",
        {},
    ),
    (
        "gpu-pool-taint",
        "dev",
        "mandatory",
        edit(POOL, GPU_POOL_DEV, set_path("nodeConfig", "taints", value=[])),
        "nvidia.com/gpu=present:NoSchedule",
        {},
    ),
    (
        "gpu-accelerator-allowed",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            lambda w: w["nodeConfig"]["guestAccelerators"][0].update(type="nvidia-tesla-k80"),
        ),
        "nvidia-tesla-k80 is not allowed",
        {},
    ),
    (
        "gpu-max-nodes",
        "dev",
        "mandatory",
        edit(POOL, GPU_POOL_DEV, set_path("autoscaling", "maxNodeCount", value=64)),
        "64 exceeds the cap of 16",
        {},
    ),
    (
        "gpu-scale-to-zero-non-prod",
        "dev",
        "advisory",
        edit(POOL, GPU_POOL_DEV, set_path("autoscaling", "minNodeCount", value=1)),
        "scale to zero",
        {},
    ),
]
