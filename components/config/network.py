"""Network config: the stack creates a VPC, or references an existing one."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from components.config._base import (
    NETWORK_REF,
    RANGE_NAME,
    SUBNET_REF,
    _ctx,
    _Model,
    _private,
)


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
