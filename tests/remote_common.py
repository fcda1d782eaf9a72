"""What the Remote Execution tests share: the resource types, the exact identities and roles they
expect, and helpers that read one deployment's registrations or turn a dev deployment remote."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components import config
from offline import runner
from tests.conftest import PROJECT_IAM, raw_platform

SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
KMS_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
NAMESPACE = "kubernetes:core/v1:Namespace"
KSA = "kubernetes:core/v1:ServiceAccount"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"

BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
XCOM_BACKEND = "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
POOL_PROD = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-ml-prod.svc.id.goog/subject"
POOL_DEV = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-ml-dev.svc.id.goog/subject"
WORKER = f"{POOL_PROD}/ns/astro-agent-batch/sa/astro-agent-worker"
TRIGGERER = f"{POOL_PROD}/ns/astro-agent-batch/sa/astro-agent-triggerer"
XCOM_ROLE_PROD = "projects/acme-ml-prod/roles/astroXcomObjects_astro_gpu_prod"
XCOM_ROLE_DEV = "projects/acme-ml-dev/roles/astroXcomObjects_astro_gpu_dev"
LAUNCHER_ROLE_DEV = "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev"
AGENT_GSA = "astro-agent-batch@acme-agents.iam.gserviceaccount.com"
ACCESSOR = "roles/secretmanager.secretAccessor"
ASTRO_TRAINING = "astro-ml-training@astro-tenant-4821.iam.gserviceaccount.com"
LAUNCHER_TRAINING = "ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"
ASTRO_REPORTING = "astro-reporting@astro-tenant-4821.iam.gserviceaccount.com"
CORE_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["create", "delete", "get", "list", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


def grants(run: runner.Run, member: str) -> set[tuple[str, str, str]]:
    """Every IAM grant to `member`: (resource type, what it is on, role)."""
    found = set()
    for r in run.registrations:
        if r.inputs.get("member") != member:
            continue
        target = (
            r.inputs.get("project")
            if r.type == PROJECT_IAM
            else r.inputs.get("serviceAccountId")
            or r.inputs.get("secretId")
            or r.inputs.get("bucket")
            or r.inputs.get("cryptoKeyId")
        )
        found.add((r.type, str(target), r.inputs["role"]))
    return found


def of(run: runner.Run, type_: str, deployment: str) -> list[runner.Registration]:
    return [r for r in run.of_type(type_) if f"-{deployment}-" in r.name]


def payload(run: runner.Run, deployment: str) -> dict[str, Any]:
    (version,) = [r for r in of(run, SECRET_VERSION, deployment)]
    return dict(json.loads(version.inputs["secretData"]))


def remote_external(auth_mode: str = "impersonation") -> Callable[[dict[str, Any]], None]:
    """dev's analytics as a remote deployment whose agent runs outside the cluster."""

    def mutate(c: dict[str, Any]) -> None:
        d = c["deployments"][0]
        del d["astro_identity"]
        d.update(
            execution="remote",
            auth_mode=auth_mode,
            agent={"placement": "external", "google_service_account": AGENT_GSA},
        )

    return mutate


def remote_in_cluster(**agent: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        d = c["deployments"][0]
        del d["astro_identity"], d["auth_mode"]
        d.update(
            execution="remote",
            agent={
                "placement": "this_cluster",
                "namespace": "astro-agent",
                "kubernetes_service_account": "agent-worker",
                **agent,
            },
        )

    return mutate


def problems(mutate: Callable[[dict[str, Any]], None], stack: str = "dev") -> dict[str, str]:
    raw = raw_platform(stack)
    mutate(raw)
    with pytest.raises(config.ConfigError) as exc:
        config.load(raw)
    return dict(exc.value.problems)
