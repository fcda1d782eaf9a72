"""The Airflow access path, config: the rules a deployment's settings follow (one clear error that
names the key), isolation between deployments, Secret Manager replication and CMEK."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components import config as config_model
from offline import runner
from tests.airflow_access_common import (
    ASTRO_DEV,
    SECRET,
)

# --- Config validation for deployments ----------------------------------------------------------


def _problems(mutate: Callable[[dict[str, Any]], None], stack: str = "dev") -> dict[str, str]:
    raw = json.loads(json.dumps(runner.stack_config(stack)["astro-gke-gpu:platform"]))
    mutate(raw)
    with pytest.raises(config_model.ConfigError) as exc:
        config_model.load(raw)
    return dict(exc.value.problems)


@pytest.mark.parametrize(
    ("field", "value", "path", "fragment"),
    [
        (
            "astro_identity",
            "someone@example.com",
            "deployments[0].astro_identity",
            config_model.SA_EMAIL_RULE,
        ),
        ("namespace", "kube-system", "deployments[0].namespace", "reserved for the system"),
        ("namespace", "gke-managed-x", "deployments[0].namespace", "reserved for the system"),
        ("namespace", "Airflow", "deployments[0].namespace", config_model.NAMESPACE_RULE),
        ("name", "a" * 27, "deployments[0].name", config_model.DEPLOYMENT_NAME_RULE),
        ("connection_id", "gke.gpu", "deployments[0].connection_id", config_model.CONN_ID_RULE),
        ("connection_id", "-gpu", "deployments[0].sep", "contains '--'"),
        ("auth_mode", "keyfile", "deployments[0].auth_mode", "'impersonation' or 'adc'"),
        ("gpu_quota", -1, "deployments[0].gpu_quota", "greater than or equal to 0"),
        ("cpu_quota", "lots", "deployments[0].cpu_quota", config_model.QUANTITY_RULE),
        ("airflow_pool", "gpu pool", "deployments[0].airflow_pool", config_model.AIRFLOW_POOL_RULE),
        ("airflow_pool", "x" * 257, "deployments[0].airflow_pool", config_model.AIRFLOW_POOL_RULE),
        (
            "airflow_pool",
            "default_pool",
            "deployments[0].airflow_pool",
            "not Airflow's default_pool",
        ),
    ],
)
def test_deployment_field_rules(field: str, value: Any, path: str, fragment: str) -> None:
    found = _problems(lambda c: c["deployments"][0].update({field: value}))
    assert path in found and fragment in found[path], found


def test_launcher_account_id_only_in_impersonation_mode() -> None:
    found = _problems(
        lambda c: c["deployments"][0].update(auth_mode="adc", launcher_account_id="my-launcher")
    )
    assert found == {
        "deployments[0].launcher_account_id": "only used with auth_mode 'impersonation'"
    }


def test_deployments_must_be_isolated() -> None:
    def clone(c: dict[str, Any]) -> None:
        c["deployments"].append(dict(c["deployments"][0]))

    found = _problems(clone)
    assert found == {
        "deployments": "; ".join(
            [
                "names must be unique across deployments: analytics",
                "namespaces (task and agent) must be unique across deployments: airflow-analytics",
                "Google identities (astro_identity, agent.google_service_account) must be unique "
                f"across deployments: {ASTRO_DEV}",
                "launcher account ids must be unique across deployments: analytics-kpo",
                "secret ids must be unique across deployments: airflow-connections-gke_gpu",
            ]
        )
    }


def test_secret_manager_replication_rules() -> None:
    found = _problems(lambda c: c.update(secret_manager={"replication": "user_managed"}))
    assert found == {
        "secret_manager.locations": "required (at least one region) with replication 'user_managed'"
    }
    key = "projects/acme-ml-dev/locations/us-central1/keyRings/sm/cryptoKeys/conn"
    found = _problems(lambda c: c.update(secret_manager={"kms_keys": [key]}))
    assert found == {
        "secret_manager.kms_keys": "automatic replication takes exactly one key, in location 'global'"
    }
    found = _problems(
        lambda c: c.update(
            secret_manager={
                "replication": "user_managed",
                "locations": ["us-east1"],
                "kms_keys": [key],
            }
        )
    )
    assert found == {
        "secret_manager.kms_keys": "user_managed replication needs one key per location ['us-east1']"
    }


def test_cmek_grants_the_secret_manager_agent_before_secrets(
    run_with: Callable[..., runner.Run],
) -> None:
    keys = [
        "projects/acme-ml-prod/locations/us-central1/keyRings/sm/cryptoKeys/conn",
        "projects/acme-ml-prod/locations/us-east1/keyRings/sm/cryptoKeys/conn",
    ]
    run = run_with(lambda c: c["secret_manager"].update(kms_keys=keys), stack="prod")
    grants = [
        r
        for r in run.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if "secrets-cmek" in r.name
    ]
    agent = "serviceAccount:service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com"
    assert sorted(
        (g.inputs["cryptoKeyId"], g.inputs["role"], g.inputs["member"]) for g in grants
    ) == [(k, "roles/cloudkms.cryptoKeyEncrypterDecrypter", agent) for k in keys]
    for secret in run.of_type(SECRET):
        assert {g.urn for g in grants} <= set(secret.dependencies)
        assert secret.inputs["replication"] == {
            "userManaged": {
                "replicas": [
                    {
                        "location": "us-central1",
                        "customerManagedEncryption": {"kmsKeyName": keys[0]},
                    },
                    {"location": "us-east1", "customerManagedEncryption": {"kmsKeyName": keys[1]}},
                ]
            }
        }
