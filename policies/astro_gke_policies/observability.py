"""Observability policies: GPU metrics where there are GPUs, and cluster-wide RBAC that only reads."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import PolicyResource, StackValidationArgs, StackValidationPolicy

from astro_gke_policies.define import ADVISORY, MANDATORY, Meta, stack_policy
from astro_gke_policies.gke import CLUSTER, NODE_POOL, gpu_accelerators
from astro_gke_policies.props import get, items, text
from astro_gke_policies.rbac import CLUSTER_ROLE, CLUSTER_ROLE_BINDING, read_only

DCGM = "DCGM"


def _dcgm(cluster: PolicyResource) -> bool:
    return DCGM in items(get(cluster.props, "monitoringConfig", "enableComponents"))


def _cluster_of(pool: PolicyResource, clusters: list[PolicyResource]) -> list[PolicyResource]:
    """The pool's cluster: matched by name at the end of the pool's `cluster` id; every cluster
    when the id is not known yet (a first preview)."""
    ref = text(pool.props, "cluster") or ""
    named = [c for c in clusters if ref.endswith(f"/clusters/{text(c.props, 'name')}")]
    return named or clusters


def _gpu_pool_has_dcgm(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    clusters = [r for r in args.resources if r.resource_type == CLUSTER]
    for pool in (r for r in args.resources if r.resource_type == NODE_POOL):
        if not gpu_accelerators(pool.props):
            continue
        theirs = _cluster_of(pool, clusters)
        if theirs and not all(_dcgm(c) for c in theirs):
            yield (
                f"GPU pool {pool.name} is in a cluster without DCGM metrics "
                "(monitoringConfig.enableComponents lacks DCGM): no GPU utilisation or memory "
                "metrics, so an idle GPU goes unseen.",
                pool.urn,
            )


def _binding_names_read_only_role(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    roles = {
        text(r.props, "metadata", "name"): r
        for r in args.resources
        if r.resource_type == CLUSTER_ROLE
    }
    for binding in (r for r in args.resources if r.resource_type == CLUSTER_ROLE_BINDING):
        name = text(binding.props, "roleRef", "name")
        role = roles.get(name)
        if role is None or not read_only(role.props):
            yield (
                f"ClusterRoleBinding {binding.name} binds {name or 'an unnamed role'}, which is not "
                "a read-only ClusterRole of this stack.",
                binding.urn,
            )


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy(
            Meta(
                "gpu-pool-dcgm-metrics",
                "A GPU node pool's cluster collects GKE's DCGM metrics.",
                ADVISORY,
                remediation="Set observability.dcgm: true (needs GKE-managed GPU drivers).",
            ),
            _gpu_pool_has_dcgm,
        ),
        stack_policy(
            Meta(
                "rbac-cluster-binding-read-only",
                "Every ClusterRoleBinding binds a read-only ClusterRole the stack defines.",
                MANDATORY,
            ),
            _binding_names_read_only_role,
        ),
    ]
