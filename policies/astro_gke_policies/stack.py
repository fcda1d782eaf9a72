"""Stack-level policies (AnalyzeStack): relations between resources."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pulumi_policy import PolicyResource, StackValidationArgs, StackValidationPolicy

from astro_gke_policies.define import MANDATORY, Meta, stack_policy
from astro_gke_policies.gke import NODE_POOL
from astro_gke_policies.props import children, get, group, items, text

DEPLOYMENT = "astro-gke-gpu:airflow:DeploymentAccess"
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
LAUNCHER_PERMISSIONS = frozenset({"container.clusters.get", "container.clusters.connect"})
# The bootstrap creates the launcher role (components/custom_roles.py, launcher_role.role_id): the
# main stack grants it by name, and this policy checks its content where it is registered.
LAUNCHER_ROLE_PREFIX = "astroKpoLauncher_"
DEPLOYMENT_PARTS = {
    "kubernetes:core/v1:Namespace": "Namespace",
    "kubernetes:rbac.authorization.k8s.io/v1:Role": "Role",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": "RoleBinding",
    "kubernetes:policy/v1:PodDisruptionBudget": "PodDisruptionBudget",
    "gcp:secretmanager/secret:Secret": "connection Secret",
    "gcp:secretmanager/secretVersion:SecretVersion": "connection SecretVersion",
}

# The stack policies take one pass over the resources and index what they look up (children of a
# parent, grants by member), so they stay linear in the number of deployments. Properties are read
# in the same order as a plain scan would read them, so a value unknown during preview stops a
# policy at the same point, after the same reports.


def _gpu_pool_has_cpu_pool(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    pools = [r for r in args.resources if r.resource_type == NODE_POOL]

    def has_gpu(pool: PolicyResource) -> bool:
        return bool(items(get(pool.props, "nodeConfig", "guestAccelerators")))

    cpu_clusters = {text(p.props, "cluster") for p in pools if not has_gpu(p)}
    for pool in pools:
        if has_gpu(pool) and text(pool.props, "cluster") not in cpu_clusters:
            yield (
                f"GPU pool {pool.name} has no CPU pool beside it: system pods would keep GPU nodes up "
                "and GKE would not taint them.",
                pool.urn,
            )


def _deployment_complete(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    kids = children(args.resources)
    for deployment in (r for r in args.resources if r.resource_type == DEPLOYMENT):
        present = {r.resource_type for r in kids.get(deployment.urn, [])}
        missing = [label for kind, label in DEPLOYMENT_PARTS.items() if kind not in present]
        if missing:
            yield (
                f"Airflow deployment {deployment.name} lacks its {', '.join(missing)}.",
                deployment.urn,
            )


def _in_cluster(mine: list[PolicyResource]) -> bool:
    """Its RoleBinding (among its children, `mine`) names Kubernetes service accounts only (a
    Remote Execution agent in this cluster): KubernetesPodOperator then runs in-cluster."""
    bindings = [
        r for r in mine if r.resource_type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
    ]
    kinds = {
        get(s, "kind")
        for b in bindings
        for s in items(get(b.props, "subjects"))
        if isinstance(s, Mapping)
    }
    return kinds == {"ServiceAccount"}


def _launcher_grant_only_role(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    roles: dict[str, frozenset[str]] = {}
    for custom in (r for r in args.resources if r.resource_type == CUSTOM_ROLE):
        project, role_id = text(custom.props, "project"), text(custom.props, "roleId")
        permissions = items(get(custom.props, "permissions"))
        roles[f"projects/{project}/roles/{role_id}"] = frozenset(
            p for p in permissions if isinstance(p, str)
        )
        extra = sorted(roles[f"projects/{project}/roles/{role_id}"] - LAUNCHER_PERMISSIONS)
        if role_id.startswith(LAUNCHER_ROLE_PREFIX) and extra:
            yield (
                f"the launcher role {role_id} holds {', '.join(extra)}; only "
                f"{', '.join(sorted(LAUNCHER_PERMISSIONS))} are allowed.",
                custom.urn,
            )
    grants = [r for r in args.resources if r.resource_type == PROJECT_IAM_MEMBER]
    kids = children(args.resources)
    by_member: dict[str, list[PolicyResource]] | None = None  # read when first needed
    for deployment in (r for r in args.resources if r.resource_type == DEPLOYMENT):
        below = kids.get(deployment.urn, [])
        mine = [g for g in below if g.resource_type == PROJECT_IAM_MEMBER]
        if not mine and _in_cluster(below):
            continue  # the API server authenticates the agent pod's token: no Google grant
        if len(mine) != 1:
            yield (
                f"Airflow deployment {deployment.name} has {len(mine)} project-level grants; expected 1.",
                deployment.urn,
            )
            continue
        grant = mine[0]
        role = text(grant.props, "role")
        granted = roles.get(role)
        if granted is None and role.startswith(
            f"projects/{text(grant.props, 'project')}/roles/{LAUNCHER_ROLE_PREFIX}"
        ):
            granted = LAUNCHER_PERMISSIONS  # the bootstrap's role: its content is checked there
        if granted is None or not granted <= LAUNCHER_PERMISSIONS:
            yield (
                f"the launcher of {deployment.name} gets {role} on the project; only a custom role with "
                f"{', '.join(sorted(LAUNCHER_PERMISSIONS))} is allowed.",
                grant.urn,
            )
        member = text(grant.props, "member")
        if by_member is None:
            by_member = group(grants, lambda g: text(g.props, "member"))
        others = [g for g in by_member.get(member, []) if g.urn != grant.urn]
        for other in others:
            yield (
                f"the launcher of {deployment.name} also gets {get(other.props, 'role')} on the project.",
                other.urn,
            )


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy(
            Meta(
                "stack-gpu-pool-has-cpu-pool",
                "Every GPU node pool has a CPU node pool in the same cluster.",
                MANDATORY,
            ),
            _gpu_pool_has_cpu_pool,
        ),
        stack_policy(
            Meta(
                "stack-airflow-deployment-complete",
                "Every Airflow deployment has its namespace, Role, RoleBinding and connection secret.",
                MANDATORY,
            ),
            _deployment_complete,
        ),
        stack_policy(
            Meta(
                "stack-launcher-only-cluster-role",
                "Each launcher's only project-level grant is the authenticate-only launcher role.",
                MANDATORY,
            ),
            _launcher_grant_only_role,
        ),
    ]
