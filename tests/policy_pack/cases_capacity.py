"""Violation cases for policies/astro_gke_policies/capacity.py: each mutates a resource the stack
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
        "gpu-compute-class-taint",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            set_path("nodeConfig", "labels", "cloud.google.com/compute-class", value="l4-any"),
        ),
        "a pool in ComputeClass l4-any must also carry the taint cloud.google.com/compute-class=l4-any:NoSchedule",
        {},
    ),
    (
        "gpu-flex-start-pool",
        "dev",
        "mandatory",
        edit(POOL, GPU_POOL_DEV, set_path("nodeConfig", "flexStart", value=True)),
        "a flex-start pool cannot also be spot.",
        {},
    ),
    (
        "gpu-zone-offers-accelerator",
        "dev",
        "advisory",
        edit(POOL, GPU_POOL_DEV, set_path("nodeLocations", value=["us-central1-f"])),
        "us-central1-f do(es) not offer nvidia-l4 as far as the catalog knows",
        {},
    ),
]
