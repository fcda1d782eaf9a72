"""Wiring only: read the config once, build the components, export what Astro deploys consume."""

import pulumi

from components import config, network
from components.cluster import GkeCluster, GkeClusterArgs
from components.gpu_pool import GpuNodePool, GpuNodePoolArgs, scheduling_hints
from components.node_identity import NodeServiceAccount, NodeServiceAccountArgs
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

pulumi.export("cluster_name", cluster.name)
pulumi.export("cluster_location", cfg.location)
pulumi.export("cluster_endpoint", cluster.endpoint)
pulumi.export("node_service_account", nodes.email)
pulumi.export("gpu_scheduling", {pool.name: scheduling_hints(pool) for pool in cfg.gpu_pools})
