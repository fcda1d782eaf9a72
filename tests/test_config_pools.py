"""Config validation, node pools: GPU shapes per machine series, MIG and sharing, sizes, upgrade
strategies, boot disks, zones, flex-start. Each test asserts the path and the rule in the message."""

from __future__ import annotations

from typing import Any

import pytest

from components import config
from tests.config_common import (
    assert_problem,
    problems,
)
from tests.conftest import raw_platform


def test_accelerator_must_fit_machine_series() -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["gpu_pools"][0].update(machine_type="n1-standard-8", accelerator_type="nvidia-l4")

    assert_problem(
        problems(mutate), "gpu_pools[0].accelerator_type", "not offered on n1-standard-8"
    )


def test_accelerator_must_fit_machine_family_within_series() -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["gpu_pools"][0].update(
            machine_type="a2-ultragpu-1g", accelerator_type="nvidia-tesla-a100"
        )

    assert_problem(
        problems(mutate), "gpu_pools[0].accelerator_type", "a2-ultragpu-1g carries nvidia-a100-80gb"
    )


def test_unknown_accelerator() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(accelerator_type="nvidia-rtx-9090"))
    assert_problem(found, "gpu_pools[0].accelerator_type", "unknown accelerator")


def test_unknown_gpu_machine_type() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(machine_type="e2-standard-8"))
    assert_problem(found, "gpu_pools[0].machine_type", "not a known GPU machine type")


@pytest.mark.parametrize(
    ("machine", "accel", "count", "expected"),
    [
        ("g2-standard-24", "nvidia-l4", 1, "g2-standard-24 carries exactly 2 GPU(s)"),
        ("g2-standard-8", "nvidia-l4", 2, "g2-standard-8 carries exactly 1 GPU(s)"),
        ("a2-highgpu-4g", "nvidia-tesla-a100", 1, "a2-highgpu-4g carries exactly 4 GPU(s)"),
        ("a3-highgpu-8g", "nvidia-h100-80gb", 4, "a3-highgpu-8g carries exactly 8 GPU(s)"),
        ("n1-standard-8", "nvidia-tesla-t4", 3, "nvidia-tesla-t4 attaches to N1 in counts 1, 2, 4"),
    ],
)
def test_gpu_count_matches_machine_type(
    machine: str, accel: str, count: int, expected: str
) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["gpu_pools"][0].update(
            machine_type=machine, accelerator_type=accel, accelerator_count=count
        )

    assert_problem(problems(mutate), "gpu_pools[0].accelerator_count", expected)


@pytest.mark.parametrize(
    ("machine", "accel", "count", "disk"),
    [
        ("g2-standard-24", "nvidia-l4", 2, "pd-balanced"),
        ("n1-standard-16", "nvidia-tesla-v100", 8, "pd-balanced"),
        ("a2-ultragpu-2g", "nvidia-a100-80gb", 2, "pd-ssd"),
        ("a3-megagpu-8g", "nvidia-h100-mega-80gb", 8, "pd-balanced"),
        ("a3-ultragpu-8g", "nvidia-h200-141gb", 8, "hyperdisk-balanced"),
        ("a4-highgpu-8g", "nvidia-b200", 8, "hyperdisk-balanced"),
        ("a4x-highgpu-4g", "nvidia-gb200", 4, "hyperdisk-balanced"),
        ("g4-standard-48", "nvidia-rtx-pro-6000", 1, "hyperdisk-balanced"),
        ("g4-standard-96", "nvidia-rtx-pro-6000", 2, "hyperdisk-balanced"),
        ("g4-standard-192", "nvidia-rtx-pro-6000", 4, "hyperdisk-balanced"),
        ("g4-standard-384", "nvidia-rtx-pro-6000", 8, "hyperdisk-balanced"),
    ],
)
def test_valid_gpu_shapes_pass(machine: str, accel: str, count: int, disk: str) -> None:
    raw = raw_platform()
    raw["gpu_pools"][0].update(
        machine_type=machine, accelerator_type=accel, accelerator_count=count, disk_type=disk
    )
    pool = config.load(raw).gpu_pools[0]
    assert (pool.machine_type, pool.accelerator_type, pool.accelerator_count) == (
        machine,
        accel,
        count,
    )


def test_mig_partition_only_on_mig_gpus() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(partition_size="1g.5gb"))
    assert_problem(
        found, "gpu_pools[0].partition_size", "nvidia-l4 does not support MIG partitions"
    )

    def wrong_size(c: dict[str, Any]) -> None:
        c["gpu_pools"][0].update(
            machine_type="a2-highgpu-1g",
            accelerator_type="nvidia-tesla-a100",
            partition_size="1g.10gb",
        )

    assert_problem(
        problems(wrong_size), "gpu_pools[0].partition_size", "nvidia-tesla-a100 partitions are"
    )


def test_sharing_bounds() -> None:
    found = problems(
        lambda c: c["gpu_pools"][0].update(
            sharing={"strategy": "MPS", "max_shared_clients_per_gpu": 1}
        )
    )
    assert_problem(
        found, "gpu_pools[0].sharing.max_shared_clients_per_gpu", "greater than or equal to 2"
    )


@pytest.mark.parametrize("pool", ["gpu_pools[0]", "system_pool"])
def test_min_not_above_max(pool: str) -> None:
    def mutate(c: dict[str, Any]) -> None:
        target = c["gpu_pools"][0] if pool.startswith("gpu") else c["system_pool"]
        target.update(min_nodes=3, max_nodes=2)

    assert_problem(problems(mutate), f"{pool}.max_nodes", "must be >= min_nodes (3)")


def test_min_above_default_max() -> None:
    found = problems(lambda c: c.update(system_pool={"min_nodes": 5}))
    assert_problem(found, "system_pool.max_nodes", "must be >= min_nodes (5)")


def test_surge_upgrade_must_move() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(max_surge=0))
    assert found == {
        "gpu_pools[0].max_unavailable": "max_surge and max_unavailable cannot both be 0"
    }


def test_negative_min_nodes() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(min_nodes=-1))
    assert_problem(found, "gpu_pools[0].min_nodes", "greater than or equal to 0")


def test_scale_to_zero_allowed_for_gpu_pools_only() -> None:
    found = problems(lambda c: c["system_pool"].update(min_nodes=0))
    assert_problem(found, "system_pool.min_nodes", "greater than or equal to 1")


def test_pool_names_unique_including_system_pool() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(name="system"))
    assert_problem(found, "gpu_pools", "node pool names must be unique (incl. system_pool): system")


def test_gpu_pool_zones_inside_region_and_not_on_zonal_clusters() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(zones=["us-east1-b"]), stack="prod")
    assert_problem(
        found, "gpu_pools[0].zones", "us-east1-b: not in the cluster's region us-central1"
    )
    found = problems(lambda c: c["gpu_pools"][0].update(zones=["us-central1-b"]), stack="dev")
    assert_problem(found, "gpu_pools[0].zones", "a zonal cluster's pools run in its zone")


def test_upgrade_strategy_rules() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(drain_wait_hours=12))
    assert found == {
        "gpu_pools[0].drain_wait_hours": "only used with upgrade_strategy AUTOSCALED_BLUE_GREEN"
    }
    found = problems(
        lambda c: c["gpu_pools"][0].update(upgrade_strategy="AUTOSCALED_BLUE_GREEN", max_surge=2)
    )
    assert found == {
        "gpu_pools[0]": "max_surge: only used with upgrade_strategy SURGE, not AUTOSCALED_BLUE_GREEN"
    }
    found = problems(
        lambda c: c["gpu_pools"][0].update(
            upgrade_strategy="AUTOSCALED_BLUE_GREEN", drain_wait_hours=169
        )
    )
    assert list(found) == ["gpu_pools[0].drain_wait_hours"]
    assert "less than or equal to 168" in found["gpu_pools[0].drain_wait_hours"]


@pytest.mark.parametrize(
    ("machine", "accel", "count", "disk", "rule"),
    [
        (
            "a4-highgpu-8g",
            "nvidia-b200",
            8,
            "pd-balanced",
            "a4-highgpu-8g cannot boot from pd-balanced; it takes hyperdisk-balanced",
        ),
        (
            "g4-standard-96",
            "nvidia-rtx-pro-6000",
            2,
            "pd-ssd",
            "g4-standard-96 cannot boot from pd-ssd; it takes hyperdisk-balanced",
        ),
        (
            "a3-ultragpu-8g",
            "nvidia-h200-141gb",
            8,
            "pd-balanced",
            "a3-ultragpu-8g cannot boot from pd-balanced; it takes hyperdisk-balanced",
        ),
        (
            "g2-standard-8",
            "nvidia-l4",
            1,
            "pd-standard",
            "g2-standard-8 cannot boot from pd-standard; it takes pd-balanced, pd-ssd",
        ),
        (
            "a2-highgpu-1g",
            "nvidia-tesla-a100",
            1,
            "hyperdisk-balanced",
            "a2-highgpu-1g cannot boot from hyperdisk-balanced",
        ),
    ],
)
def test_boot_disk_must_fit_the_series(
    machine: str, accel: str, count: int, disk: str, rule: str
) -> None:
    found = problems(
        lambda c: c["gpu_pools"][0].update(
            machine_type=machine, accelerator_type=accel, accelerator_count=count, disk_type=disk
        )
    )
    assert list(found) == ["gpu_pools[0].disk_type"]
    assert found["gpu_pools[0].disk_type"].startswith(rule)


def test_hyperdisk_only_cpu_series_for_the_system_pool() -> None:
    found = problems(lambda c: c["system_pool"].update(machine_type="n4-standard-4"))
    assert found == {
        "system_pool.disk_type": "n4-standard-4 cannot boot from pd-balanced; it takes "
        "hyperdisk-balanced (Compute Engine machine series, supported disk types)"
    }


@pytest.mark.parametrize(
    ("accel", "machine", "sizes"),
    [
        (
            "nvidia-h200-141gb",
            "a3-ultragpu-8g",
            {"1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"},
        ),
        (
            "nvidia-b200",
            "a4-highgpu-8g",
            {"1g.23gb", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"},
        ),
    ],
)
def test_mig_on_h200_and_b200(accel: str, machine: str, sizes: set[str]) -> None:
    for size in sizes:
        raw = raw_platform()
        raw["gpu_pools"][0].update(
            machine_type=machine,
            accelerator_type=accel,
            accelerator_count=8,
            disk_type="hyperdisk-balanced",
            partition_size=size,
        )
        assert config.load(raw).gpu_pools[0].partition_size == size
    found = problems(
        lambda c: c["gpu_pools"][0].update(
            machine_type=machine,
            accelerator_type=accel,
            accelerator_count=8,
            disk_type="hyperdisk-balanced",
            partition_size="4g.40gb",  # NVIDIA's H100 profile: not GKE's, not this GPU's
        )
    )
    assert found == {
        "gpu_pools[0].partition_size": f"{accel} partitions are {', '.join(sorted(sizes))}"
    }


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"spot": True}, "spot (a separate provisioning model)"),
        ({"min_nodes": 1}, "min_nodes > 0 (flex-start pools scale from zero)"),
        (
            {"upgrade_strategy": "AUTOSCALED_BLUE_GREEN"},
            "AUTOSCALED_BLUE_GREEN (GKE upgrades flex-start nodes SHORT_LIVED)",
        ),
        (
            {
                "machine_type": "a4x-highgpu-4g",
                "accelerator_type": "nvidia-gb200",
                "accelerator_count": 4,
                "disk_type": "hyperdisk-balanced",
            },
            "A4X (no Flex-start VMs: capacity is reservation-only)",
        ),
    ],
)
def test_flex_start_conflicts(changes: dict[str, Any], fragment: str) -> None:
    # from an on-demand pool that scales from zero: each case adds exactly one conflict
    found = problems(
        lambda c: c["gpu_pools"][0].update(flex_start=True, **{"spot": False, **changes})
    )
    assert list(found) == ["gpu_pools[0].flex_start"]
    assert found["gpu_pools[0].flex_start"] == f"flex_start cannot be combined with {fragment}"


def test_flex_start_takes_no_reservation() -> None:
    found = problems(
        lambda c: c["gpu_pools"][0].update(
            flex_start=True, spot=False, reservation={"affinity": "ANY_RESERVATION"}
        )
    )
    assert found == {
        "gpu_pools[0].reservation": "flex-start pools consume no reservation (GKE requires NO_RESERVATION)"
    }
