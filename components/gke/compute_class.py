"""A custom ComputeClass over the stack's own GPU pools: GKE's answer to scarce GPUs.

The cluster autoscaler tries the member pools in the configured order (e.g. spot L4 in three zones,
then on-demand L4, then flex-start L4) and falls through when one cannot get capacity. Tasks
select the class (`cloud.google.com/compute-class=<name>`), never one pool. No node
auto-provisioning: only the listed pools, which join the class with its label and taint
(components/gke/gpu_pool.py). Source: GKE docs "About custom ComputeClasses" (cloud.google.com/v1,
GKE Standard from 1.30.3-gke.1451000).

Idle GPUs cost money: `autoscalingPolicy.consolidationDelayMinutes` bounds how long an underused
class node survives before the autoscaler removes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import GpuClassConfig

API_VERSION = "cloud.google.com/v1"
KIND = "ComputeClass"


@dataclass(frozen=True)
class GpuComputeClassArgs:
    config: GpuClassConfig
    # GKE names of the member pools, in priority order (generated: known after they exist).
    pool_names: list[pulumi.Input[str]]
    k8s_provider: k8s.Provider


def spec(cfg: GpuClassConfig, pool_names: list[str]) -> dict[str, object]:
    return {
        "priorities": [{"nodepools": [name]} for name in pool_names],
        "whenUnsatisfiable": cfg.when_unsatisfiable,
        "nodePoolAutoCreation": {"enabled": False},
        "autoscalingPolicy": {"consolidationDelayMinutes": cfg.consolidation_delay_minutes},
    }


class GpuComputeClass(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: GpuComputeClassArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:gke:GpuComputeClass", name, None, opts)
        cfg = args.config
        self.resource = k8s.apiextensions.CustomResource(
            f"{name}-class",
            api_version=API_VERSION,
            kind=KIND,
            # Cluster-scoped; GKE defines the CRD. A pool replacement only updates the priorities
            # (the member's new generated name).
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cfg.name, labels={"app.kubernetes.io/managed-by": "pulumi"}
            ),
            spec=pulumi.Output.all(*args.pool_names).apply(lambda names: spec(cfg, list(names))),
            opts=pulumi.ResourceOptions(parent=self, provider=args.k8s_provider),
        )
        self.register_outputs({"name": cfg.name})
