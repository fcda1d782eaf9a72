"""System node pool: a small CPU pool where kube-system and other untainted pods run, so the
GPU pools can scale to zero and GKE applies its GPU taints consistently."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components import node_config
from components.config import SystemPoolConfig

SYSTEM_LABEL = {"workload-class": "system"}


@dataclass(frozen=True)
class SystemNodePoolArgs:
    project_id: str
    location: str
    cluster: pulumi.Input[str]
    config: SystemPoolConfig
    service_account: pulumi.Input[str]
    labels: dict[str, str]


class SystemNodePool(pulumi.ComponentResource):
    pool: gcp.container.NodePool

    def __init__(
        self, name: str, args: SystemNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:gke:SystemNodePool", name, None, opts)
        cfg = args.config
        self.pool = gcp.container.NodePool(
            f"{name}-pool",
            name=cfg.name,
            project=args.project_id,
            location=args.location,
            cluster=args.cluster,
            initial_node_count=cfg.min_nodes,
            autoscaling=node_config.autoscaling(cfg.min_nodes, cfg.max_nodes, cfg.spot),
            management=node_config.management(),
            upgrade_settings=node_config.surge(cfg.max_surge, cfg.max_unavailable),
            node_config=node_config.hardened_node_config(
                machine_type=cfg.machine_type,
                disk_size_gb=cfg.disk_size_gb,
                disk_type=cfg.disk_type,
                spot=cfg.spot,
                service_account=args.service_account,
                labels=SYSTEM_LABEL,
                resource_labels=args.labels,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.pool.name})
