"""Network component: VPC, node subnet with pod/service ranges, Cloud Router and Cloud NAT.

Private nodes have no external IP, so Cloud NAT is what lets them pull public images; Private
Google Access lets them reach Google APIs (Artifact Registry, logging) without NAT.
When the config names an existing network, no component is created: :func:`existing` returns the
same :class:`NetworkRef` from config.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config import CreateNetworkConfig, ExistingNetworkConfig

PODS_RANGE = "pods"
SERVICES_RANGE = "services"
# 65535 is the implied rules' priority; 65534 is the lowest a rule of ours can take and still be
# evaluated before them (VPC firewall rules: "Priority").
DENY_ALL_PRIORITY = 65534


@dataclass(frozen=True)
class NetworkRef:
    """What the cluster needs to know about its network."""

    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    pods_range_name: str
    services_range_name: str


@dataclass(frozen=True)
class NetworkArgs:
    project_id: str
    region: str
    config: CreateNetworkConfig


class Network(pulumi.ComponentResource):
    ref: NetworkRef

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("astro-gke-gpu:network:Network", name, None, opts)
        # Every network object has a fixed name (firewall logs, routes and Shared VPC admins refer
        # to them), and its ForceNew properties (CIDRs, network, region) cannot coexist with the
        # old object under the same name: replacements delete first.
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        cfg = args.config

        self.vpc = gcp.compute.Network(
            f"{name}-vpc",
            name=name,
            project=args.project_id,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description="GKE GPU cluster network (managed by Pulumi)",
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=f"{name}-nodes",
            project=args.project_id,
            region=args.region,
            network=self.vpc.id,
            ip_cidr_range=str(cfg.subnet_cidr),
            private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=PODS_RANGE, ip_cidr_range=str(cfg.pods_cidr)
                ),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=SERVICES_RANGE, ip_cidr_range=str(cfg.services_cidr)
                ),
            ],
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_10_MIN",
                flow_sampling=0.5,
                metadata="INCLUDE_ALL_METADATA",
            )
            if cfg.flow_logs
            else None,
            opts=child,
        )
        self.router = gcp.compute.Router(
            f"{name}-router",
            name=f"{name}-router",
            project=args.project_id,
            region=args.region,
            network=self.vpc.id,
            opts=child,
        )
        self.nat = gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{name}-nat",
            project=args.project_id,
            region=args.region,
            router=self.router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(
                    name=self.subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"]
                )
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

        # The VPC's own implied rules already deny ingress and allow egress, silently. This makes
        # the ingress baseline explicit and logged (CIS GCP 3.x, checkov CKV_GCP_*: declared,
        # reviewed rules), at the lowest priority a user rule may have, so every allow rule GKE
        # creates for itself (control plane to nodes, pod-to-pod; priority 1000) still wins.
        # Nothing else is opened: nodes are private and nobody SSHes into them (no IAP range),
        # and the stack runs no load balancer (no health-check ranges). Egress keeps the implied
        # allow: nodes pull images through Cloud NAT and reach Google APIs.
        self.deny_ingress = gcp.compute.Firewall(
            f"{name}-deny-all-ingress",
            name=f"{name}-deny-all-ingress",
            project=args.project_id,
            network=self.vpc.self_link,
            description="Explicit, logged default: deny all ingress not allowed by a higher rule.",
            direction="INGRESS",
            priority=DENY_ALL_PRIORITY,
            source_ranges=["0.0.0.0/0"],
            denies=[gcp.compute.FirewallDenyArgs(protocol="all")],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=child,
        )

        self.ref = NetworkRef(
            network=self.vpc.self_link,
            subnetwork=self.subnet.self_link,
            pods_range_name=PODS_RANGE,
            services_range_name=SERVICES_RANGE,
        )
        self.register_outputs(
            {
                "network": self.vpc.self_link,
                "subnetwork": self.subnet.self_link,
                "nat": self.nat.name,
            }
        )


def project_of(network: pulumi.Input[str], default: str) -> str:
    """The project a network lives in: the one an existing network's reference names
    (projects/<p>/global/networks/<n>, a Shared VPC host maybe), else the stack's own."""
    if isinstance(network, str) and network.startswith("projects/"):
        return network.split("/")[1]
    return default


def existing(cfg: ExistingNetworkConfig) -> NetworkRef:
    return NetworkRef(
        network=cfg.network,
        subnetwork=cfg.subnetwork,
        pods_range_name=cfg.pods_range_name,
        services_range_name=cfg.services_range_name,
    )
