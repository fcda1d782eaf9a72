"""Astro Remote Execution with the agent elsewhere (the hosted path as the agent's Google service
account), a deployment that keeps its own secrets backend, and isolation from the hosted
deployments on the same cluster. Exact values throughout."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from components import service_accounts
from components.config import load
from offline import runner
from tests.airflow_access_common import (
    ASTRO_REPORTING,
    ASTRO_TRAINING,
    BATCH_TRIGGERER,
    BATCH_WORKER,
    BINDING,
    LAUNCHER_TRAINING,
    NAMESPACE,
    SA_IAM,
    SECRET,
    SECRET_IAM,
    grants,
    payload,
)
from tests.conftest import PROJECT_IAM, SERVICE_ACCOUNT, airflow_side, raw_platform
from tests.remote_common import (
    ACCESSOR,
    AGENT_GSA,
    BUCKET_IAM,
    KSA,
    LAUNCHER_ROLE_DEV,
    POOL_DEV,
    XCOM_ROLE_DEV,
    remote_external,
    remote_in_cluster,
)

# --- External placement ---------------------------------------------------------------------------


def test_external_agent_impersonates_a_launcher_like_astro(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(remote_external())
    launcher = "analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"
    assert grants(run, f"serviceAccount:{AGENT_GSA}") == {
        (BUCKET_IAM, "acme-ml-dev-analytics-xcom", XCOM_ROLE_DEV),
    }
    # The launcher and the agent's Token Creator grant on it are the bootstrap's: the grant it
    # makes for this config (components/day0/stack_identities.py iterates the same accounts).
    assert run.of_type(SA_IAM) == []
    platform = raw_platform("dev")
    remote_external()(platform)
    assert service_accounts.token_creator_bindings(load(platform)) == [
        {
            "service_account_id": f"projects/acme-ml-dev/serviceAccounts/{launcher}",
            "role": "roles/iam.serviceAccountTokenCreator",
            "member": f"serviceAccount:{AGENT_GSA}",
        }
    ]
    assert grants(run, f"serviceAccount:{launcher}") == {
        (PROJECT_IAM, "acme-ml-dev", LAUNCHER_ROLE_DEV),
        (SECRET_IAM, "airflow-connections-gke_gpu", ACCESSOR),
    }
    assert airflow_side(run.of_type(KSA)) == []
    assert [r.inputs["metadata"]["name"] for r in airflow_side(run.of_type(NAMESPACE))] == [
        "airflow-analytics"
    ]
    (binding,) = run.of_type(BINDING)
    assert binding.inputs["subjects"] == [
        {"kind": "User", "name": launcher, "apiGroup": "rbac.authorization.k8s.io"}
    ]
    extra = payload(run, "analytics")["extra"]
    assert extra["in_cluster"] is False
    assert extra["kube_config"]["users"][0]["user"]["exec"]["args"] == [
        "--impersonate_service_account",
        launcher,
    ]
    out = run.outputs["airflow"]["analytics"]
    assert out["auth_mode"] == "impersonation"
    assert out["agent"] == {
        "placement": "external",
        "namespace": None,
        "service_accounts": [],
        "google_service_account": AGENT_GSA,
        "node_selector": None,
        "xcom_bucket": "acme-ml-dev-analytics-xcom",
        "xcom_path": "gs://acme-ml-dev-analytics-xcom/xcom",
    }
    values = out["agent_values"]
    assert list(values) == ["secretBackend", "xcomBackend", "commonEnv"]
    assert json.loads(values["commonEnv"][0]["value"])["impersonation_chain"] == launcher


def test_external_agent_in_adc_mode_holds_the_grants_itself(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(remote_external("adc"))
    assert [r for r in run.of_type(SERVICE_ACCOUNT) if "analytics" in r.name] == []
    assert grants(run, f"serviceAccount:{AGENT_GSA}") == {
        (PROJECT_IAM, "acme-ml-dev", LAUNCHER_ROLE_DEV),
        (SECRET_IAM, "airflow-connections-gke_gpu", ACCESSOR),
        (BUCKET_IAM, "acme-ml-dev-analytics-xcom", XCOM_ROLE_DEV),
    }
    exec_ = payload(run, "analytics")["extra"]["kube_config"]["users"][0]["user"]["exec"]
    assert exec_["args"] == ["--use_application_default_credentials"]


# --- A deployment that keeps its own secrets backend ----------------------------------------------


def test_hosted_deployment_keeps_its_own_backend(run_with: Callable[..., runner.Run]) -> None:
    reader = "airflow-secrets@acme-shared-secrets.iam.gserviceaccount.com"

    def mutate(c: dict[str, Any]) -> None:
        c["deployments"][0].update(
            connections_prefix="airflow-conn",
            existing_secrets_backend={"project_id": "acme-shared-secrets", "reader": reader},
        )

    run = run_with(mutate)
    (secret,) = run.of_type(SECRET)
    assert (secret.inputs["project"], secret.inputs["secretId"]) == (
        "acme-shared-secrets",
        "airflow-conn-gke_gpu",
    )
    readers = [
        (r.inputs["project"], r.inputs["secretId"], r.inputs["member"])
        for r in run.of_type(SECRET_IAM)
    ]
    assert readers == [("acme-shared-secrets", "airflow-conn-gke_gpu", f"serviceAccount:{reader}")]
    # The launcher still authenticates KPO to the cluster, but reads no secret.
    launcher = "serviceAccount:analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"
    assert grants(run, launcher) == {(PROJECT_IAM, "acme-ml-dev", LAUNCHER_ROLE_DEV)}
    out = run.outputs["airflow"]["analytics"]
    assert (out["secrets_backend"], out["secret_project"]) == ("existing", "acme-shared-secrets")
    assert "AIRFLOW__SECRETS__BACKEND" not in out
    assert "AIRFLOW__SECRETS__BACKEND_KWARGS" not in out


def test_existing_backend_reads_as_the_deployments_own_identity_by_default(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(lambda c: c["deployments"][0].update(existing_secrets_backend={}))
    members = [r.inputs["member"] for r in run.of_type(SECRET_IAM)]
    assert members == [
        "serviceAccount:astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com"
    ]
    assert run.one(SECRET).inputs["project"] == "acme-ml-dev"


def test_in_cluster_agent_with_its_own_backend(run_with: Callable[..., runner.Run]) -> None:
    def mutate(c: dict[str, Any]) -> None:
        remote_in_cluster()(c)
        c["deployments"][0]["existing_secrets_backend"] = {}

    run = run_with(mutate)
    worker = f"{POOL_DEV}/ns/astro-agent/sa/agent-worker"
    assert [r.inputs["member"] for r in run.of_type(SECRET_IAM)] == [worker]
    values = run.outputs["airflow"]["analytics"]["agent_values"]
    assert "secretBackend" not in values
    assert [e["name"] for e in values["commonEnv"]] == [
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION",
        "AIRFLOW_VAR_GKE_GPU_CONN_ID",
        "AIRFLOW_VAR_GKE_GPU_NAMESPACE",
        "AIRFLOW_VAR_GKE_GPU_POOL",
        "AIRFLOW_VAR_GKE_GPU_SCHEDULING",
    ]
    assert values["serviceAccount"] == {
        "workers": {"create": False, "name": "agent-worker"},
        "triggerer": {"create": False, "name": "agent-worker"},
    }


# --- Hosted and remote on one cluster -------------------------------------------------------------


def test_hosted_and_remote_deployments_on_one_cluster_are_isolated(prod: runner.Run) -> None:
    hosted = [f"serviceAccount:{e}" for e in (ASTRO_TRAINING, LAUNCHER_TRAINING, ASTRO_REPORTING)]
    for member in hosted:
        for _, target, _ in grants(prod, member):
            assert "batch" not in target, (member, target)
    for member in (BATCH_WORKER, BATCH_TRIGGERER):
        targets = {target for _, target, _ in grants(prod, member)}
        assert targets == {"airflow-connections-gke_gpu_batch", "acme-ml-prod-batch-remote-xcom"}
    # Each task namespace is bound to its own deployment only; no agent service account lives in
    # a task namespace, where a task pod could run as it.
    task_namespaces = {"airflow-ml-training", "airflow-reporting", "airflow-batch"}
    for binding in prod.of_type(BINDING):
        for subject in binding.inputs["subjects"]:
            if subject["kind"] == "ServiceAccount":
                assert binding.inputs["metadata"]["namespace"] == "airflow-batch"
                assert subject["namespace"] not in task_namespaces
    assert {r.inputs["metadata"]["namespace"] for r in airflow_side(prod.of_type(KSA))} == {
        "astro-agent-batch"
    }
