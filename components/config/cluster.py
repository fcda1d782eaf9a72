"""Cluster config: control-plane access, maintenance, and cluster-wide security settings."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from components.config._base import KMS_KEY, KMS_KEY_RULE, GkeName, _ctx, _Model


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
        description=(
            "Enforce the project's Binary Authorization policy (PROJECT_SINGLETON_POLICY_ENFORCE). "
            "Required true in prod. Off by default elsewhere, on purpose: the cluster only applies "
            "the project's policy, and a dev project's policy must admit every image developers "
            "build, so enforcing it there blocks nothing; a dev project whose policy is in dry-run "
            "(`enforcementMode: DRYRUN_AUDIT_LOG_ONLY`) can set true to log what prod would refuse."
        ),
    )
    intranode_visibility: bool = Field(
        default=True,
        description=(
            "Route pod-to-pod traffic on one node through the VPC, so flow logs and firewall "
            "rules see it (works with Dataplane V2). Costs more flow-log volume. Required true in prod."
        ),
    )
    autoscaling_profile: Literal["OPTIMIZE_UTILIZATION", "BALANCED"] = Field(
        default="OPTIMIZE_UTILIZATION",
        description=(
            "Cluster autoscaler profile. `OPTIMIZE_UTILIZATION` (default, dev and prod): idle "
            'nodes go sooner ("scale down the cluster more aggressively: it can remove more '
            "nodes, and remove nodes faster ... optimized for batch workloads that are not "
            'sensitive to start-up latency", GKE cluster autoscaler docs), which is what KPO '
            "batch tasks on GPUs are; `BALANCED` keeps spare nodes longer (GKE's default)."
        ),
    )
    secrets_encryption_key: str | None = Field(
        default=None,
        description=(
            "Cloud KMS key for application-layer Secret encryption (etcd). The stack grants the GKE "
            "service agent encrypter/decrypter on this key only. Must be in the cluster's region."
        ),
    )

    @field_validator("deletion_protection", "binary_authorization", "intranode_visibility")
    @classmethod
    def _prod_requires(cls, v: bool, info: ValidationInfo) -> bool:
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
