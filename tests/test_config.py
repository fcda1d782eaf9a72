"""Config validation: one test per rule family; each asserts the path and the rule in the message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components import config
from offline import runner
from tests.conftest import CONFIG_KEY, raw_platform


def problems(mutate: Callable[[dict[str, Any]], None], stack: str = "dev") -> dict[str, str]:
    raw = raw_platform(stack)
    mutate(raw)
    with pytest.raises(config.ConfigError) as exc:
        config.load(raw)
    return dict(exc.value.problems)


def assert_problem(found: dict[str, str], path: str, rule_fragment: str) -> None:
    assert path in found, f"no problem reported at {path}: {found}"
    assert rule_fragment in found[path], found[path]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stack_files_validate(stack: str) -> None:
    cfg = config.load(runner.stack_config(stack)[CONFIG_KEY])
    assert cfg.environment == stack


def test_zonal_vs_regional_follows_from_location() -> None:
    dev = config.load(raw_platform("dev"))
    prod = config.load(raw_platform("prod"))
    assert (dev.location, dev.region, dev.zonal) == ("us-central1-a", "us-central1", True)
    assert (prod.location, prod.region, prod.zonal) == ("us-central1", "us-central1", False)


@pytest.mark.parametrize("bad", ["Acme-prod", "short", "ends-with-", "a" * 31, "1starts-digit"])
def test_project_id_format(bad: str) -> None:
    found = problems(lambda c: c.update(project_id=bad))
    assert found == {"project_id": config.PROJECT_ID_RULE}


@pytest.mark.parametrize("bad", ["us-central9", "us-central1-z", "europe", "US-CENTRAL1"])
def test_location_must_be_known_region_or_zone(bad: str) -> None:
    found = problems(lambda c: c.update(location=bad))
    assert_problem(found, "location", "not a known GCP region or zone")


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


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("subnet_cidr", "10.10.0.1/20", "Input is not a valid IPv4 network"),
        ("subnet_cidr", "not-a-cidr", "Input is not a valid IPv4 network"),
        ("pods_cidr", "8.8.0.0/16", "must be a private range"),
        ("services_cidr", "10.10.4.0/24", "overlaps subnet_cidr 10.10.0.0/20"),
        ("pods_cidr", "10.8.0.0/14", "overlaps subnet_cidr 10.10.0.0/20"),
    ],
)
def test_network_cidrs(field: str, value: str, fragment: str) -> None:
    found = problems(lambda c: c["network"].update({field: value}))
    assert_problem(found, f"network.{field}", fragment)


def test_existing_network_must_be_in_cluster_region() -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["network"] = {
            "mode": "existing",
            "network": "projects/acme-host/global/networks/shared",
            "subnetwork": "projects/acme-host/regions/europe-west4/subnetworks/gke",
            "pods_range_name": "pods",
            "services_range_name": "services",
        }

    assert_problem(
        problems(mutate), "network.subnetwork", "differs from the cluster's region us-central1"
    )


def test_network_mode_must_be_known() -> None:
    found = problems(lambda c: c["network"].update(mode="borrow"))
    assert_problem(
        found, "network", "does not match any of the expected tags: 'create', 'existing'"
    )


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "128.0.0.0/1", "10.0.0.0/7"])
def test_authorized_networks_never_the_world(cidr: str) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["cluster"]["control_plane"] = {
            "access": "authorized_networks",
            "authorized_networks": [{"cidr_block": cidr, "display_name": "astro"}],
        }

    found = problems(mutate)
    assert_problem(
        found,
        "cluster.control_plane.authorized_networks[0].cidr_block",
        "0.0.0.0/0 (the internet) is never allowed",
    )


def test_authorized_networks_required_for_that_mode_and_refused_for_dns() -> None:
    found = problems(lambda c: c["cluster"].update(control_plane={"access": "authorized_networks"}))
    assert_problem(
        found, "cluster.control_plane.authorized_networks", "required (at least one range)"
    )

    def dns_with_networks(c: dict[str, Any]) -> None:
        c["cluster"]["control_plane"] = {
            "access": "dns",
            "authorized_networks": [{"cidr_block": "198.51.100.7/32", "display_name": "astro"}],
        }

    assert_problem(
        problems(dns_with_networks),
        "cluster.control_plane.authorized_networks",
        "only used with access",
    )


@pytest.mark.parametrize(
    ("path", "mutate", "rule"),
    [
        ("cluster.name", lambda c: c["cluster"].update(name="Astro_GPU"), config.GKE_NAME_RULE),
        ("cluster.name", lambda c: c["cluster"].update(name="a" * 41), config.GKE_NAME_RULE),
        (
            "gpu_pools[0].name",
            lambda c: c["gpu_pools"][0].update(name="L4.pool"),
            config.POOL_NAME_RULE,
        ),
        # 31 characters: with the generated suffix the GKE name would pass 40.
        (
            "gpu_pools[0].name",
            lambda c: c["gpu_pools"][0].update(name="a" * 31),
            config.POOL_NAME_RULE,
        ),
        ("system_pool.name", lambda c: c["system_pool"].update(name="-sys"), config.POOL_NAME_RULE),
        (
            "node_service_account.account_id",
            lambda c: c["node_service_account"].update(account_id="nodes"),
            config.SA_ACCOUNT_ID_RULE,
        ),
    ],
)
def test_names_valid_for_gcp_and_kubernetes(
    path: str, mutate: Callable[[dict[str, Any]], None], rule: str
) -> None:
    assert problems(mutate) == {path: rule}


def test_gcp_labels() -> None:
    found = problems(lambda c: c["labels"].update({"Team": "x", "ok": "Bad Value"}))
    assert_problem(found, "labels", "Team, ok: GCP label")


def test_node_labels_rules_and_reserved_prefixes() -> None:
    found = problems(lambda c: c["gpu_pools"][0].update(node_labels={"bad key!": "x"}))
    assert_problem(found, "gpu_pools[0].node_labels", "bad key!: Kubernetes label")
    found = problems(
        lambda c: c["gpu_pools"][0].update(node_labels={"cloud.google.com/gke-spot": "true"})
    )
    assert_problem(found, "gpu_pools[0].node_labels", "reserved prefix")


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


def test_prod_requires_deletion_protection() -> None:
    found = problems(lambda c: c["cluster"].update(deletion_protection=False), stack="prod")
    assert found == {"cluster.deletion_protection": "must be true when environment is prod"}


def test_kms_key_format_and_region() -> None:
    found = problems(lambda c: c["cluster"].update(secrets_encryption_key="my-key"), stack="prod")
    assert_problem(found, "cluster.secrets_encryption_key", config.KMS_KEY_RULE)
    key = "projects/acme-ml-prod/locations/europe-west4/keyRings/gke/cryptoKeys/etcd"
    found = problems(lambda c: c["cluster"].update(secrets_encryption_key=key), stack="prod")
    assert_problem(
        found, "cluster.secrets_encryption_key", "must be the cluster's region us-central1"
    )


def test_artifact_registry_repositories_format() -> None:
    found = problems(
        lambda c: c["node_service_account"].update(artifact_registry_repositories=["ml-images"])
    )
    assert_problem(
        found, "node_service_account.artifact_registry_repositories", config.AR_REPO_RULE
    )


def test_maintenance_window_rules() -> None:
    found = problems(lambda c: c["cluster"]["maintenance"].update(end_time="2025-01-04T05:00:00Z"))
    assert_problem(found, "cluster.maintenance.end_time", "at least 4 hours")
    found = problems(lambda c: c["cluster"]["maintenance"].update(recurrence="every weekend"))
    assert_problem(found, "cluster.maintenance.recurrence", "RFC 5545 RRULE")


def test_unknown_keys_are_rejected() -> None:
    found = problems(lambda c: c["cluster"].update(enable_private_nodes=False))
    assert_problem(found, "cluster.enable_private_nodes", "Extra inputs are not permitted")


def test_at_least_one_gpu_pool() -> None:
    found = problems(lambda c: c.update(gpu_pools=[]))
    assert_problem(found, "gpu_pools", "at least 1 item")


def test_every_problem_reported_in_one_error() -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["project_id"] = "X"
        c["cluster"]["name"] = "Bad_Name"
        c["network"]["pods_cidr"] = "8.8.0.0/16"
        c["gpu_pools"][0]["accelerator_count"] = 4

    raw = raw_platform()
    mutate(raw)
    with pytest.raises(config.ConfigError) as exc:
        config.load(raw, "astro-gke-gpu:platform")
    message = str(exc.value)
    assert message.startswith("invalid stack config 'astro-gke-gpu:platform' (4 problem(s)):")
    for path in (
        "project_id",
        "cluster.name",
        "network.pods_cidr",
        "gpu_pools[0].accelerator_count",
    ):
        assert f"  - {path}: " in message


def test_not_an_object() -> None:
    with pytest.raises(config.ConfigError) as exc:
        config.load(["a", "list"])
    assert exc.value.problems == [("(root)", "must be an object, got list")]


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


def test_prod_requires_intranode_visibility_and_binary_authorization() -> None:
    found = problems(
        lambda c: c["cluster"].update(intranode_visibility=False, binary_authorization=False),
        stack="prod",
    )
    assert found == {
        "cluster.intranode_visibility": "must be true when environment is prod",
        "cluster.binary_authorization": "must be true when environment is prod",
    }


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
