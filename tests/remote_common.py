"""What only the Remote Execution tests share (the rest is tests/airflow_access_common.py): their
resource types, the exact identities and roles they expect, and helpers that read one deployment's
registrations or turn a dev deployment remote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components import config
from offline import runner
from tests.conftest import raw_platform

BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
KMS_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
KSA = "kubernetes:core/v1:ServiceAccount"

XCOM_BACKEND = "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
POOL_DEV = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-ml-dev.svc.id.goog/subject"
XCOM_ROLE_PROD = "projects/acme-ml-prod/roles/astroXcomObjects_astro_gpu_prod"
XCOM_ROLE_DEV = "projects/acme-ml-dev/roles/astroXcomObjects_astro_gpu_dev"
LAUNCHER_ROLE_DEV = "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev"
AGENT_GSA = "astro-agent-batch@acme-agents.iam.gserviceaccount.com"
ACCESSOR = "roles/secretmanager.secretAccessor"


def of(run: runner.Run, type_: str, deployment: str) -> list[runner.Registration]:
    return [r for r in run.of_type(type_) if f"-{deployment}-" in r.name]


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
