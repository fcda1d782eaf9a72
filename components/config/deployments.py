"""Airflow deployments and where their connection secrets are stored."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from components import catalog
from components.config._base import KMS_KEY, KMS_KEY_RULE, AccountId, _matching, _Model

DEPLOYMENT_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,24}[a-z0-9])?$")
DEPLOYMENT_NAME_RULE = "1-26 characters: lowercase letters, digits, hyphens; starts with a letter"
NAMESPACE = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
NAMESPACE_RULE = "DNS-1123 label: at most 63 lowercase letters, digits, hyphens"
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
RESERVED_NAMESPACE_PREFIXES = (
    "kube-",
    "gke-",
    "gmp-",
    "gatekeeper-",
    "istio-",
    "config-management-",
)
SA_EMAIL = re.compile(
    r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$"
)
SA_EMAIL_RULE = "a service-account email: <account>@<project>.iam.gserviceaccount.com"
# CloudSecretManagerBackend's SECRET_ID_PATTERN (providers/google/cloud/secrets/secret_manager.py)
SECRET_ID = re.compile(r"^[a-zA-Z0-9-_]*$")
CONN_ID = re.compile(r"^[a-zA-Z0-9_-]{1,200}$")
CONN_ID_RULE = "letters, digits, '_' and '-' (the secrets backend's secret-id pattern)"
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")
QUANTITY_RULE = "a Kubernetes quantity such as 500m, 2, 512Mi, 4Gi"

Quantity = Annotated[str, _matching(QUANTITY, QUANTITY_RULE)]


class ContainerDefaults(_Model):
    """LimitRange defaults for containers that set no requests/limits (the ResourceQuota on
    CPU and memory makes requests mandatory; these fill them in)."""

    cpu_request: Quantity = Field(default="250m", description="Default CPU request per container.")
    memory_request: Quantity = Field(
        default="512Mi", description="Default memory request per container."
    )
    cpu_limit: Quantity = Field(default="1", description="Default CPU limit per container.")
    memory_limit: Quantity = Field(default="2Gi", description="Default memory limit per container.")


class AirflowDeploymentConfig(_Model):
    """One Astro deployment that launches KubernetesPodOperator pods into its own namespace."""

    name: Annotated[str, _matching(DEPLOYMENT_NAME, DEPLOYMENT_NAME_RULE)] = Field(
        description="Short name; names the launcher account, the Kubernetes objects and outputs."
    )
    astro_identity: Annotated[str, _matching(SA_EMAIL, SA_EMAIL_RULE)] = Field(
        description="The Astro deployment's Google identity (Astro UI: Deployment > Details > Workload Identity)."
    )
    namespace: str = Field(
        description="Namespace its pods run in; created by the stack, one per deployment."
    )
    auth_mode: Literal["impersonation", "adc"] = Field(
        default="impersonation",
        description=(
            "`impersonation`: the stack creates a launcher service account; the Astro identity may only "
            "mint its tokens. `adc`: the Astro identity itself is granted access (no extra account)."
        ),
    )
    launcher_account_id: AccountId | None = Field(
        default=None,
        description="Account id of the launcher service account (impersonation mode); default `<name>-kpo`.",
    )
    connection_id: Annotated[str, _matching(CONN_ID, CONN_ID_RULE)] = Field(
        default="gke_gpu", description="Airflow connection id DAGs use as `kubernetes_conn_id`."
    )
    connections_prefix: str = Field(
        default="airflow-connections", description="Secrets backend `connections_prefix`."
    )
    sep: str = Field(
        default="-", description="Secrets backend `sep` between prefix and connection id."
    )
    xcom: bool = Field(default=False, description="Tasks use `do_xcom_push` (grants pods/exec).")
    deferrable: bool = Field(
        default=False, description="Tasks run deferrable (grants events watch)."
    )
    gpu_quota: int = Field(
        ge=0, le=10000, description="ResourceQuota `requests.nvidia.com/gpu` of the namespace."
    )
    cpu_quota: Quantity = Field(
        default="64", description="ResourceQuota on CPU requests and limits."
    )
    memory_quota: Quantity = Field(
        default="256Gi", description="ResourceQuota on memory requests and limits."
    )
    pods_quota: int = Field(
        default=100, ge=1, le=10000, description="ResourceQuota on the number of pods."
    )
    container_defaults: ContainerDefaults = Field(default_factory=ContainerDefaults)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        if not NAMESPACE.match(v):
            raise ValueError(NAMESPACE_RULE)
        if v in RESERVED_NAMESPACES or v.startswith(RESERVED_NAMESPACE_PREFIXES):
            raise ValueError(f"{v} is reserved for the system; pick a namespace of your own")
        return v

    @field_validator("launcher_account_id")
    @classmethod
    def _launcher_only_for_impersonation(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.data.get("auth_mode") == "adc":
            raise ValueError("only used with auth_mode 'impersonation'")
        return v

    @field_validator("sep")
    @classmethod
    def _secret_id(cls, v: str, info: ValidationInfo) -> str:
        prefix, conn = info.data.get("connections_prefix"), info.data.get("connection_id")
        if prefix is None or conn is None:
            return v
        secret_id = f"{prefix}{v}{conn}"
        if not SECRET_ID.match(secret_id) or not 1 <= len(secret_id) <= 255:
            raise ValueError(
                f"secret id {secret_id!r} must match {SECRET_ID.pattern} (1-255 characters)"
            )
        if "--" in secret_id:
            raise ValueError(
                f"secret id {secret_id!r} contains '--', which multi-team Airflow refuses"
            )
        return v

    @property
    def secret_id(self) -> str:
        return f"{self.connections_prefix}{self.sep}{self.connection_id}"

    @property
    def launcher_id(self) -> str | None:
        if self.auth_mode == "adc":
            return None
        return self.launcher_account_id or f"{self.name}-kpo"


class SecretManagerConfig(_Model):
    """Where the connection secrets are stored. CMEK key locations follow the Secret Manager API
    (CustomerManagedEncryption.kms_key_name): `global` for automatic replication, the replica's
    location for user-managed replication."""

    replication: Literal["automatic", "user_managed"] = Field(
        default="automatic", description="Secret Manager replication policy."
    )
    locations: list[str] = Field(
        default_factory=list, description="Replica regions; required with `user_managed`."
    )
    kms_keys: list[str] = Field(
        default_factory=list,
        description=(
            "Optional CMEK: one key in `global` for automatic replication, or one key per replica "
            "region for user_managed. The Secret Manager service agent gets encrypter/decrypter on each."
        ),
    )

    @field_validator("locations")
    @classmethod
    def _locations(cls, v: list[str], info: ValidationInfo) -> list[str]:
        mode = info.data.get("replication")
        if mode == "user_managed" and not v:
            raise ValueError("required (at least one region) with replication 'user_managed'")
        if mode == "automatic" and v:
            raise ValueError("only used with replication 'user_managed'")
        unknown = [loc for loc in v if loc not in catalog.REGIONS]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a known GCP region")
        if len(set(v)) != len(v):
            raise ValueError("locations must be unique")
        return v

    @field_validator("kms_keys")
    @classmethod
    def _keys(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if not v:
            return v
        bad = [k for k in v if not KMS_KEY.match(k)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: must be {KMS_KEY_RULE}")
        key_locations = sorted(k.split("/")[3] for k in v)
        if info.data.get("replication") == "automatic":
            if key_locations != ["global"]:
                raise ValueError(
                    "automatic replication takes exactly one key, in location 'global'"
                )
        else:
            wanted = sorted(info.data.get("locations") or [])
            if key_locations != wanted:
                raise ValueError(f"user_managed replication needs one key per location {wanted}")
        return v

    def key_for(self, location: str) -> str | None:
        return next((k for k in self.kms_keys if k.split("/")[3] == location), None)
