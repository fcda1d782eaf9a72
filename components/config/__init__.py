"""Typed stack configuration: the one place every setting is defined and documented.

The stack reads one structured object, `astro-gke-gpu:platform`, from `Pulumi.<stack>.yaml` and
validates it here before any resource is registered. Each field's description is the reference
documentation (docs/config-reference.md is generated from it: `python -m offline.readme`).

Validation collects every problem at once; :func:`load` raises a single :class:`ConfigError` whose
lines name the config path and the rule broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pulumi
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from components.config._base import (
    AR_REPO_RULE,
    CONFIG_KEY,
    GKE_NAME_RULE,
    KMS_KEY_RULE,
    POOL_NAME_RULE,
    PROJECT_ID_RULE,
    SA_ACCOUNT_ID_RULE,
    ConfigError,
    ProjectId,
    _check_gcp_labels,
    _ctx,
    _Model,
)
from components.config.classes import GpuClassConfig
from components.config.cluster import (
    AuthorizedNetwork,
    ClusterConfig,
    ControlPlaneConfig,
    MaintenanceWindowConfig,
)
from components.config.deployments import (
    AIRFLOW_POOL_RULE,
    CONN_ID_RULE,
    DEPLOYMENT_NAME_RULE,
    NAMESPACE_RULE,
    QUANTITY_RULE,
    SA_EMAIL_RULE,
    AirflowDeploymentConfig,
    ContainerDefaults,
    SecretManagerConfig,
    isolation_problems,
)
from components.config.kueue import (
    KueueConfig,
    KueueDeploymentConfig,
    KueuePreemptionConfig,
    ProvisioningRequestConfig,
    devices_per_node,
)
from components.config.network import CreateNetworkConfig, ExistingNetworkConfig, NetworkConfig
from components.config.observability import ObservabilityConfig
from components.config.pools import (
    GpuPoolConfig,
    GpuSharingConfig,
    NodeServiceAccountConfig,
    PoolSettings,
    SystemPoolConfig,
)
from components.gke import catalog

__all__ = [
    "AIRFLOW_POOL_RULE",
    "AR_REPO_RULE",
    "CONFIG_KEY",
    "CONN_ID_RULE",
    "DEPLOYMENT_NAME_RULE",
    "GKE_NAME_RULE",
    "KMS_KEY_RULE",
    "NAMESPACE_RULE",
    "POOL_NAME_RULE",
    "PROJECT_ID_RULE",
    "QUANTITY_RULE",
    "SA_ACCOUNT_ID_RULE",
    "SA_EMAIL_RULE",
    "AirflowDeploymentConfig",
    "AuthorizedNetwork",
    "ClusterConfig",
    "ConfigError",
    "ContainerDefaults",
    "ControlPlaneConfig",
    "CreateNetworkConfig",
    "ExistingNetworkConfig",
    "GpuClassConfig",
    "GpuPoolConfig",
    "GpuSharingConfig",
    "KueueConfig",
    "KueueDeploymentConfig",
    "KueuePreemptionConfig",
    "MaintenanceWindowConfig",
    "NetworkConfig",
    "NodeServiceAccountConfig",
    "ObservabilityConfig",
    "PoolSettings",
    "ProvisioningRequestConfig",
    "SecretManagerConfig",
    "StackConfig",
    "SystemPoolConfig",
    "from_pulumi",
    "load",
]


class StackConfig(_Model):
    """`astro-gke-gpu:platform` in Pulumi.<stack>.yaml."""

    project_id: ProjectId = Field(description="Google Cloud project that holds every resource.")
    location: str = Field(
        description="A zone (zonal cluster, e.g. us-central1-a) or a region (regional cluster, e.g. us-central1)."
    )
    environment: Literal["dev", "staging", "prod"] = Field(
        description="Environment class; prod enforces deletion protection."
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="GCP labels on every labelable resource; `environment` and `managed-by` are added.",
    )
    network: NetworkConfig = Field(
        description="`mode: create` (the stack builds VPC, subnet, Cloud NAT) or `mode: existing`."
    )
    cluster: ClusterConfig = Field(description="The GKE cluster itself.")
    node_service_account: NodeServiceAccountConfig = Field(
        description="The dedicated service account GKE nodes run as."
    )
    system_pool: SystemPoolConfig = Field(default_factory=SystemPoolConfig)
    gpu_pools: list[GpuPoolConfig] = Field(
        min_length=1, description="GPU node pools; at least one."
    )
    gpu_classes: list[GpuClassConfig] = Field(
        default_factory=list,
        description=(
            "Custom ComputeClasses: ordered fallbacks over `gpu_pools` (each pool in at most one)."
        ),
    )
    secret_manager: SecretManagerConfig = Field(default_factory=SecretManagerConfig)
    deployments: list[AirflowDeploymentConfig] = Field(
        default_factory=list,
        description="Astro deployments that launch pods here; each gets its own namespace and identity.",
    )

    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    kueue: KueueConfig = Field(
        default_factory=KueueConfig,
        description="Opt-in: GPU sharing across deployments with Kueue (docs/gpu-sharing.md).",
    )

    @field_validator("kueue")
    @classmethod
    def _kueue_fits(cls, v: KueueConfig, info: ValidationInfo) -> KueueConfig:
        if not v.enabled and v.provisioning_request is not None:
            raise ValueError(
                "provisioning_request: only with kueue.enabled (a queued-provisioning pool gets "
                "nodes only through the ProvisioningRequests Kueue creates)"
            )
        if not v.enabled or "gpu_pools" not in info.data or "deployments" not in info.data:
            return v  # off, or the pools/deployments are invalid and already reported
        problems = kueue_problems(
            v, info.data["gpu_pools"], info.data["deployments"], bool(_ctx(info, "zonal"))
        )
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @field_validator("observability")
    @classmethod
    def _dcgm_needs_managed_drivers(
        cls, v: ObservabilityConfig, info: ValidationInfo
    ) -> ObservabilityConfig:
        pools = info.data.get("gpu_pools") or []
        own = [p.name for p in pools if p.driver_version == "INSTALLATION_DISABLED"]
        if v.self_deployed_dcgm and own:
            raise ValueError(
                f"dcgm_source self-deployed needs GKE-managed GPU drivers, but {', '.join(own)} "
                "sets driver_version INSTALLATION_DISABLED (the exporter and nv-hostengine mount "
                "GKE's driver install directory /home/kubernetes/bin/nvidia as a hostPath of type "
                "Directory: Google's example, components/observability/dcgm_exporter.py); set dcgm: false or "
                "let GKE install the driver"
            )
        if v.dcgm and own:
            raise ValueError(
                f"dcgm needs GKE-managed GPU drivers, but {', '.join(own)} sets driver_version "
                "INSTALLATION_DISABLED (GKE installs its DCGM exporter against the drivers it "
                'manages: "Collect and view DCGM metrics"); set dcgm: false or let GKE install '
                "the driver"
            )
        if v.notifies(str(_ctx(info, "environment"))) and not v.notification_channels:
            raise ValueError(
                "alerts notify (notify unset outside dev, or true) but notification_channels is "
                "empty: name at least one existing channel, or set notify: false"
            )
        return v

    @field_validator("location")
    @classmethod
    def _location(cls, v: str) -> str:
        if not catalog.is_location(v):
            raise ValueError("not a known GCP region or zone (see components/gke/catalog.py)")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        _check_gcp_labels(v)
        return v

    @field_validator("gpu_pools")
    @classmethod
    def _unique_pools(cls, v: list[GpuPoolConfig], info: ValidationInfo) -> list[GpuPoolConfig]:
        names = [p.name for p in v]
        system = info.data.get("system_pool")
        if system is not None:
            names.append(system.name)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                f"node pool names must be unique (incl. system_pool): {', '.join(dupes)}"
            )
        return v

    @field_validator("gpu_classes")
    @classmethod
    def _classes_over_own_pools(
        cls, v: list[GpuClassConfig], info: ValidationInfo
    ) -> list[GpuClassConfig]:
        if "gpu_pools" not in info.data:
            return v  # the pools are invalid and already reported: no second, derived error
        pools = {p.name: p for p in info.data["gpu_pools"]}
        problems = []
        names = [c.name for c in v]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"class names must be unique: {', '.join(dupes)}")
        # Classes and pools share one namespace: the keys of the gpu_scheduling output.
        if clash := sorted(set(names) & set(pools)):
            problems.append(f"a class may not be named like a GPU pool: {', '.join(clash)}")
        members = [p for c in v for p in c.pools]
        if twice := sorted({p for p in members if members.count(p) > 1}):
            problems.append(f"a pool belongs to at most one class: {', '.join(twice)}")
        for c in v:
            if unknown := [p for p in c.pools if p not in pools]:
                problems.append(f"{c.name}: no GPU pool named {', '.join(unknown)}")
                continue
            shapes = {_pod_shape(pools[p]) for p in c.pools}
            if len(shapes) > 1:
                problems.append(
                    f"{c.name}: members must share accelerator type, count, sharing and "
                    "partition size (a pod that fits one member must fit every member)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @field_validator("deployments")
    @classmethod
    def _isolated(
        cls, v: list[AirflowDeploymentConfig], info: ValidationInfo
    ) -> list[AirflowDeploymentConfig]:
        problems = isolation_problems(
            v,
            project_id=info.data.get("project_id"),
            secret_manager=info.data.get("secret_manager"),
        )
        if problems:
            raise ValueError("; ".join(problems))
        return v

    # Derived facts -------------------------------------------------------------------------

    @property
    def region(self) -> str:
        return catalog.region_of(self.location)

    @property
    def zonal(self) -> bool:
        return catalog.is_zone(self.location)

    @property
    def protect_live_objects(self) -> bool:
        """Prod: Pulumi `protect` on what a running Airflow deployment depends on (its secret,
        launcher identity and namespace), as on the cluster; removing one takes an explicit
        `pulumi state unprotect`."""
        return self.environment == "prod"

    def gpu_ceiling(self, deployment: AirflowDeploymentConfig) -> int:
        """GPUs the deployment's namespace quota and Airflow pool allow: its `gpu_quota`, plus
        what it may borrow through Kueue (a borrowing task's pod must pass the quota first)."""
        if not self.kueue.enabled:
            return deployment.gpu_quota
        limits = self.kueue.deployments.get(deployment.name)
        return deployment.gpu_quota + (limits.borrowing_limit if limits else 0)

    @property
    def all_labels(self) -> dict[str, str]:
        return {**self.labels, "environment": self.environment, "managed-by": "pulumi"}


def pool_capacity(pool: GpuPoolConfig, zonal: bool) -> int | None:
    """`nvidia.com/gpu` the pool can hold at most: max_nodes per zone x zones x devices per node;
    None when its zones are the cluster's defaults (a regional cluster's zone count is GKE's)."""
    zones = 1 if zonal else len(pool.zones)
    if not zones:
        return None
    partitions = (
        catalog.MIG_PARTITION_COUNTS[pool.accelerator_type][pool.partition_size]
        if pool.partition_size
        else 1
    )
    clients = pool.sharing.max_shared_clients_per_gpu if pool.sharing else None
    return pool.max_nodes * zones * devices_per_node(pool.accelerator_count, clients, partitions)


def kueue_problems(
    v: KueueConfig,
    pools: list[GpuPoolConfig],
    deployments: list[AirflowDeploymentConfig],
    zonal: bool,
) -> list[str]:
    """What makes the Kueue config unsafe: unknown names, lending more than the quota, and a pool
    whose flavor the cohort could over-admit (the deployments' nominal quotas, which borrowing only
    moves between them, must fit the pool)."""
    problems = []
    by_name = {d.name: d for d in deployments}
    if not deployments:
        problems.append("enabled without deployments: there is nothing to queue")
    if unknown := sorted(set(v.deployments) - set(by_name)):
        problems.append(f"deployments: no deployment named {', '.join(unknown)}")
    for name, limits in sorted(v.deployments.items()):
        d = by_name.get(name)
        if d and limits.lending_limit is not None and limits.lending_limit > d.gpu_quota:
            problems.append(
                f"deployments.{name}.lending_limit {limits.lending_limit} exceeds its gpu_quota "
                f"{d.gpu_quota} (a deployment lends only its own nominal quota)"
            )
    nominal = sum(d.gpu_quota for d in deployments)
    for pool in pools:
        capacity = pool_capacity(pool, zonal)
        if capacity is None:
            problems.append(
                f"GPU pool {pool.name} must list its zones: its flavor's capacity is max_nodes x "
                "zones x GPUs per node"
            )
            continue
        for d in deployments:
            own = v.deployments.get(d.name)
            reach = d.gpu_quota + (own.borrowing_limit if own else 0)
            if reach > capacity:
                problems.append(
                    f"deployments.{d.name}: gpu_quota {d.gpu_quota} + borrowing_limit "
                    f"{reach - d.gpu_quota} exceeds GPU pool {pool.name}'s capacity {capacity}"
                )
        if nominal > capacity:
            problems.append(
                f"the deployments' gpu_quota total {nominal} exceeds GPU pool {pool.name}'s "
                f"capacity {capacity} (max_nodes x zones x devices per node): Kueue would admit "
                "more GPUs than the pool can hold; raise its max_nodes or lower the quotas"
            )
    if v.provisioning_request:
        # GKE's queued provisioning takes a pool that scales from zero with location policy ANY,
        # no reservation and no auto-repair: what a flex-start pool already is
        # (components/config/pools.py `flex_start`; components/gke/node_config.py).
        flex = {p.name for p in pools if p.flex_start}
        if bad := [p for p in v.provisioning_request.pools if p not in flex]:
            problems.append(
                f"provisioning_request.pools: {', '.join(bad)} is not a flex-start GPU pool "
                "(queued provisioning is for flex-start pools: scale from zero, location policy "
                "ANY, no reservation, no auto-repair)"
            )
    return problems


def _pod_shape(pool: GpuPoolConfig) -> tuple[object, ...]:
    """What a pod on the pool may request and gets: equal across the members of a class."""
    return (pool.accelerator_type, pool.accelerator_count, pool.sharing, pool.partition_size)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("create", "existing") and out.endswith("network"):
            continue  # discriminator tag, not a key the user wrote
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def load(raw: Any, key: str = CONFIG_KEY) -> StackConfig:
    """Validate a raw config object; raise one ConfigError listing every problem."""
    if not isinstance(raw, Mapping):
        raise ConfigError([("(root)", f"must be an object, got {type(raw).__name__}")], key)
    location = raw.get("location")
    context: dict[str, Any] = {"environment": raw.get("environment")}
    if isinstance(location, str) and catalog.is_location(location):
        context |= {"region": catalog.region_of(location), "zonal": catalog.is_zone(location)}
    try:
        return StackConfig.model_validate(raw, context=context)
    except ValidationError as exc:
        problems = [(_path(e["loc"]), _message(e)) for e in exc.errors()]
        raise ConfigError(problems, key) from None


def from_pulumi() -> StackConfig:
    """Read `<project>:platform` once. The only place that touches pulumi.Config."""
    config = pulumi.Config()
    return load(config.require_object(CONFIG_KEY), f"{pulumi.get_project()}:{CONFIG_KEY}")
