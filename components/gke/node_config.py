"""Node settings every pool shares: the hardening baseline, in one place.

COS with containerd, shielded VMs (secure boot, integrity monitoring), the GKE metadata server
(Workload Identity; the node's own credentials are not exposed to pods), the dedicated node service
account with the cloud-platform scope (IAM decides, not scopes), legacy metadata endpoints off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import pulumi
import pulumi_gcp as gcp

from components.config import PoolSettings

IMAGE_TYPE = "COS_CONTAINERD"
PoolConfig = TypeVar("PoolConfig", bound=PoolSettings, covariant=True)

OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# initialNodeCount is ForceNew in the provider (terraform-provider-google
# resource_container_node_pool.go; pulumi-gcp NodePool docstring: "use a lifecycle block to ignore
# subsequent changes"); terraform-google-kubernetes-engine ignores it the same way (cluster.tf).
IGNORE_CHANGES = ["initialNodeCount"]
WORKLOAD_METADATA_MODE = "GKE_METADATA"


def shielded() -> gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs:
    return gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
        enable_secure_boot=True, enable_integrity_monitoring=True
    )


def management(flex_start: bool = False) -> gcp.container.NodePoolManagementArgs:
    # Flex-start pools run without auto-repair (GKE's flex-start pool flags include
    # --no-enable-autorepair): a repaired node would go back into the capacity queue.
    return gcp.container.NodePoolManagementArgs(auto_repair=not flex_start, auto_upgrade=True)


# GKE's own default for AutoscaledRolloutPolicy.wait_for_drain_duration ("Defaults to 3 days. The
# value can be set between 0 and 7 days": container v1 API reference, BlueGreenSettings), sent
# explicitly so an empty policy block can never be dropped on the way to the API.
DEFAULT_DRAIN_WAIT_HOURS = 72


def upgrade_settings(cfg: PoolSettings) -> gcp.container.NodePoolUpgradeSettingsArgs:
    """SURGE, or the autoscaled blue-green rollout that lets running tasks finish on cordoned
    nodes (components/config/pools.py `upgrade_strategy`)."""
    if cfg.upgrade_strategy == "SURGE":
        return gcp.container.NodePoolUpgradeSettingsArgs(
            strategy="SURGE", max_surge=cfg.max_surge, max_unavailable=cfg.max_unavailable
        )
    hours = DEFAULT_DRAIN_WAIT_HOURS if cfg.drain_wait_hours is None else cfg.drain_wait_hours
    wait = f"{hours * 3600}s"
    return gcp.container.NodePoolUpgradeSettingsArgs(
        strategy="BLUE_GREEN",
        blue_green_settings=gcp.container.NodePoolUpgradeSettingsBlueGreenSettingsArgs(
            autoscaled_rollout_policy=gcp.container.NodePoolUpgradeSettingsBlueGreenSettingsAutoscaledRolloutPolicyArgs(
                wait_for_drain_duration=wait
            )
        ),
    )


def autoscaling(
    min_nodes: int, max_nodes: int, anywhere: bool
) -> gcp.container.NodePoolAutoscalingArgs:
    # ANY lets the autoscaler take scarce capacity (spot, flex-start: GKE's flex-start pools use
    # --location-policy=ANY) wherever it exists; BALANCED spreads on-demand nodes across zones.
    return gcp.container.NodePoolAutoscalingArgs(
        min_node_count=min_nodes,
        max_node_count=max_nodes,
        location_policy="ANY" if anywhere else "BALANCED",
    )


@dataclass(frozen=True)
class Provisioning:
    """How a GPU pool gets its VMs and images, beyond the baseline (components/gke/gpu_pool.py)."""

    reservation_affinity: gcp.container.NodePoolNodeConfigReservationAffinityArgs | None = None
    secondary_boot_disks: list[gcp.container.NodePoolNodeConfigSecondaryBootDiskArgs] | None = None
    flex_start: bool | None = None
    # Queued provisioning (GKE Dynamic Workload Scheduler through ProvisioningRequests; Kueue's
    # `queued-provisioning.gke.io` admission check): a pool-level field, not a node_config one.
    queued: bool = False


def queued_provisioning(
    provisioning: Provisioning | None,
) -> gcp.container.NodePoolQueuedProvisioningArgs | None:
    """`queued_provisioning.enabled` ("Whether nodes in this node pool are obtainable solely
    through the ProvisioningRequest API": terraform-provider-google resource_container_node_pool.go,
    ForceNew on the block and the field, offline/forcenew_tables/container.py). Only on a
    flex-start pool (components/config `kueue.provisioning_request`), which already has every other
    setting GKE requires of a queued pool: autoscaling from 0 with location policy ANY,
    NO_RESERVATION, no auto-repair (GoogleCloudPlatform/cluster-toolkit "GKE Consumption Options
    User Guide", DWS Flex Start + Queued Provisioning: flex-start, auto_repair false, total min
    nodes 0, no static node count)."""
    if provisioning is None or not provisioning.queued:
        return None
    return gcp.container.NodePoolQueuedProvisioningArgs(enabled=True)


def hardened_node_config(
    *,
    machine_type: str,
    disk_size_gb: int,
    disk_type: str,
    spot: bool,
    service_account: pulumi.Input[str],
    labels: dict[str, str],
    resource_labels: dict[str, str],
    taints: list[gcp.container.NodePoolNodeConfigTaintArgs] | None = None,
    guest_accelerators: list[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs] | None = None,
    provisioning: Provisioning | None = None,
) -> gcp.container.NodePoolNodeConfigArgs:
    provisioning = provisioning or Provisioning()
    return gcp.container.NodePoolNodeConfigArgs(
        machine_type=machine_type,
        disk_size_gb=disk_size_gb,
        disk_type=disk_type,
        image_type=IMAGE_TYPE,
        spot=spot,
        service_account=service_account,
        oauth_scopes=OAUTH_SCOPES,
        shielded_instance_config=shielded(),
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
            mode=WORKLOAD_METADATA_MODE
        ),
        metadata={"disable-legacy-endpoints": "true"},
        gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
        gcfs_config=gcp.container.NodePoolNodeConfigGcfsConfigArgs(enabled=True),
        labels=labels,
        resource_labels=resource_labels,
        taints=taints,
        guest_accelerators=guest_accelerators,
        reservation_affinity=provisioning.reservation_affinity,
        secondary_boot_disks=provisioning.secondary_boot_disks,
        flex_start=provisioning.flex_start,
    )


def pool_name_prefix(name: str) -> str:
    """`name_prefix` of a pool: the provider appends 24 characters to a prefix of up to 14, and 9
    to a longer one (pulumi-gcp NodePool `name_prefix`), so a pool name of at most 30 characters
    (components/config/pools.py) stays within GKE's 40."""
    return f"{name}-"


@dataclass(frozen=True)
class NodePoolArgs(Generic[PoolConfig]):
    """Args of a pool component (SystemNodePool, GpuNodePool): where the pool goes and its config."""

    project_id: str
    location: str
    cluster: pulumi.Input[str]
    config: PoolConfig
    service_account: pulumi.Input[str]
    labels: dict[str, str]
    # The custom ComputeClass the pool belongs to (GPU pools only; components/gke/compute_class.py).
    compute_class: str | None = None
    # Queued provisioning (GPU flex-start pools in `kueue.provisioning_request.pools` only).
    queued_provisioning: bool = False


def node_pool(
    resource_name: str,
    *,
    parent: pulumi.Resource,
    args: NodePoolArgs[PoolSettings],
    node_labels: dict[str, str],
    node_locations: list[str] | None = None,
    taints: list[gcp.container.NodePoolNodeConfigTaintArgs] | None = None,
    guest_accelerators: list[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs] | None = None,
    provisioning: Provisioning | None = None,
) -> gcp.container.NodePool:
    """A node pool with the shared baseline: autoscaling, auto-repair/upgrade, surge upgrades and
    the hardened node config. Pool components add only what makes them different."""
    cfg = args.config
    flex_start = bool(provisioning and provisioning.flex_start)
    return gcp.container.NodePool(
        resource_name,
        # A generated name (`<name>-<suffix>`): many pool changes (accelerator type or count,
        # driver version, node service account, spot, a preloaded image) force a new pool
        # (offline/forcenew.py), and Pulumi replaces create-before-delete. With a fixed name the
        # new pool would collide with the old one ("already exists") halfway through an `up`; with
        # a prefix the new pool comes up first, tasks move to it, then the old one goes. (Machine
        # type and disk changes are in-place node-by-node updates in the current provider.)
        # Pods never depend on this name: they select the pool by its node labels.
        name_prefix=pool_name_prefix(cfg.name),
        project=args.project_id,
        location=args.location,
        cluster=args.cluster,
        node_locations=node_locations,
        # Only the size at creation. The field forces a new pool and GKE reports the autoscaled
        # size back, so later changes are ignored (IGNORE_CHANGES): a new min_nodes is an in-place
        # autoscaling update, and a refresh after the autoscaler resized the pool replaces nothing.
        initial_node_count=cfg.min_nodes,
        autoscaling=autoscaling(cfg.min_nodes, cfg.max_nodes, cfg.spot or flex_start),
        management=management(flex_start),
        queued_provisioning=queued_provisioning(provisioning),
        upgrade_settings=upgrade_settings(cfg),
        node_config=hardened_node_config(
            machine_type=cfg.machine_type,
            disk_size_gb=cfg.disk_size_gb,
            disk_type=cfg.disk_type,
            spot=cfg.spot,
            service_account=args.service_account,
            labels=node_labels,
            resource_labels=args.labels,
            taints=taints,
            guest_accelerators=guest_accelerators,
            provisioning=provisioning,
        ),
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=IGNORE_CHANGES),
    )
