"""GKE Standard cluster, hardened, with no node pool of its own.

Pools are separate components (system_pool.py, gpu_pool.py). The control plane is reached from
Astro (outside the VPC) either through the DNS-based endpoint, IAM-gated by
`container.clusters.connect`, with every IP endpoint off (default), or through the public IP
endpoint restricted to authorized networks. Nodes are always private.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.airflow import kubeconfig
from components.config import ClusterConfig
from components.gke import node_config
from components.gke.network import NetworkRef

KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
# Both shape only the transient default pool (deleted right after creation) and are ForceNew
# (terraform-provider-google resource_container_cluster.go): a later diff on either would replace
# the cluster. terraform-google-kubernetes-engine ignores the same two (cluster.tf lifecycle).
CLUSTER_IGNORE_CHANGES = ["nodeConfig", "initialNodeCount"]


@dataclass(frozen=True)
class GkeClusterArgs:
    project_id: str
    location: str
    config: ClusterConfig
    network: NetworkRef
    node_service_account: pulumi.Input[str]
    labels: dict[str, str]
    # monitoring_config.enable_components (components/observability/observability.py monitoring_components).
    monitoring_components: tuple[str, ...] = ("SYSTEM_COMPONENTS",)


def _endpoints(cfg: ClusterConfig) -> gcp.container.ClusterControlPlaneEndpointsConfigArgs:
    """DNS mode: external traffic over the IAM-gated DNS endpoint, every IP endpoint off.
    Authorized-networks mode: the IP endpoint on (restricted below), DNS endpoint internal only."""
    dns = cfg.control_plane.access == "dns"
    return gcp.container.ClusterControlPlaneEndpointsConfigArgs(
        dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
            allow_external_traffic=dns
        ),
        ip_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigIpEndpointsConfigArgs(
            enabled=not dns
        ),
    )


def _authorized_networks(
    cfg: ClusterConfig,
) -> gcp.container.ClusterMasterAuthorizedNetworksConfigArgs | None:
    if cfg.control_plane.access == "dns":
        return None
    return gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
        gcp_public_cidrs_access_enabled=False,
        cidr_blocks=[
            gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                cidr_block=str(n.cidr_block), display_name=n.display_name
            )
            for n in cfg.control_plane.authorized_networks
        ],
    )


class GkeCluster(pulumi.ComponentResource):
    cluster: gcp.container.Cluster
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    ca_certificate: pulumi.Output[str]

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("astro-gke-gpu:gke:Cluster", name, None, opts)
        cfg = args.config

        depends_on: list[pulumi.Resource] = []
        if cfg.secrets_encryption_key:
            depends_on.append(self._grant_gke_agent_on_key(name, args, cfg.secrets_encryption_key))

        self.cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=cfg.name,
            project=args.project_id,
            location=args.location,
            description="GPU cluster for Airflow KubernetesPodOperator tasks (managed by Pulumi)",
            # No default pool: pools are managed as their own resources.
            remove_default_node_pool=True,
            initial_node_count=1,
            # The transient default pool (deleted right after creation) must not run as the
            # default compute service account, nor without shielding or the metadata server.
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=args.node_service_account,
                oauth_scopes=node_config.OAUTH_SCOPES,
                image_type=node_config.IMAGE_TYPE,
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(
                    mode=node_config.WORKLOAD_METADATA_MODE
                ),
                metadata={"disable-legacy-endpoints": "true"},
            ),
            networking_mode="VPC_NATIVE",
            network=args.network.network,
            subnetwork=args.network.subnetwork,
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args.network.pods_range_name,
                services_secondary_range_name=args.network.services_range_name,
            ),
            control_plane_endpoints_config=_endpoints(cfg),
            master_authorized_networks_config=_authorized_networks(cfg),
            # Private nodes always; the endpoint itself is governed by ip_endpoints_config.
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True
            ),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project_id}.svc.id.goog"
            ),
            enable_shielded_nodes=True,
            # Dataplane V2: eBPF datapath with Kubernetes NetworkPolicy enforcement built in.
            datapath_provider="ADVANCED_DATAPATH",
            # Pod-to-pod traffic on one node goes through the VPC too: flow logs and firewall
            # rules see it (GKE "Set up intranode visibility"; on by default in Autopilot, which
            # also runs Dataplane V2, so the two work together).
            enable_intranode_visibility=cfg.intranode_visibility,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=cfg.release_channel),
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            enable_legacy_abac=False,
            logging_service="logging.googleapis.com/kubernetes",
            monitoring_service="monitoring.googleapis.com/kubernetes",
            logging_config=gcp.container.ClusterLoggingConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", "WORKLOADS"]
            ),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=list(args.monitoring_components),
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(
                    enabled=True
                ),
            ),
            maintenance_policy=gcp.container.ClusterMaintenancePolicyArgs(
                recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
                    start_time=cfg.maintenance.rfc3339("start_time"),
                    end_time=cfg.maintenance.rfc3339("end_time"),
                    recurrence=cfg.maintenance.recurrence,
                )
            ),
            binary_authorization=gcp.container.ClusterBinaryAuthorizationArgs(
                evaluation_mode=(
                    "PROJECT_SINGLETON_POLICY_ENFORCE" if cfg.binary_authorization else "DISABLED"
                )
            ),
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(
                state="ENCRYPTED", key_name=cfg.secrets_encryption_key
            )
            if cfg.secrets_encryption_key
            else None,
            cost_management_config=gcp.container.ClusterCostManagementConfigArgs(enabled=True),
            # Idle GPU nodes cost money: how eagerly the autoscaler removes unneeded nodes (no node
            # auto-provisioning: only the profile is set). ComputeClasses add their own delay.
            cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(
                autoscaling_profile=cfg.autoscaling_profile
            ),
            resource_labels=args.labels,
            deletion_protection=cfg.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=cfg.deletion_protection,
                # The name is fixed (kubeconfigs, the DNS endpoint and the launcher role derive
                # from it), so a replacement could not create the new cluster beside the old one.
                # Replacing a cluster is never routine: prod is protected, and `make preview
                # BASE=...` flags it. Where it is allowed it must delete first.
                delete_before_replace=True,
                depends_on=depends_on,
                ignore_changes=CLUSTER_IGNORE_CHANGES,
            ),
        )

        self.name = self.cluster.name
        self.location = self.cluster.location
        self.ca_certificate = self.cluster.master_auth.cluster_ca_certificate.apply(
            lambda ca: ca or ""
        )
        self.dns_endpoint = cfg.control_plane.access == "dns"
        if self.dns_endpoint:
            self.endpoint = self.cluster.control_plane_endpoints_config.apply(
                lambda c: (
                    (c.dns_endpoint_config.endpoint or "") if c and c.dns_endpoint_config else ""
                )
            )
        else:
            self.endpoint = self.cluster.endpoint
        self.register_outputs(
            {
                "name": self.name,
                "location": self.location,
                "endpoint": self.endpoint,
                "ca_certificate": self.ca_certificate,
            }
        )

    def kubeconfig(
        self,
        mode: kubeconfig.AuthMode,
        impersonate: pulumi.Input[str] | None = None,
        namespace: str | None = None,
    ) -> pulumi.Output[dict[str, object]]:
        """A kubeconfig for this cluster. The CA is pinned for the IP endpoint only: the DNS
        endpoint serves a publicly trusted certificate (see components/airflow/kubeconfig.py)."""
        return pulumi.Output.all(self.name, self.endpoint, self.ca_certificate, impersonate).apply(
            lambda v: kubeconfig.build(
                cluster_name=v[0],
                server_host=v[1],
                ca_certificate=None if self.dns_endpoint else v[2],
                mode=mode,
                impersonate=v[3],
                namespace=namespace,
            )
        )

    def provider(self) -> k8s.Provider:
        """The deployer's Kubernetes provider (Application Default Credentials, as pulumi-gcp
        uses). Depends on the cluster only: Kubernetes objects never wait for node pools."""
        return k8s.Provider(
            f"{self.pulumi_resource_name}-k8s",
            kubeconfig=self.kubeconfig("deployer").apply(lambda kc: json.dumps(kc)),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _grant_gke_agent_on_key(
        self, name: str, args: GkeClusterArgs, key: str
    ) -> gcp.kms.CryptoKeyIAMMember:
        """Application-layer secrets encryption: the GKE service agent may use this key only."""
        project = gcp.organizations.get_project_output(project_id=args.project_id)
        agent = project.number.apply(
            lambda n: f"serviceAccount:service-{n}@container-engine-robot.iam.gserviceaccount.com"
        )
        return gcp.kms.CryptoKeyIAMMember(
            f"{name}-gke-agent-kms",
            crypto_key_id=key,
            role=KMS_ROLE,
            member=agent,
            opts=pulumi.ResourceOptions(parent=self),
        )
