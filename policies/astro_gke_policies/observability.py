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


DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring"
# NVIDIA's dcgm-exporter image (the stack's opt-in self-deployed exporter,
# components/observability/dcgm_exporter.py: observability.dcgm_source self-deployed).
DCGM_EXPORTER_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:"


def _self_deployed_dcgm(resources: list[PolicyResource]) -> bool:
    """The stack runs dcgm-exporter as a DaemonSet and a ClusterPodMonitoring scrapes its pods."""
    exporters = [
        get(r.props, "spec", "template", "metadata", "labels") or {}
        for r in resources
        if r.resource_type == DAEMON_SET
        and any(
            (text(c, "image") or "").startswith(DCGM_EXPORTER_IMAGE)
            for c in items(get(r.props, "spec", "template", "spec", "containers"))
        )
    ]
    selectors = [
        get(r.props, "spec", "selector", "matchLabels") or {}
        for r in resources
        if r.resource_type == POD_MONITORING
    ]
    return any(
        sel and all(labels.get(k) == v for k, v in sel.items())
        for labels in exporters
        for sel in selectors
    )


def _cluster_of(pool: PolicyResource, clusters: list[PolicyResource]) -> list[PolicyResource]:
    """The pool's cluster: matched by name at the end of the pool's `cluster` id; every cluster
    when the id is not known yet (a first preview)."""
    ref = text(pool.props, "cluster") or ""
    named = [c for c in clusters if ref.endswith(f"/clusters/{text(c.props, 'name')}")]
    return named or clusters


def _gpu_pool_has_dcgm(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    clusters = [r for r in args.resources if r.resource_type == CLUSTER]
    if _self_deployed_dcgm(list(args.resources)):
        return
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
                "A GPU node pool's cluster collects DCGM metrics (GKE's package, or the stack's "
                "own dcgm-exporter scraped by a ClusterPodMonitoring).",
                ADVISORY,
                remediation=(
                    "Set observability.dcgm: true (needs GKE-managed GPU drivers); "
                    "dcgm_source picks GKE's package or the self-deployed exporter."
                ),
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
