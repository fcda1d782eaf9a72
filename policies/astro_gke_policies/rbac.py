"""Kubernetes RBAC policies for the KPO launchers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from astro_gke_policies.define import MANDATORY, Meta, of_type, resource_policy
from astro_gke_policies.props import get, items

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
ESCALATION_VERBS = ("escalate", "bind", "impersonate")
XCOM_ANNOTATION = "astro-gke-gpu/do-xcom-push"
is_any_role = of_type(ROLE, CLUSTER_ROLE)


def _rules(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in items(get(props, "rules")) if isinstance(r, Mapping)]


READ_VERBS = frozenset({"get", "list", "watch"})


def read_only(props: Mapping[str, Any]) -> bool:
    """Every rule only reads (get/list/watch), names its resources, and never Secrets."""
    rules = _rules(props)
    return bool(rules) and all(
        all(isinstance(v, str) and v in READ_VERBS for v in items(get(rule, "verbs")))
        and "*" not in items(get(rule, "resources"))
        and "secrets" not in items(get(rule, "resources"))
        for rule in rules
    )


def _no_cluster_scope(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    """The one exception: a read-only ClusterRole (a metrics exporter such as kube-state-metrics
    reads nodes, which no namespaced Role can), bound to service accounts only; the stack policy
    `rbac-cluster-binding-read-only` checks that a binding names such a role."""
    kind = args.resource_type.rsplit(":", 1)[-1]
    if args.resource_type == CLUSTER_ROLE and read_only(props):
        return
    if args.resource_type == CLUSTER_ROLE_BINDING:
        subjects = [s for s in items(get(props, "subjects")) if isinstance(s, Mapping)]
        if (
            get(props, "roleRef", "kind") == "ClusterRole"
            and subjects
            and all(get(s, "kind") == "ServiceAccount" for s in subjects)
        ):
            return
    yield (
        f"{kind} grants across every namespace; launchers get a namespaced Role and RoleBinding "
        "(only a read-only ClusterRole, bound to service accounts, is allowed)."
    )


def _no_wildcards(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for i, rule in enumerate(_rules(props)):
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            if "*" in items(get(rule, field)):
                yield f"rules[{i}].{field} contains '*'; list exactly what is needed."


def _no_secrets(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for i, rule in enumerate(_rules(props)):
        if "secrets" in items(get(rule, "resources")):
            yield f"rules[{i}] grants access to secrets; KPO does not need it."


def _no_escalation(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for i, rule in enumerate(_rules(props)):
        found = [v for v in items(get(rule, "verbs")) if v in ESCALATION_VERBS]
        if found:
            yield f"rules[{i}] grants {', '.join(found)}: privilege escalation."


def _exec_only_with_xcom(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    grants_exec = any("pods/exec" in items(get(rule, "resources")) for rule in _rules(props))
    xcom = get(props, "metadata", "annotations", XCOM_ANNOTATION) == "true"
    if grants_exec and not xcom:
        yield f"pods/exec is granted but the deployment does not use do_xcom_push ({XCOM_ANNOTATION} != 'true')."


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy(
            Meta(
                "rbac-no-cluster-scope",
                "No ClusterRole or ClusterRoleBinding but a read-only one (get/list/watch, no "
                "Secrets) bound to service accounts; launchers are namespaced.",
                MANDATORY,
            ),
            of_type(CLUSTER_ROLE, CLUSTER_ROLE_BINDING),
            _no_cluster_scope,
        ),
        resource_policy(
            Meta(
                "rbac-no-wildcards",
                "RBAC rules name their API groups, resources and verbs; no '*'.",
                MANDATORY,
                "CIS GKE 4.1.3",
                "CKV_K8S_49",
            ),
            is_any_role,
            _no_wildcards,
        ),
        resource_policy(
            Meta(
                "rbac-no-secrets",
                "RBAC rules grant no access to Secrets.",
                MANDATORY,
                "CIS GKE 4.1.2",
            ),
            is_any_role,
            _no_secrets,
        ),
        resource_policy(
            Meta(
                "rbac-no-escalation",
                "RBAC rules grant no escalate, bind or impersonate.",
                MANDATORY,
                "CIS GKE 4.1.8",
            ),
            is_any_role,
            _no_escalation,
        ),
        resource_policy(
            Meta(
                "rbac-exec-only-with-xcom",
                "pods/exec is granted only to deployments that use do_xcom_push.",
                MANDATORY,
            ),
            of_type(ROLE),
            _exec_only_with_xcom,
        ),
    ]
