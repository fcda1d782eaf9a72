"""A Remote Execution deployment's agent: where it runs, its namespace and service accounts, and
its XCom bucket."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from components.config._base import (
    KMS_KEY,
    KMS_KEY_RULE,
    _ctx,
    _Model,
)
from components.config.names import (
    KsaName,
    SaEmail,
    _check_namespace,
)


class XComStorageConfig(_Model):
    """The remote deployment's XCom bucket: Remote Execution requires an object-storage XCom backend
    (Astro docs remote-execution-configure-xcom-backend). One bucket per deployment, named
    `<project_id>-<name>-xcom`: uniform bucket-level access, public access prevention enforced,
    objects deleted after `retention_days`."""

    retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description=(
            "Lifecycle rule: XCom objects older than this many days are deleted (Airflow never "
            "deletes them itself unless a task is cleared)."
        ),
    )
    kms_key: str | None = Field(
        default=None,
        description=(
            "Optional CMEK for the bucket, a key in the cluster's region; the Cloud Storage service "
            "agent gets encrypter/decrypter on that key only."
        ),
    )

    @field_validator("kms_key")
    @classmethod
    def _key(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if not KMS_KEY.match(v):
            raise ValueError(f"must be {KMS_KEY_RULE}")
        region = _ctx(info, "region")
        if region is not None and v.split("/")[3] != region:
            raise ValueError(
                f"the key must be in the bucket's location, the cluster region {region}"
            )
        return v


class AgentConfig(_Model):
    """Where a remote deployment's Remote Execution Agent runs, and as whom."""

    placement: Literal["this_cluster", "external"] = Field(
        description=(
            "`this_cluster`: the agent runs in this GKE cluster (on the system pool, never on GPU "
            "nodes) and KubernetesPodOperator runs in-cluster as the agent's Kubernetes service "
            "account. `external`: the agent runs elsewhere as `google_service_account` and reaches "
            "the cluster like a hosted deployment."
        )
    )
    namespace: str | None = Field(
        default=None,
        description=(
            "`this_cluster`: namespace of the agent (created by the stack; not the task namespace: "
            "a pod may run as any service account of its namespace)."
        ),
    )
    kubernetes_service_account: KsaName | None = Field(
        default=None,
        description="`this_cluster`: service account of the agent workers (created by the stack).",
    )
    triggerer_service_account: KsaName | None = Field(
        default=None,
        description=(
            "`this_cluster`, optional: service account of the agent triggerer when it differs from "
            "the workers' (created by the stack)."
        ),
    )
    google_service_account: SaEmail | None = Field(
        default=None, description="`external`: the Google service account the agents run as."
    )
    xcom: XComStorageConfig = Field(default_factory=XComStorageConfig)

    @staticmethod
    def _for(placement: str, v: Any, info: ValidationInfo, *, required: bool) -> None:
        given = info.data.get("placement")
        if given is None:
            return
        if given != placement and v is not None:
            raise ValueError(f"only used with placement '{placement}'")
        if given == placement and v is None and required:
            raise ValueError(f"required with placement '{placement}'")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str | None, info: ValidationInfo) -> str | None:
        cls._for("this_cluster", v, info, required=True)
        return None if v is None else _check_namespace(v)

    @field_validator("kubernetes_service_account", "triggerer_service_account")
    @classmethod
    def _ksa(cls, v: str | None, info: ValidationInfo) -> str | None:
        cls._for("this_cluster", v, info, required=info.field_name == "kubernetes_service_account")
        if v == "default":
            raise ValueError(
                "not the namespace's `default` service account (every pod there runs as it); "
                "name a dedicated one"
            )
        return v

    @field_validator("google_service_account")
    @classmethod
    def _gsa(cls, v: str | None, info: ValidationInfo) -> str | None:
        cls._for("external", v, info, required=True)
        return v

    @property
    def service_accounts(self) -> list[str]:
        """The agent's Kubernetes service accounts: workers, then the triggerer if it differs."""
        if self.kubernetes_service_account is None:
            return []
        found = [self.kubernetes_service_account]
        if self.triggerer_service_account not in (None, self.kubernetes_service_account):
            found.append(self.triggerer_service_account)
        return found


def xcom_bucket_name(project_id: str, deployment: str) -> str:
    """A remote deployment's XCom bucket: fixed (the agent values point at it), globally unique
    because the project id is; at most 30 + 1 + 26 + 5 = 62 characters (Cloud Storage allows 63)."""
    return f"{project_id}-{deployment}-xcom"
