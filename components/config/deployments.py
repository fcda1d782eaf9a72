"""Airflow deployments and where their connection secrets are stored.

Two execution modes (Astro "Execution mode"): `hosted`, where Astro runs the workers and tasks run as
the deployment's Astro identity, and `remote` (Astro Remote Execution, Airflow 3), where the Remote
Execution Agent runs the DAG processor, triggerer and workers in the customer's Kubernetes and tasks
run as the agent pods' own identity (Astro docs remote-execution-get-started). A remote deployment's
agents run in this cluster (`this_cluster`: KubernetesPodOperator then runs in-cluster) or
elsewhere (`external`: they reach the cluster like a hosted deployment does, as their Google
service account)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components import catalog
from components.config._base import (
    KMS_KEY,
    KMS_KEY_RULE,
    AccountId,
    ProjectId,
    _ctx,
    _matching,
    _Model,
)

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
# Airflow keeps a pool name in `slot_pool.pool` (String(256)) and the REST API's PoolBody takes at most
# 256 characters; the DAG helper and the handoff pass it around unquoted, so keep it plain.
AIRFLOW_POOL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}$")
AIRFLOW_POOL_RULE = "1-256 letters, digits, '_', '.', '-' (an Airflow pool name)"

# Kubernetes service account names are DNS-1123 subdomains; a label (no dots) keeps the Workload
# Identity principal `.../subject/ns/<ns>/sa/<ksa>` and the RBAC subject unambiguous.
KSA_NAME = NAMESPACE
KSA_NAME_RULE = (
    "Kubernetes service account name: DNS-1123 label, at most 63 lowercase letters, digits, hyphens"
)

Quantity = Annotated[str, _matching(QUANTITY, QUANTITY_RULE)]
SaEmail = Annotated[str, _matching(SA_EMAIL, SA_EMAIL_RULE)]
KsaName = Annotated[str, _matching(KSA_NAME, KSA_NAME_RULE)]

LaunchMode = Literal["impersonation", "adc", "in_cluster"]


def _check_namespace(v: str) -> str:
    if not NAMESPACE.match(v):
        raise ValueError(NAMESPACE_RULE)
    if v in RESERVED_NAMESPACES or v.startswith(RESERVED_NAMESPACE_PREFIXES):
        raise ValueError(f"{v} is reserved for the system; pick a namespace of your own")
    return v


class ContainerDefaults(_Model):
    """LimitRange defaults for containers that set no requests/limits (the ResourceQuota on
    CPU and memory makes requests mandatory; these fill them in)."""

    cpu_request: Quantity = Field(default="250m", description="Default CPU request per container.")
    memory_request: Quantity = Field(
        default="512Mi", description="Default memory request per container."
    )
    cpu_limit: Quantity = Field(default="1", description="Default CPU limit per container.")
    memory_limit: Quantity = Field(default="2Gi", description="Default memory limit per container.")


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


class ExistingSecretsBackendConfig(_Model):
    """The deployment already reads its own connections from a CloudSecretManagerBackend: keep it.
    The stack writes its connection where that backend looks (this project, the deployment's
    `connections_prefix` and `sep`), lets the backend's identity read that one secret, and exports
    no secrets-backend setting."""

    project_id: ProjectId | None = Field(
        default=None,
        description="The backend's `project_id`; default: the stack's project.",
    )
    reader: SaEmail | None = Field(
        default=None,
        description=(
            "The identity the backend reads with (the end of its `impersonation_chain`, if any); "
            "default: the deployment's own identity (the Astro identity, the external agent's "
            "service account, or the in-cluster agent's service accounts)."
        ),
    )


class AirflowDeploymentConfig(_Model):
    """One Astro deployment that launches KubernetesPodOperator pods into its own namespace."""

    name: Annotated[str, _matching(DEPLOYMENT_NAME, DEPLOYMENT_NAME_RULE)] = Field(
        description="Short name; names the launcher account, the Kubernetes objects and outputs."
    )
    execution: Literal["hosted", "remote"] = Field(
        default="hosted",
        description=(
            "`hosted`: Astro runs the workers, tasks run as `astro_identity`. `remote`: Astro "
            "Remote Execution (Airflow 3); tasks run as the agent's identity (`agent`)."
        ),
    )
    astro_identity: SaEmail | None = Field(
        default=None,
        description=(
            "`hosted`: the Astro deployment's Google identity (Astro UI: Deployment > Details > "
            "Workload Identity)."
        ),
    )
    namespace: str = Field(
        description="Namespace its pods run in; created by the stack, one per deployment."
    )
    agent: AgentConfig | None = Field(
        default=None, description="`remote`: where the Remote Execution Agent runs."
    )
    auth_mode: Literal["impersonation", "adc"] = Field(
        default="impersonation",
        description=(
            "`impersonation`: the stack creates a launcher service account; the Astro identity may only "
            "mint its tokens. `adc`: the Astro identity itself is granted access (no extra account). "
            "Not used with agent placement `this_cluster` (in-cluster)."
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
    existing_secrets_backend: ExistingSecretsBackendConfig | None = Field(
        default=None,
        description=(
            "Set when the deployment already uses a Secret Manager backend for its own connections: "
            "the connection goes where that backend looks and no backend setting is exported. "
            "Unset: the stack's backend settings (connections only) are exported."
        ),
    )
    xcom: bool = Field(default=False, description="Tasks use `do_xcom_push` (grants pods/exec).")
    deferrable: bool = Field(
        default=False, description="Tasks run deferrable (grants events watch)."
    )
    gpu_quota: int = Field(
        ge=0,
        le=10000,
        description=(
            "ResourceQuota `requests.nvidia.com/gpu` of the namespace; also the slots of the "
            "deployment's Airflow pool (`airflow_pool`)."
        ),
    )
    airflow_pool: Annotated[str, _matching(AIRFLOW_POOL, AIRFLOW_POOL_RULE)] = Field(
        default="gke_gpu",
        description=(
            "Airflow pool GPU tasks run in, `gpu_quota` slots (`make airflow-pool` creates it in "
            "the deployment's Airflow): a fan-out beyond the quota waits in Airflow, not at the "
            "API server. Must not be `default_pool`."
        ),
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

    @model_validator(mode="before")
    @classmethod
    def _no_google_auth_in_cluster(cls, raw: Any) -> Any:
        """In-cluster, KPO authenticates with the agent's Kubernetes service account token: there is
        no Google identity to impersonate, so the Google auth settings cannot apply."""
        if not isinstance(raw, dict) or raw.get("execution") != "remote":
            return raw
        agent = raw.get("agent")
        if isinstance(agent, dict) and agent.get("placement") == "this_cluster":
            given = [k for k in ("auth_mode", "launcher_account_id") if k in raw]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: not used with agent placement 'this_cluster' "
                    "(KubernetesPodOperator runs in-cluster as the agent's service account)"
                )
        return raw

    @field_validator("astro_identity")
    @classmethod
    def _astro_identity(cls, v: str | None, info: ValidationInfo) -> str | None:
        execution = info.data.get("execution")
        if execution == "hosted" and v is None:
            raise ValueError("required with execution 'hosted'")
        if execution == "remote" and v is not None:
            raise ValueError(
                "not used with execution 'remote': tasks run as the agent's identity (`agent`), "
                "not the Astro deployment's"
            )
        return v

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        return _check_namespace(v)

    @field_validator("airflow_pool")
    @classmethod
    def _pool(cls, v: str) -> str:
        if v == "default_pool":
            raise ValueError(
                "not Airflow's default_pool (every task without a pool shares it): name a pool "
                "of the GPU tasks' own"
            )
        return v

    @field_validator("agent")
    @classmethod
    def _agent(cls, v: AgentConfig | None, info: ValidationInfo) -> AgentConfig | None:
        execution = info.data.get("execution")
        if execution == "remote" and v is None:
            raise ValueError("required with execution 'remote'")
        if execution == "hosted" and v is not None:
            raise ValueError("only used with execution 'remote'")
        if v is not None and v.namespace is not None and v.namespace == info.data.get("namespace"):
            raise ValueError(
                f"agent.namespace {v.namespace} is the task namespace: the agent needs its own "
                "(a task pod may run as any service account of its namespace)"
            )
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
    def in_cluster(self) -> bool:
        """The agent runs in this cluster: KubernetesPodOperator uses `in_cluster=True`."""
        return self.agent is not None and self.agent.placement == "this_cluster"

    @property
    def launch_mode(self) -> LaunchMode:
        """How KubernetesPodOperator authenticates to the cluster."""
        return "in_cluster" if self.in_cluster else self.auth_mode

    @property
    def google_identity(self) -> str | None:
        """The Google service account the deployment's tasks run as: the Astro identity (hosted),
        the external agent's service account; None in-cluster (Workload Identity principals)."""
        if self.agent is not None:
            return self.agent.google_service_account
        return self.astro_identity

    @property
    def launcher_id(self) -> str | None:
        if self.launch_mode != "impersonation":
            return None
        return self.launcher_account_id or f"{self.name}-kpo"

    def secret_project(self, stack_project: str) -> str:
        """Where the connection secret lives: the existing backend's project, else the stack's."""
        existing = self.existing_secrets_backend
        return (existing.project_id if existing else None) or stack_project


def xcom_bucket_name(project_id: str, deployment: str) -> str:
    """A remote deployment's XCom bucket: fixed (the agent values point at it), globally unique
    because the project id is; at most 30 + 1 + 26 + 5 = 62 characters (Cloud Storage allows 63)."""
    return f"{project_id}-{deployment}-xcom"


def isolation_problems(
    deployments: Sequence[AirflowDeploymentConfig],
    *,
    project_id: str | None,
    secret_manager: SecretManagerConfig | None,
) -> list[str]:
    """Rules across deployments: nothing one deployment owns may be another's. Namespaces (task and
    agent), Google identities, launchers and secrets are each one deployment's only."""
    namespaces = [d.namespace for d in deployments] + [
        d.agent.namespace for d in deployments if d.agent and d.agent.namespace
    ]
    identities = [d.google_identity for d in deployments if d.google_identity]
    problems = []
    for what, values in (
        ("names", [d.name for d in deployments]),
        ("namespaces (task and agent)", namespaces),
        ("Google identities (astro_identity, agent.google_service_account)", identities),
        ("launcher account ids", [d.launcher_id for d in deployments if d.launcher_id]),
        ("secret ids", [d.secret_id for d in deployments]),
    ):
        dupes = sorted({x for x in values if values.count(x) > 1})
        if dupes:
            problems.append(f"{what} must be unique across deployments: {', '.join(dupes)}")
    if project_id is None:
        return problems
    for i, d in enumerate(deployments):
        where = d.secret_project(project_id)
        if where != project_id and secret_manager is not None and secret_manager.kms_keys:
            problems.append(
                f"deployments[{i}].existing_secrets_backend.project_id: secret_manager.kms_keys are "
                f"granted to the Secret Manager agent of {project_id} only, not of {where}"
            )
        if d.execution == "remote":
            bucket = xcom_bucket_name(project_id, d.name)
            if bucket.startswith("goog") or "google" in bucket:
                problems.append(
                    f"deployments[{i}].name: the XCom bucket {bucket} would start with 'goog' or "
                    "contain 'google', which Cloud Storage bucket names may not"
                )
    return problems


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
