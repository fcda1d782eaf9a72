"""Airflow deployments (their agents: agent.py; where their connection secrets are stored:
secrets.py; the naming rules: names.py).

Two execution modes (Astro "Execution mode"): `hosted`, where Astro runs the workers and tasks run as
the deployment's Astro identity, and `remote` (Astro Remote Execution, Airflow 3), where the Remote
Execution Agent runs the DAG processor, triggerer and workers in the customer's Kubernetes and tasks
run as the agent pods' own identity (Astro docs remote-execution-get-started). A remote deployment's
agents run in this cluster (`this_cluster`: KubernetesPodOperator then runs in-cluster) or
elsewhere (`external`: they reach the cluster like a hosted deployment does, as their Google
service account)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.config._base import (
    AccountId,
    _matching,
    _Model,
)
from components.config.agent import (
    AgentConfig,
    XComStorageConfig,
    xcom_bucket_name,
)
from components.config.names import (
    AIRFLOW_POOL,
    AIRFLOW_POOL_RULE,
    CONN_ID,
    CONN_ID_RULE,
    DEPLOYMENT_NAME,
    DEPLOYMENT_NAME_RULE,
    KSA_NAME_RULE,
    NAMESPACE_RULE,
    QUANTITY_RULE,
    SA_EMAIL_RULE,
    SECRET_ID,
    LaunchMode,
    Quantity,
    SaEmail,
    _check_namespace,
)
from components.config.secrets import (
    ExistingSecretsBackendConfig,
    SecretManagerConfig,
)

# Re-exported: importers name them from here (components.config, components.airflow.xcom_bucket).
__all__ = [
    "AgentConfig",
    "CONN_ID_RULE",
    "DEPLOYMENT_NAME_RULE",
    "KSA_NAME_RULE",
    "ExistingSecretsBackendConfig",
    "NAMESPACE_RULE",
    "QUANTITY_RULE",
    "SA_EMAIL_RULE",
    "SecretManagerConfig",
    "XComStorageConfig",
    "xcom_bucket_name",
]


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
            "`impersonation`: a launcher service account (created by the bootstrap, docs/day0.md); "
            "the Astro identity may only mint its tokens. `adc`: the Astro identity itself is "
            "granted access (no extra account). "
            "Not used with agent placement `this_cluster` (in-cluster)."
        ),
    )
    launcher_account_id: AccountId | None = Field(
        default=None,
        description=(
            "Account id of the launcher service account (impersonation mode); default `<name>-kpo`. "
            "The bootstrap creates it: re-run it after a change (docs/day0.md)."
        ),
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
