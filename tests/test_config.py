"""Config validation, the stack as a whole: committed files, project, location, names, labels,
prod's requirements, keys, maintenance, error reporting. One test per rule family; each asserts
the path and the rule in the message (pools: test_config_pools.py; network: test_config_network.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components import config
from offline import runner
from tests.config_common import (
    assert_problem,
    problems,
)
from tests.conftest import CONFIG_KEY, raw_platform


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


def test_prod_requires_intranode_visibility_and_binary_authorization() -> None:
    found = problems(
        lambda c: c["cluster"].update(intranode_visibility=False, binary_authorization=False),
        stack="prod",
    )
    assert found == {
        "cluster.intranode_visibility": "must be true when environment is prod",
        "cluster.binary_authorization": "must be true when environment is prod",
    }
