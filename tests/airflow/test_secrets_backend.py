"""1. CloudSecretManagerBackend, built with the kwargs the stack outputs (via the .env that
`make astro-env` writes), resolves each connection id to a `kubernetes` connection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.google.cloud.secrets.secret_manager import CloudSecretManagerBackend
from fake_secret_manager import FakeSecretManager, accessors
from google.auth import impersonated_credentials
from stack_data import astro_env_values

BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
CASES = [("dev", "analytics"), ("prod", "ml-training"), ("prod", "reporting")]


def env_for(export: dict[str, Any], deployment: str, tmp_path: Path) -> dict[str, str]:
    return astro_env_values(export["outputs"], export["stack"], deployment, tmp_path)


def backend_from(env: dict[str, str]) -> CloudSecretManagerBackend:
    assert env["AIRFLOW__SECRETS__BACKEND"] == BACKEND
    return CloudSecretManagerBackend(**json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"] or "{}"))


@pytest.mark.parametrize(("stack", "deployment"), CASES)
def test_env_kwargs_build_a_real_backend(
    export: Any, fake_adc: Path, tmp_path: Path, stack: str, deployment: str
) -> None:
    data = export(stack)
    d = data["outputs"]["airflow"][deployment]
    backend = backend_from(env_for(data, deployment, tmp_path))
    assert backend.connections_prefix == "airflow-connections"
    assert backend.sep == "-"
    assert backend.variables_prefix is None and backend.config_prefix is None
    assert backend.project_id == f"acme-ml-{stack}"
    if d["auth_mode"] == "impersonation":
        assert isinstance(backend.credentials, impersonated_credentials.Credentials)
        assert backend.credentials.service_account_email == d["launcher_email"]
    else:
        assert not isinstance(backend.credentials, impersonated_credentials.Credentials)


@pytest.mark.parametrize(("stack", "deployment"), CASES)
def test_backend_resolves_the_connection(
    export: Any,
    fake_adc: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stack: str,
    deployment: str,
) -> None:
    data = export(stack)
    d = data["outputs"]["airflow"][deployment]
    fake = FakeSecretManager(
        project_id=f"acme-ml-{stack}",
        secrets=data["secrets"],
        readers=accessors(data["secret_iam_members"]),
        adc_identity=data["astro_identities"][deployment],
    ).install(monkeypatch)
    backend = backend_from(env_for(data, deployment, tmp_path))

    conn = backend.get_connection(d["connection_id"])
    assert conn is not None
    assert conn.conn_type == "kubernetes"
    extra = conn.extra_dejson
    assert extra["namespace"] == d["namespace"]
    assert extra["in_cluster"] is False
    assert extra["kube_config"]["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    reader = data["secret_readers"][d["secret_id"]]
    assert fake.calls == [
        {
            "name": f"projects/acme-ml-{stack}/secrets/{d['secret_id']}/versions/latest",
            "principal": reader,
        }
    ]
    # A connection id the stack did not create is simply not found.
    assert backend.get_connection("aws_default") is None


def test_another_deployments_secret_is_refused(
    export: Any, fake_adc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Isolation: ml-training's launcher cannot read reporting's connection (PermissionDenied,
    which the backend reports as 'not defined')."""
    data = export("prod")
    fake = FakeSecretManager(
        "acme-ml-prod",
        data["secrets"],
        accessors(data["secret_iam_members"]),
        data["astro_identities"]["ml-training"],
    ).install(monkeypatch)
    backend = backend_from(env_for(data, "ml-training", tmp_path))
    assert backend.get_connection("gke_gpu_reporting") is None
    assert (
        fake.calls[-1]["principal"]
        == "serviceAccount:ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"
    )


def test_secret_ids_pass_the_backends_own_pattern(export: Any) -> None:
    from airflow.providers.google.cloud._internal_client.secret_manager_client import (
        _SecretManagerClient,
    )

    for stack in ("dev", "prod"):
        for secret_id in export(stack)["secrets"]:
            assert _SecretManagerClient.is_valid_secret_name(secret_id), secret_id


def test_an_existing_backend_keeps_its_secrets_and_finds_the_stacks(
    fake_adc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment that already reads its connections from its own CloudSecretManagerBackend
    (another project, its own prefix) keeps it: the stack exports no backend setting, writes its
    connection where that backend looks, and the backend, unchanged, finds both the team's own
    connection and the stack's, as the identity it reads with."""
    import yaml
    from stack_data import ROOT, run_stack_python

    raw = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    reader = "their-backend@acme-shared-secrets.iam.gserviceaccount.com"
    raw["config"]["astro-gke-gpu:platform"]["deployments"][0].update(
        connections_prefix="airflow-conn",
        existing_secrets_backend={"project_id": "acme-shared-secrets", "reader": reader},
    )
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump(raw))
    data = json.loads(
        run_stack_python("-m", "offline.export", "--stack", "dev", "--config-file", str(stack_file))
    )
    # Nothing for the deployment's backend settings: `make astro-env` writes Variables only.
    env = astro_env_values(data["outputs"], "dev", "analytics", tmp_path)
    assert sorted(env) == [
        "AIRFLOW_VAR_GKE_GPU_CONN_ID",
        "AIRFLOW_VAR_GKE_GPU_NAMESPACE",
        "AIRFLOW_VAR_GKE_GPU_POOL",
        "AIRFLOW_VAR_GKE_GPU_SCHEDULING",
    ]
    # The team's backend as it was before the stack, and a connection of its own.
    theirs = {"airflow-conn-warehouse": json.dumps({"conn_type": "postgres", "host": "db"})}
    assert {grant["project"] for grant in data["secret_iam_members"]} == {"acme-shared-secrets"}
    readers = {
        **accessors(data["secret_iam_members"]),
        "airflow-conn-warehouse": {f"serviceAccount:{reader}"},
    }
    fake = FakeSecretManager(
        "acme-shared-secrets", {**data["secrets"], **theirs}, readers, reader
    ).install(monkeypatch)
    backend = CloudSecretManagerBackend(
        connections_prefix="airflow-conn", sep="-", project_id="acme-shared-secrets"
    )
    warehouse = backend.get_connection("warehouse")
    assert warehouse is not None and warehouse.host == "db"
    conn = backend.get_connection("gke_gpu")
    assert conn is not None and conn.conn_type == "kubernetes"
    assert conn.extra_dejson["namespace"] == "airflow-analytics"
    assert [c["name"] for c in fake.calls] == [
        "projects/acme-shared-secrets/secrets/airflow-conn-warehouse/versions/latest",
        "projects/acme-shared-secrets/secrets/airflow-conn-gke_gpu/versions/latest",
    ]
    assert {c["principal"] for c in fake.calls} == {f"serviceAccount:{reader}"}
