"""GPU capacity: ComputeClass fallback over the stack's pools, reservations, image preloading.
Exact inputs of what is registered, exact hints, and one clear error per bad config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components import config
from offline import runner
from tests.conftest import NODE_POOL, raw_platform

COMPUTE_CLASS = "kubernetes:cloud.google.com/v1:ComputeClass"
GPU_TOLERATION = {
    "key": "nvidia.com/gpu",
    "operator": "Equal",
    "value": "present",
    "effect": "NoSchedule",
}
CLASS_TOLERATION = {
    "key": "cloud.google.com/compute-class",
    "operator": "Equal",
    "value": "l4-any",
    "effect": "NoSchedule",
}


@pytest.fixture(scope="module")
def fallback() -> runner.Run:
    """prod: class l4-any over spot L4 in three zones, on-demand L4, flex-start L4."""
    return runner.run("prod")


def test_compute_class_lists_member_pools_in_order(fallback: runner.Run) -> None:
    cc = fallback.one(COMPUTE_CLASS)
    spot = fallback.one(NODE_POOL, "astro-gpu-prod-l4-spot-pool")
    on_demand = fallback.one(NODE_POOL, "astro-gpu-prod-l4-pool")
    flex = fallback.one(NODE_POOL, "astro-gpu-prod-l4-flex-pool")
    assert cc.inputs == {
        "apiVersion": "cloud.google.com/v1",
        "kind": "ComputeClass",
        "metadata": {"name": "l4-any", "labels": {"app.kubernetes.io/managed-by": "pulumi"}},
        "spec": {
            "priorities": [
                {"nodepools": [spot.outputs["name"]]},
                {"nodepools": [on_demand.outputs["name"]]},
                {"nodepools": [flex.outputs["name"]]},
            ],
            "whenUnsatisfiable": "DoNotScaleUp",
            "nodePoolAutoCreation": {"enabled": False},
            "autoscalingPolicy": {"consolidationDelayMinutes": 10.0},
        },
    }
    # It waits for the pools it names, through the Kubernetes provider of the cluster.
    assert {spot.urn, on_demand.urn, flex.urn} <= set(cc.dependencies)
    assert cc.provider.startswith(fallback.one("pulumi:providers:kubernetes").urn)


def test_members_carry_the_class_label_and_taint_others_do_not(fallback: runner.Run) -> None:
    for name in (
        "astro-gpu-prod-l4-spot-pool",
        "astro-gpu-prod-l4-pool",
        "astro-gpu-prod-l4-flex-pool",
    ):
        node = fallback.one(NODE_POOL, name).inputs["nodeConfig"]
        assert node["labels"]["cloud.google.com/compute-class"] == "l4-any"
        assert node["taints"] == [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
            {"key": "cloud.google.com/compute-class", "value": "l4-any", "effect": "NO_SCHEDULE"},
        ]
    a100 = fallback.one(NODE_POOL, "astro-gpu-prod-a100-pool").inputs["nodeConfig"]
    assert "cloud.google.com/compute-class" not in a100["labels"]
    assert len(a100["taints"]) == 1


def test_class_hint_selects_the_class_only_and_waits_for_the_slowest_member(
    fallback: runner.Run,
) -> None:
    hints = fallback.outputs["gpu_scheduling"]
    assert hints["l4-any"] == {
        # prod shares GPUs through Kueue (docs/gpu-sharing.md): the queue label, and its 30
        # minutes of queue_wait on top of the spot member's budget (15 min to schedule), 3 retries
        "labels": {"kueue.x-k8s.io/queue-name": "gpu"},
        "schedule_timeout_seconds": 900 + 30 * 60,
        "startup_timeout_seconds": 900,
        "retries": 3,
        "retry_delay_seconds": 60,
        # GKE rejects a pod that selects gke-accelerator together with a compute class
        "node_selector": {"cloud.google.com/compute-class": "l4-any"},
        "tolerations": [GPU_TOLERATION, CLASS_TOLERATION],
        "resource_name": "nvidia.com/gpu",
        "gpus_per_node": 2,
        "pool_slots_per_gpu": 1,
    }
    # A member's own hint still works: it tolerates the class taint too.
    assert hints["l4-spot"]["tolerations"] == [GPU_TOLERATION, CLASS_TOLERATION]
    assert hints["a100"]["tolerations"] == [GPU_TOLERATION]


def problems(mutate: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    raw = raw_platform("prod")
    mutate(raw)
    with pytest.raises(config.ConfigError) as exc:
        config.load(raw)
    return dict(exc.value.problems)


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (
            lambda c: c["gpu_classes"][0].update(pools=["l4-spot", "nope"]),
            "l4-any: no GPU pool named nope",
        ),
        (
            lambda c: c["gpu_classes"].append({"name": "other", "pools": ["l4"]}),
            "a pool belongs to at most one class: l4",
        ),
        (
            lambda c: c["gpu_classes"][0].update(pools=["l4-spot", "a100"]),
            "l4-any: members must share accelerator type, count, sharing and partition size",
        ),
        (
            lambda c: c["gpu_classes"][0].update(name="a100"),
            "a class may not be named like a GPU pool: a100",
        ),
        (
            lambda c: c["gpu_classes"].append({"name": "l4-any", "pools": ["a100"]}),
            "class names must be unique: l4-any",
        ),
    ],
)
def test_class_rules(mutate: Callable[[dict[str, Any]], None], rule: str) -> None:
    found = problems(mutate)
    assert list(found) == ["gpu_classes"]
    assert rule in found["gpu_classes"]


def test_a_pool_listed_twice_in_one_class() -> None:
    found = problems(lambda c: c["gpu_classes"][0].update(pools=["l4", "l4"]))
    assert found == {"gpu_classes[0].pools": "a pool is listed twice: l4"}


# --- reservations and preloading ------------------------------------------------------------


def pool_inputs(run_with: Callable[..., runner.Run], **changes: Any) -> dict[str, Any]:
    run = run_with(lambda c: c["gpu_pools"][0].update(changes), "prod")
    return dict(run.one(NODE_POOL, "astro-gpu-prod-l4-pool").inputs["nodeConfig"])


def test_specific_reservation(run_with: Callable[..., runner.Run]) -> None:
    node = pool_inputs(
        run_with,
        reservation={
            "affinity": "SPECIFIC_RESERVATION",
            "name": "projects/acme-ml-prod/reservations/l4-r1",
        },
    )
    assert node["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["projects/acme-ml-prod/reservations/l4-r1"],
    }


def test_any_reservation(run_with: Callable[..., runner.Run]) -> None:
    node = pool_inputs(run_with, reservation={"affinity": "ANY_RESERVATION"})
    assert node["reservationAffinity"] == {"consumeReservationType": "ANY_RESERVATION"}


def test_preloaded_images_on_a_secondary_boot_disk(run_with: Callable[..., runner.Run]) -> None:
    node = pool_inputs(run_with, preload_disk_image="projects/acme-ml-prod/global/images/tasks-v3")
    assert node["secondaryBootDisks"] == [
        {
            "diskImage": "projects/acme-ml-prod/global/images/tasks-v3",
            "mode": "CONTAINER_IMAGE_CACHE",
        }
    ]
    assert node["gcfsConfig"] == {"enabled": True}  # image streaming stays on: GKE requires it


def pool_problems(**changes: Any) -> dict[str, str]:
    raw = raw_platform("prod")
    raw["gpu_pools"][0].update(changes)
    with pytest.raises(config.ConfigError) as exc:
        config.load(raw)
    return dict(exc.value.problems)


@pytest.mark.parametrize(
    ("changes", "path", "rule"),
    [
        (
            {"spot": True, "reservation": {"affinity": "ANY_RESERVATION"}},
            "gpu_pools[0].reservation",
            "Spot VMs cannot consume reservations",
        ),
        (
            {"reservation": {"affinity": "SPECIFIC_RESERVATION"}},
            "gpu_pools[0].reservation.name",
            "required with affinity SPECIFIC_RESERVATION",
        ),
        (
            {"reservation": {"affinity": "ANY_RESERVATION", "name": "r1"}},
            "gpu_pools[0].reservation.name",
            "only used with affinity SPECIFIC_RESERVATION",
        ),
        (
            {"preload_disk_image": "global/images/tasks"},
            "gpu_pools[0].preload_disk_image",
            "must be projects/<project>/global/images/<image>",
        ),
    ],
)
def test_provisioning_rules(changes: dict[str, Any], path: str, rule: str) -> None:
    found = pool_problems(**changes)
    assert list(found) == [path]
    assert rule in found[path]


def test_flex_start_pool_exact(fallback: runner.Run) -> None:
    """What GKE requires of a flex-start pool (its documented pool flags): from zero, location
    policy ANY, no reservation, no auto-repair."""
    pool = fallback.one(NODE_POOL, "astro-gpu-prod-l4-flex-pool").inputs
    assert pool["nodeConfig"]["flexStart"] is True
    assert pool["nodeConfig"]["spot"] is False
    assert pool["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert pool["autoscaling"] == {
        "minNodeCount": 0.0,
        "maxNodeCount": 2.0,
        "locationPolicy": "ANY",
    }
    assert pool["management"] == {"autoRepair": False, "autoUpgrade": True}
    on_demand = fallback.one(NODE_POOL, "astro-gpu-prod-l4-pool").inputs
    assert "flexStart" not in on_demand["nodeConfig"]
    assert on_demand["management"] == {"autoRepair": True, "autoUpgrade": True}


@pytest.mark.parametrize(
    ("changes", "gpus"),
    [
        ({}, 1),  # a2-highgpu-1g: one whole A100
        ({"partition_size": "1g.5gb"}, 7),  # MIG: 7 partitions of the one GPU
        ({"sharing": {"strategy": "TIME_SHARING", "max_shared_clients_per_gpu": 4}}, 1),
    ],
)
def test_gpus_per_node_is_what_one_pod_may_request(
    run_with: Callable[..., runner.Run], changes: dict[str, Any], gpus: int
) -> None:
    def mutate(c: dict[str, Any]) -> None:
        a100 = next(p for p in c["gpu_pools"] if p["name"] == "a100")
        a100.pop("sharing", None)
        # 6 per zone: without sharing the pool still holds prod's Kueue cohort (11 GPUs).
        a100.update(max_nodes=6, **changes)

    run = run_with(mutate, "prod")
    assert run.outputs["gpu_scheduling"]["a100"]["gpus_per_node"] == gpus


def test_arm_gpu_pool_hint_selects_and_tolerates_arm64(run_with: Callable[..., runner.Run]) -> None:
    """A4X (GB200) nodes run Arm CPUs, which GKE taints kubernetes.io/arch=arm64:NoSchedule."""

    def a4x(c: dict[str, Any]) -> None:
        c["gpu_pools"][0].update(
            machine_type="a4x-highgpu-4g",
            accelerator_type="nvidia-gb200",
            accelerator_count=4,
            disk_type="hyperdisk-balanced",
            spot=False,
            reservation={"affinity": "SPECIFIC_RESERVATION", "name": "gb200-block"},
        )

    hint = run_with(a4x).outputs["gpu_scheduling"]["l4-spot"]
    assert hint["node_selector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-gb200",
        "gpu-pool": "l4-spot",
        "kubernetes.io/arch": "arm64",
    }
    assert hint["tolerations"] == [
        GPU_TOLERATION,
        {
            "key": "kubernetes.io/arch",
            "operator": "Equal",
            "value": "arm64",
            "effect": "NoSchedule",
        },
    ]
    assert hint["gpus_per_node"] == 4
