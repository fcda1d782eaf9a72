"""System node pool: a small CPU pool where kube-system and other untainted pods run, so the
GPU pools can scale to zero and GKE applies its GPU taints consistently."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.config import SystemPoolConfig
from components.gke import node_config

SYSTEM_LABEL = {"workload-class": "system"}


SystemNodePoolArgs = node_config.NodePoolArgs[SystemPoolConfig]


class SystemNodePool(pulumi.ComponentResource):
    pool: gcp.container.NodePool

    def __init__(
        self, name: str, args: SystemNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:gke:SystemNodePool", name, None, opts)
        self.pool = node_config.node_pool(
            f"{name}-pool", parent=self, args=args, node_labels=SYSTEM_LABEL
        )
        self.register_outputs({"name": self.pool.name})
