"""Typed stack configuration: the one place every setting is defined and documented.

The stack reads one structured object, `astro-gke-gpu:platform`, from `Pulumi.<stack>.yaml` and
validates it here before any resource is registered. Each field's description is the reference
documentation (README's config reference is generated from it: `python -m offline.config_doc`).

Validation collects every problem at once; :func:`load` raises a single :class:`ConfigError` whose
lines name the config path and the rule broken.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from components import catalog

CONFIG_KEY = "platform"

# Patterns, each with the rule it encodes (used verbatim in error messages).
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
PROJECT_ID_RULE = "6-30 characters: lowercase letters, digits, hyphens; starts with a letter"
GKE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
GKE_NAME_RULE = (
    "1-40 characters: lowercase letters, digits, hyphens; starts with a letter, ends alphanumeric"
    " (GKE name and DNS-1123 label)"
)
SA_ACCOUNT_ID = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
SA_ACCOUNT_ID_RULE = "6-30 characters: lowercase letters, digits, hyphens; starts with a letter"
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
LABEL_RULE = "GCP label: key 1-63 of [a-z0-9_-] starting with a letter, value 0-63 of [a-z0-9_-]"
K8S_LABEL_KEY = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
K8S_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
K8S_LABEL_RULE = "Kubernetes label: [prefix/]name of at most 63 alphanumerics, '-', '_', '.'"
KMS_KEY = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{1,63}"
    r"/cryptoKeys/[A-Za-z0-9_-]{1,63}$"
)
KMS_KEY_RULE = "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"
AR_REPO = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/repositories/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)
AR_REPO_RULE = "projects/<project>/locations/<location>/repositories/<repository>"
NETWORK_REF = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/networks/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)
SUBNET_REF = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/regions/(?P<region>[a-z0-9-]+)/subnetworks/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)
RANGE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")

PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _matching(pattern: re.Pattern[str], rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


ProjectId = Annotated[str, _matching(PROJECT_ID, PROJECT_ID_RULE)]
GkeName = Annotated[str, _matching(GKE_NAME, GKE_NAME_RULE)]
AccountId = Annotated[str, _matching(SA_ACCOUNT_ID, SA_ACCOUNT_ID_RULE)]


class ConfigError(pulumi.RunError):
    """Invalid stack config. RunError: the Pulumi CLI prints the message without a traceback."""

    def __init__(self, problems: list[tuple[str, str]], key: str = CONFIG_KEY) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {path}: {rule}" for path, rule in problems)
        super().__init__(f"invalid stack config '{key}' ({len(problems)} problem(s)):\n{lines}")


class _Model(BaseModel):
    # validate_default: cross-field rules must also hold when one side is left at its default.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _ctx(info: ValidationInfo, key: str) -> Any:
    return (info.context or {}).get(key)


def _check_gcp_labels(value: Mapping[str, str]) -> Mapping[str, str]:
    bad = [k for k, v in value.items() if not LABEL_KEY.match(k) or not LABEL_VALUE.match(v)]
    if bad:
        raise ValueError(f"{', '.join(sorted(bad))}: {LABEL_RULE}")
    return value


def _private(net: ipaddress.IPv4Network) -> bool:
    return any(net.subnet_of(r) for r in PRIVATE_RANGES)


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------


class CreateNetworkConfig(_Model):
    """The stack creates a VPC, one subnet with pod and service secondary ranges, a Cloud Router
    and Cloud NAT (private nodes have no external IPs, so image pulls go through NAT)."""

    mode: Literal["create"] = Field(description="`create`: the stack owns the network.")
    subnet_cidr: ipaddress.IPv4Network = Field(
        description="Primary range of the node subnet (private, RFC 1918 / RFC 6598)."
    )
    pods_cidr: ipaddress.IPv4Network = Field(
        description="Secondary range for pod IPs (VPC-native)."
    )
    services_cidr: ipaddress.IPv4Network = Field(description="Secondary range for Service IPs.")
    flow_logs: bool = Field(
        default=True, description="VPC flow logs on the subnet (CIS GKE 5.6.x)."
    )

    @field_validator("subnet_cidr", "pods_cidr", "services_cidr")
    @classmethod
    def _private_and_disjoint(
        cls, v: ipaddress.IPv4Network, info: ValidationInfo
    ) -> ipaddress.IPv4Network:
        if not _private(v):
            raise ValueError(
                f"{v} must be a private range (10/8, 172.16/12, 192.168/16, 100.64/10)"
            )
        for other in ("subnet_cidr", "pods_cidr"):
            prev = info.data.get(other)
            if other != info.field_name and prev is not None and v.overlaps(prev):
                raise ValueError(f"{v} overlaps {other} {prev}; ranges must be disjoint")
        return v


class ExistingNetworkConfig(_Model):
    """Use a network and subnet that already exist (e.g. a Shared VPC). The subnet must already
    have the two secondary ranges and a NAT for private nodes."""

    mode: Literal["existing"] = Field(
        description="`existing`: the stack only references the network."
    )
    network: str = Field(description="Network self link: projects/<p>/global/networks/<name>.")
    subnetwork: str = Field(description="Subnet: projects/<p>/regions/<region>/subnetworks/<name>.")
    pods_range_name: str = Field(description="Name of the subnet's secondary range for pods.")
    services_range_name: str = Field(
        description="Name of the subnet's secondary range for Services."
    )

    @field_validator("network")
    @classmethod
    def _network(cls, v: str) -> str:
        if not NETWORK_REF.match(v):
            raise ValueError("must be projects/<project>/global/networks/<name>")
        return v

    @field_validator("subnetwork")
    @classmethod
    def _subnetwork(cls, v: str, info: ValidationInfo) -> str:
        m = SUBNET_REF.match(v)
        if not m:
            raise ValueError("must be projects/<project>/regions/<region>/subnetworks/<name>")
        region = _ctx(info, "region")
        if region and m.group("region") != region:
            raise ValueError(
                f"subnet region {m.group('region')} differs from the cluster's region {region}"
            )
        return v

    @field_validator("pods_range_name", "services_range_name")
    @classmethod
    def _range(cls, v: str) -> str:
        if not RANGE_NAME.match(v):
            raise ValueError("must be a GCP resource name (lowercase letters, digits, hyphens)")
        return v


NetworkConfig = Annotated[CreateNetworkConfig | ExistingNetworkConfig, Field(discriminator="mode")]


# --------------------------------------------------------------------------------------------
# Cluster
# --------------------------------------------------------------------------------------------


class AuthorizedNetwork(_Model):
    cidr_block: ipaddress.IPv4Network = Field(
        description="Source range allowed to reach the IP endpoint."
    )
    display_name: str = Field(min_length=1, max_length=100, description="Shown in the console.")

    @field_validator("cidr_block")
    @classmethod
    def _not_world(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if v.prefixlen < 8:
            raise ValueError(
                f"{v} is too broad: at most a /8; 0.0.0.0/0 (the internet) is never allowed"
            )
        return v


class ControlPlaneConfig(_Model):
    """How Astro (outside the VPC) reaches the control plane."""

    access: Literal["dns", "authorized_networks"] = Field(
        default="dns",
        description=(
            "`dns` (default): the DNS-based endpoint with external traffic allowed, IAM-gated by "
            "`container.clusters.connect`; the IP endpoints are off. `authorized_networks`: the "
            "public IP endpoint, reachable only from `authorized_networks`."
        ),
    )
    authorized_networks: list[AuthorizedNetwork] = Field(
        default_factory=list,
        description="Egress ranges of the Astro deployments; required with `access: authorized_networks`.",
    )

    @field_validator("authorized_networks")
    @classmethod
    def _networks_match_access(
        cls, v: list[AuthorizedNetwork], info: ValidationInfo
    ) -> list[AuthorizedNetwork]:
        access = info.data.get("access")
        if access == "authorized_networks" and not v:
            raise ValueError("required (at least one range) when access is 'authorized_networks'")
        if access == "dns" and v:
            raise ValueError(
                "only used with access 'authorized_networks'; the IP endpoint is off with 'dns'"
            )
        return v


class MaintenanceWindowConfig(_Model):
    """A recurring maintenance window (GKE needs 48h of availability in any 32 days)."""

    start_time: datetime = Field(
        description="RFC 3339 start of the first window, e.g. 2025-01-04T03:00:00Z."
    )
    end_time: datetime = Field(description="RFC 3339 end of the first window.")
    recurrence: str = Field(
        default="FREQ=WEEKLY;BYDAY=SA,SU",
        description="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=SA,SU.",
    )

    @field_validator("start_time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2025-01-04T03:00:00Z")
        return v

    @field_validator("end_time")
    @classmethod
    def _after_start(cls, v: datetime, info: ValidationInfo) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2025-01-04T07:00:00Z")
        start = info.data.get("start_time")
        if start is not None and v - start < timedelta(hours=4):
            raise ValueError("window must last at least 4 hours after start_time")
        return v

    @field_validator("recurrence")
    @classmethod
    def _rrule(cls, v: str) -> str:
        if not re.match(r"^FREQ=(DAILY|WEEKLY|MONTHLY)(;[A-Z]+=[A-Z0-9,+-]+)*$", v):
            raise ValueError("must be an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=SA,SU")
        return v

    def rfc3339(self, which: Literal["start_time", "end_time"]) -> str:
        return getattr(self, which).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClusterConfig(_Model):
    name: GkeName = Field(description="GKE cluster name.")
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = Field(
        default="REGULAR", description="GKE release channel (auto-upgrades follow it)."
    )
    deletion_protection: bool = Field(
        description=(
            "GKE deletion protection and Pulumi `protect` on the cluster. Required true in prod."
        )
    )
    control_plane: ControlPlaneConfig = Field(default_factory=ControlPlaneConfig)
    maintenance: MaintenanceWindowConfig
    binary_authorization: bool = Field(
        default=False,
        description="Enforce the project's Binary Authorization policy (PROJECT_SINGLETON_POLICY_ENFORCE).",
    )
    secrets_encryption_key: str | None = Field(
        default=None,
        description=(
            "Cloud KMS key for application-layer Secret encryption (etcd). The stack grants the GKE "
            "service agent encrypter/decrypter on this key only. Must be in the cluster's region."
        ),
    )

    @field_validator("deletion_protection")
    @classmethod
    def _prod_protected(cls, v: bool, info: ValidationInfo) -> bool:
        if _ctx(info, "environment") == "prod" and not v:
            raise ValueError("must be true when environment is prod")
        return v

    @field_validator("secrets_encryption_key")
    @classmethod
    def _kms(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if not KMS_KEY.match(v):
            raise ValueError(f"must be {KMS_KEY_RULE}")
        region = _ctx(info, "region")
        key_location = v.split("/")[3]
        if region and key_location != region:
            raise ValueError(f"key location {key_location} must be the cluster's region {region}")
        return v


# --------------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------------


class NodeServiceAccountConfig(_Model):
    account_id: AccountId = Field(
        description="Account id of the dedicated node service account (no keys)."
    )
    artifact_registry_repositories: list[str] = Field(
        default_factory=list,
        description=(
            "Artifact Registry repositories nodes pull private images from; the node account gets "
            "roles/artifactregistry.reader on each repository, never on the project."
        ),
    )

    @field_validator("artifact_registry_repositories")
    @classmethod
    def _repos(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if not AR_REPO.match(r)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: must be {AR_REPO_RULE}")
        if len(set(v)) != len(v):
            raise ValueError("repositories must be unique")
        return v


class PoolSettings(_Model):
    """Settings every node pool has."""

    name: GkeName = Field(description="Node pool name.")
    machine_type: str = Field(description="Compute Engine machine type of the nodes.")
    min_nodes: int = Field(ge=0, le=1000, description="Autoscaling minimum per zone.")
    max_nodes: int = Field(ge=1, le=1000, description="Autoscaling maximum per zone.")
    disk_size_gb: int = Field(default=100, ge=20, le=65536, description="Boot disk size.")
    disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard"] = Field(
        default="pd-balanced", description="Boot disk type."
    )
    spot: bool = Field(
        default=False,
        description="Spot VMs (cheaper, preemptible). Autoscaler location policy ANY when true.",
    )
    max_surge: int = Field(
        default=1, ge=0, le=100, description="Surge upgrade: extra nodes during an upgrade."
    )
    max_unavailable: int = Field(
        default=0, ge=0, le=100, description="Surge upgrade: nodes down at once."
    )

    @field_validator("max_nodes")
    @classmethod
    def _max_ge_min(cls, v: int, info: ValidationInfo) -> int:
        lo = info.data.get("min_nodes")
        if lo is not None and v < lo:
            raise ValueError(f"must be >= min_nodes ({lo})")
        return v

    @field_validator("max_unavailable")
    @classmethod
    def _upgrade_moves(cls, v: int, info: ValidationInfo) -> int:
        if v == 0 and info.data.get("max_surge") == 0:
            raise ValueError("max_surge and max_unavailable cannot both be 0")
        return v


class SystemPoolConfig(PoolSettings):
    """Small CPU pool for kube-system and other system pods, so GPU pools can scale to zero."""

    name: GkeName = Field(default="system", description="Node pool name.")
    machine_type: str = Field(default="e2-standard-4", description="Machine type (no GPU).")
    min_nodes: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="Autoscaling minimum per zone (>= 1: system pods need a home).",
    )
    max_nodes: int = Field(default=3, ge=1, le=1000, description="Autoscaling maximum per zone.")
    disk_size_gb: int = Field(default=50, ge=20, le=65536, description="Boot disk size.")

    @field_validator("machine_type")
    @classmethod
    def _cpu(cls, v: str) -> str:
        if not re.match(r"^[a-z][a-z0-9]*-[a-z]+(-[0-9]+)?$", v):
            raise ValueError("must be a machine type such as e2-standard-4")
        if v in catalog.gpu_machine_types() and not v.startswith("n1-"):
            raise ValueError("the system pool carries no GPU; pick a CPU machine type")
        return v


class GpuSharingConfig(_Model):
    strategy: Literal["TIME_SHARING", "MPS"] = Field(description="How containers share one GPU.")
    max_shared_clients_per_gpu: int = Field(ge=2, le=48, description="Containers per physical GPU.")


class GpuPoolConfig(PoolSettings):
    """One GPU node pool. Tainted `nvidia.com/gpu=present:NoSchedule`; drivers installed by GKE."""

    name: GkeName = Field(
        description="Node pool name (also the value of the `gpu-pool` node label)."
    )
    machine_type: str = Field(
        description="GPU machine type, e.g. g2-standard-8, n1-standard-8, a2-highgpu-1g."
    )
    accelerator_type: str = Field(
        description="GPU type, e.g. nvidia-l4; must fit the machine series."
    )
    accelerator_count: int = Field(
        ge=1, le=16, description="GPUs per node; fixed by the machine type on A/G series."
    )
    driver_version: Literal["DEFAULT", "LATEST"] = Field(
        default="DEFAULT", description="GKE-managed NVIDIA driver version."
    )
    sharing: GpuSharingConfig | None = Field(
        default=None, description="Optional time-sharing or MPS."
    )
    partition_size: str | None = Field(
        default=None, description="Optional MIG partition, e.g. 1g.5gb (A100/H100)."
    )
    min_nodes: int = Field(
        default=0, ge=0, le=1000, description="Autoscaling minimum per zone; 0 scales to zero."
    )
    zones: list[str] = Field(
        default_factory=list,
        description="Zones for this pool (where the GPU is offered); empty: the cluster's zones.",
    )
    node_labels: dict[str, str] = Field(
        default_factory=dict, description="Extra Kubernetes node labels."
    )

    @field_validator("machine_type")
    @classmethod
    def _machine(cls, v: str) -> str:
        if v not in catalog.gpu_machine_types():
            series = sorted(catalog.SERIES)
            raise ValueError(f"not a known GPU machine type (series {', '.join(series)})")
        return v

    @field_validator("accelerator_type")
    @classmethod
    def _accelerator(cls, v: str, info: ValidationInfo) -> str:
        if v not in catalog.ACCELERATORS:
            raise ValueError(
                f"unknown accelerator; known: {', '.join(sorted(catalog.ACCELERATORS))}"
            )
        machine = info.data.get("machine_type")
        if machine is None:
            return v
        series = catalog.SERIES[catalog.series_of(machine)]
        if v not in series.accelerators:
            raise ValueError(
                f"{v} is not offered on {machine} ({catalog.series_of(machine).upper()} series carries "
                f"{', '.join(sorted(series.accelerators))})"
            )
        expected = catalog.MACHINE_FAMILY_ACCELERATOR.get(catalog.family_of(machine))
        if expected and v != expected:
            raise ValueError(f"{machine} carries {expected}, not {v}")
        return v

    @field_validator("accelerator_count")
    @classmethod
    def _count(cls, v: int, info: ValidationInfo) -> int:
        machine, accel = info.data.get("machine_type"), info.data.get("accelerator_type")
        if machine is None or accel is None:
            return v
        series = catalog.SERIES[catalog.series_of(machine)]
        if series.fixed_counts is not None:
            fixed = series.fixed_counts[machine]
            if v != fixed:
                raise ValueError(f"{machine} carries exactly {fixed} GPU(s); set {fixed}")
        elif series.attachable_counts is not None:
            allowed = series.attachable_counts[accel]
            if v not in allowed:
                raise ValueError(f"{accel} attaches to N1 in counts {', '.join(map(str, allowed))}")
        return v

    @field_validator("partition_size")
    @classmethod
    def _mig(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        accel = info.data.get("accelerator_type")
        if accel is None:
            return v
        sizes = catalog.MIG_PARTITIONS.get(accel)
        if sizes is None:
            raise ValueError(f"{accel} does not support MIG partitions")
        if v not in sizes:
            raise ValueError(f"{accel} partitions are {', '.join(sorted(sizes))}")
        sharing = info.data.get("sharing")
        if sharing is not None and sharing.strategy == "MPS":
            raise ValueError("MIG partitions cannot be combined with MPS sharing")
        return v

    @field_validator("zones")
    @classmethod
    def _zones(cls, v: list[str], info: ValidationInfo) -> list[str]:
        unknown = [z for z in v if not catalog.is_zone(z)]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a known GCP zone")
        region = _ctx(info, "region")
        outside = [z for z in v if region and catalog.region_of(z) != region]
        if outside:
            raise ValueError(f"{', '.join(outside)}: not in the cluster's region {region}")
        if _ctx(info, "zonal") and v:
            raise ValueError("a zonal cluster's pools run in its zone; leave zones empty")
        if len(set(v)) != len(v):
            raise ValueError("zones must be unique")
        return v

    @field_validator("node_labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [
            k
            for k, val in v.items()
            if not K8S_LABEL_KEY.match(k) or not K8S_LABEL_VALUE.match(val)
        ]
        if bad:
            raise ValueError(f"{', '.join(sorted(bad))}: {K8S_LABEL_RULE}")
        reserved = [
            k
            for k in v
            if k.split("/")[0].endswith(("kubernetes.io", "k8s.io", "cloud.google.com"))
        ]
        if reserved:
            raise ValueError(f"{', '.join(sorted(reserved))}: reserved prefix, set by GKE")
        return v


# --------------------------------------------------------------------------------------------
# Airflow deployments and their connection secrets
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The stack
# --------------------------------------------------------------------------------------------


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
    secret_manager: SecretManagerConfig = Field(default_factory=SecretManagerConfig)
    deployments: list[AirflowDeploymentConfig] = Field(
        default_factory=list,
        description="Astro deployments that launch pods here; each gets its own namespace and identity.",
    )

    @field_validator("location")
    @classmethod
    def _location(cls, v: str) -> str:
        if not catalog.is_location(v):
            raise ValueError("not a known GCP region or zone (see components/catalog.py)")
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

    @field_validator("deployments")
    @classmethod
    def _isolated(cls, v: list[AirflowDeploymentConfig]) -> list[AirflowDeploymentConfig]:
        problems = []
        for what, values in (
            ("names", [d.name for d in v]),
            ("namespaces", [d.namespace for d in v]),
            ("astro identities", [d.astro_identity for d in v]),
            ("launcher account ids", [d.launcher_id for d in v if d.launcher_id]),
            ("secret ids", [d.secret_id for d in v]),
        ):
            dupes = sorted({x for x in values if values.count(x) > 1})
            if dupes:
                problems.append(f"{what} must be unique across deployments: {', '.join(dupes)}")
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
    def all_labels(self) -> dict[str, str]:
        return {**self.labels, "environment": self.environment, "managed-by": "pulumi"}


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
