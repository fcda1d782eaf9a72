"""The policy pack: every policy, and the entry point that serves them to the Pulumi engine."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy, PolicyPack

from astro_gke_policies import (
    capacity,
    gke,
    iam,
    network,
    nodes,
    rbac,
    remote,
    secrets,
    stack,
    workloads,
)

PACK_NAME = "astro-gke-gpu-policies"


def all_policies() -> list[Policy]:
    return [
        *gke.policies(),
        *nodes.policies(),
        *capacity.policies(),
        *iam.policies(),
        *network.policies(),
        *rbac.policies(),
        *remote.policies(),
        *secrets.policies(),
        *stack.policies(),
        *workloads.policies(),
    ]


def serve() -> None:
    """Blocks: serves the Analyzer gRPC service on 127.0.0.1 and prints its port on stdout."""
    PolicyPack(
        name=PACK_NAME,
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=all_policies(),
        description="Guard rails for the Astro GPU GKE stack",
    )
