"""Wiring only: read the config once, build the components, export what Astro deploys consume."""

from collections.abc import Sequence

import pulumi

from components import config, network
from components.airflow_access import AirflowDeploymentAccess, AirflowDeploymentAccessArgs
from components.cluster import GkeCluster, GkeClusterArgs
from components.gpu_pool import GpuNodePool, GpuNodePoolArgs, scheduling_hints
from components.launcher_role import LauncherRole, LauncherRoleArgs
from components.node_identity import NodeServiceAccount, NodeServiceAccountArgs
from components.secret_encryption import SecretManagerKeys, SecretManagerKeysArgs
from components.system_pool import SystemNodePool, SystemNodePoolArgs

cfg = config.from_pulumi()  # raises ConfigError before any resource is registered
name = cfg.cluster.name
labels = cfg.all_labels

if isinstance(cfg.network, config.CreateNetworkConfig):
    net = network.Network(
        name, network.NetworkArgs(project_id=cfg.project_id, region=cfg.region, config=cfg.network)
    ).ref
else:
    net = network.existing(cfg.network)

nodes = NodeServiceAccount(
    f"{name}-nodes",
    NodeServiceAccountArgs(
        project_id=cfg.project_id, config=cfg.node_service_account, cluster_name=name
    ),
)

cluster = GkeCluster(
    name,
    GkeClusterArgs(
        project_id=cfg.project_id,
        location=cfg.location,
        config=cfg.cluster,
        network=net,
        node_service_account=nodes.email,
        labels=labels,
    ),
)

SystemNodePool(
    f"{name}-{cfg.system_pool.name}",
    SystemNodePoolArgs(
        project_id=cfg.project_id,
        location=cfg.location,
        cluster=cluster.cluster.id,
        config=cfg.system_pool,
        service_account=nodes.email,
        labels=labels,
    ),
)

for pool in cfg.gpu_pools:
    GpuNodePool(
        f"{name}-{pool.name}",
        GpuNodePoolArgs(
            project_id=cfg.project_id,
            location=cfg.location,
            cluster=cluster.cluster.id,
            config=pool,
            service_account=nodes.email,
            labels=labels,
        ),
    )

# --- Airflow access: one isolated namespace, identity and connection per Astro deployment ---
airflow: dict[str, dict[str, object]] = {}
if cfg.deployments:
    launcher_role = LauncherRole(
        f"{name}-launcher",
        LauncherRoleArgs(
            project_id=cfg.project_id, cluster_name=name, dns_endpoint=cluster.dns_endpoint
        ),
    )
    secret_grants: Sequence[pulumi.Resource] = []
    if cfg.secret_manager.kms_keys:
        secret_grants = SecretManagerKeys(
            f"{name}-secrets-cmek",
            SecretManagerKeysArgs(project_id=cfg.project_id, config=cfg.secret_manager),
        ).grants
    k8s_provider = cluster.provider()
    for deployment in cfg.deployments:
        access = AirflowDeploymentAccess(
            f"{name}-{deployment.name}",
            AirflowDeploymentAccessArgs(
                project_id=cfg.project_id,
                deployment=deployment,
                cluster=cluster,
                k8s_provider=k8s_provider,
                launcher_role=launcher_role.role_name,
                secret_manager=cfg.secret_manager,
                labels=labels,
                secret_dependencies=secret_grants,
                protect=cfg.protect_live_objects,
            ),
        )
        airflow[deployment.name] = access.outputs

pulumi.export("cluster_name", cluster.name)
pulumi.export("cluster_location", cfg.location)
pulumi.export("cluster_endpoint", cluster.endpoint)
pulumi.export("node_service_account", nodes.email)
pulumi.export("airflow", airflow)
pulumi.export("gpu_scheduling", {pool.name: scheduling_hints(pool) for pool in cfg.gpu_pools})
