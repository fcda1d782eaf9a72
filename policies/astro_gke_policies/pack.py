"""The policy pack: every policy, and the entry point that serves them to the Pulumi engine."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy

from astro_gke_policies import (
    capacity,
    day0,
    gke,
    iam,
    kueue,
    network,
    nodes,
    observability,
    rbac,
    remote,
    secrets,
    stack,
    workloads,
)
from astro_gke_policies.dispatch import DispatchingServicer
from astro_gke_policies.dispatch import serve as serve_analyzer

PACK_NAME = "astro-gke-gpu-policies"
DESCRIPTION = "Guard rails for the Astro GPU GKE stack"


def all_policies() -> list[Policy]:
    return [
        *gke.policies(),
        *nodes.policies(),
        *capacity.policies(),
        *day0.policies(),
        *iam.policies(),
        *kueue.policies(),
        *network.policies(),
        *observability.policies(),
        *rbac.policies(),
        *remote.policies(),
        *secrets.policies(),
        *stack.policies(),
        *workloads.policies(),
    ]


def servicer() -> DispatchingServicer:
    return DispatchingServicer(PACK_NAME, all_policies(), EnforcementLevel.MANDATORY, DESCRIPTION)


def serve() -> None:
    """Blocks: serves the Analyzer gRPC service on 127.0.0.1 and prints its port on stdout (what
    `pulumi_policy.PolicyPack` does, with the SDK's servicer doing each request's work once:
    dispatch.py)."""
    serve_analyzer(servicer())
