"""Node config: the node service account, the settings every pool shares, the system pool and
the GPU pools."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.config._base import (
    AR_REPO,
    AR_REPO_RULE,
    K8S_LABEL_KEY,
    K8S_LABEL_RULE,
    K8S_LABEL_VALUE,
    AccountId,
    PoolName,
    _ctx,
    _Model,
)
from components.gke import catalog


class NodeServiceAccountConfig(_Model):
    account_id: AccountId = Field(
        description=(
            "Account id of the dedicated node service account (no keys). The bootstrap creates it "
            "(docs/day0.md); this stack grants its roles."
        )
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

    name: PoolName = Field(description="Node pool name.")
    machine_type: str = Field(description="Compute Engine machine type of the nodes.")
    min_nodes: int = Field(ge=0, le=1000, description="Autoscaling minimum per zone.")
    max_nodes: int = Field(ge=1, le=1000, description="Autoscaling maximum per zone.")
    disk_size_gb: int = Field(default=100, ge=20, le=65536, description="Boot disk size.")
    disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced"] = Field(
        default="pd-balanced",
        description=(
            "Boot disk type. A4X, A4, A3 Ultra and G4 (and the N4/C4 CPU series) boot only from "
            "`hyperdisk-balanced`; A2, G2 and N1 only from Persistent Disk (G2: not pd-standard)."
        ),
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
    upgrade_strategy: Literal["SURGE", "AUTOSCALED_BLUE_GREEN"] = Field(
        default="SURGE",
        description=(
            "`SURGE`: nodes are replaced a few at a time (max_surge/max_unavailable); a drained "
            "node's task pods are protected by their namespace's PodDisruptionBudget for up to "
            "1 hour. `AUTOSCALED_BLUE_GREEN`: GKE cordons the old nodes, new pods go to new "
            "nodes the autoscaler adds as needed (no spare GPUs up front), and running tasks "
            "finish on the old ones for `drain_wait_hours` before they are drained: for long GPU "
            "tasks (GKE BlueGreenSettings.AutoscaledRolloutPolicy)."
        ),
    )
    drain_wait_hours: int | None = Field(
        default=None,
        ge=0,
        le=168,
        description=(
            "`AUTOSCALED_BLUE_GREEN` only: hours the cordoned old nodes keep running tasks before "
            "GKE drains them (0-168, GKE's range; unset: GKE's default of 3 days)."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _surge_settings_only_with_surge(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("upgrade_strategy") == "AUTOSCALED_BLUE_GREEN":
            given = [k for k in ("max_surge", "max_unavailable") if k in raw]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: only used with upgrade_strategy SURGE, not "
                    "AUTOSCALED_BLUE_GREEN"
                )
        return raw

    @field_validator("drain_wait_hours")
    @classmethod
    def _blue_green_only(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("upgrade_strategy") != "AUTOSCALED_BLUE_GREEN":
            raise ValueError("only used with upgrade_strategy AUTOSCALED_BLUE_GREEN")
        return v

    @field_validator("disk_type")
    @classmethod
    def _boot_disk_fits_series(cls, v: str, info: ValidationInfo) -> str:
        machine = info.data.get("machine_type")
        allowed = catalog.boot_disks(machine) if machine else None
        if allowed is not None and v not in allowed:
            raise ValueError(
                f"{machine} cannot boot from {v}; it takes {', '.join(sorted(allowed))} "
                "(Compute Engine machine series, supported disk types)"
            )
        return v

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

    name: PoolName = Field(
        default="system", description="Node pool name (prefix of the GKE pool name)."
    )
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


RESERVATION_NAME = re.compile(
    r"^(?:projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/reservations/)?[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)
DISK_IMAGE = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/images/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)


class ReservationConfig(_Model):
    """Which Compute Engine reservations the pool's VMs consume (node_config.reservation_affinity;
    GKE "Consuming reserved zonal resources")."""

    affinity: Literal["ANY_RESERVATION", "SPECIFIC_RESERVATION", "NO_RESERVATION"] = Field(
        description="`ANY_RESERVATION`: any matching reservation; `SPECIFIC_RESERVATION`: only `name`; "
        "`NO_RESERVATION`: never (keeps reserved capacity for other workloads)."
    )
    name: str | None = Field(
        default=None,
        description="With SPECIFIC_RESERVATION: the reservation, or projects/<p>/reservations/<name> "
        "for a shared one.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None, info: ValidationInfo) -> str | None:
        specific = info.data.get("affinity") == "SPECIFIC_RESERVATION"
        if specific and v is None:
            raise ValueError("required with affinity SPECIFIC_RESERVATION")
        if not specific and v is not None:
            raise ValueError("only used with affinity SPECIFIC_RESERVATION")
        if v is not None and not RESERVATION_NAME.match(v):
            raise ValueError(
                "must be <reservation> or projects/<project>/reservations/<reservation>"
            )
        return v


class GpuPoolConfig(PoolSettings):
    """One GPU node pool. Tainted `nvidia.com/gpu=present:NoSchedule`; drivers installed by GKE."""

    name: PoolName = Field(
        description=(
            "Node pool name: prefix of the GKE pool name (`<name>-<suffix>`, generated so a "
            "replacement never collides) and the value of the `gpu-pool` node label pods select."
        )
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
    driver_version: Literal["DEFAULT", "LATEST", "INSTALLATION_DISABLED"] = Field(
        default="DEFAULT",
        description=(
            "GKE-managed NVIDIA driver version. `INSTALLATION_DISABLED`: you install the driver "
            "yourself (NVIDIA's DaemonSet); GKE's DCGM metrics then cannot run, so it needs "
            "`observability.dcgm: false` (see docs/observability.md)."
        ),
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
    flex_start: bool = Field(
        default=False,
        description=(
            'Dynamic Workload Scheduler flex-start VMs (GKE "About flex-start", GKE >= '
            "1.32.2-gke.1652000): capacity when it can be found, nodes for up to 7 days, no "
            "preemption. The stack sets what GKE requires of such a pool: scale from zero, location "
            "policy ANY, no reservations, no auto-repair; GKE upgrades it with its SHORT_LIVED "
            "strategy. Not with spot, reservations or AUTOSCALED_BLUE_GREEN; not on A4X."
        ),
    )
    reservation: ReservationConfig | None = Field(
        default=None,
        description="Consume Compute Engine reservations (on-demand pools only: Spot VMs cannot).",
    )
    preload_disk_image: str | None = Field(
        default=None,
        description=(
            "projects/<p>/global/images/<image>: a disk image holding the task images, attached as "
            "a secondary boot disk in CONTAINER_IMAGE_CACHE mode so pods start without pulling "
            '(image streaming stays on). A new image means a new pool. See docs/gpu.md, "GPU '
            'capacity: classes, provisioning models, preloaded images".'
        ),
    )

    @field_validator("flex_start")
    @classmethod
    def _flex_start(cls, v: bool, info: ValidationInfo) -> bool:
        if not v:
            return v
        conflicts = []
        if info.data.get("spot"):
            conflicts.append("spot (a separate provisioning model)")
        if info.data.get("min_nodes"):
            conflicts.append("min_nodes > 0 (flex-start pools scale from zero)")
        if info.data.get("upgrade_strategy") != "SURGE":
            conflicts.append("AUTOSCALED_BLUE_GREEN (GKE upgrades flex-start nodes SHORT_LIVED)")
        machine = info.data.get("machine_type") or ""
        if catalog.series_of(machine) == "a4x":
            conflicts.append("A4X (no Flex-start VMs: capacity is reservation-only)")
        if conflicts:
            raise ValueError(f"flex_start cannot be combined with {'; '.join(conflicts)}")
        return v

    @field_validator("reservation")
    @classmethod
    def _reservation(
        cls, v: ReservationConfig | None, info: ValidationInfo
    ) -> ReservationConfig | None:
        if v is not None and v.affinity != "NO_RESERVATION" and info.data.get("spot"):
            raise ValueError(
                'Spot VMs cannot consume reservations (Compute Engine "Consume reservations", '
                "limitations); use NO_RESERVATION or an on-demand pool"
            )
        if v is not None and v.affinity != "NO_RESERVATION" and info.data.get("flex_start"):
            raise ValueError(
                "flex-start pools consume no reservation (GKE requires NO_RESERVATION)"
            )
        return v

    @field_validator("preload_disk_image")
    @classmethod
    def _preload(cls, v: str | None) -> str | None:
        if v is not None and not DISK_IMAGE.match(v):
            raise ValueError("must be projects/<project>/global/images/<image>")
        return v

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
