"""GKE's IAM authorizer, for the tests: a SubjectAccessReview (authorization.k8s.io/v1) server the
API server asks after RBAC (`ControlPlane(authorizer_webhook=GkeIam())`), as GKE does: "To
authorize an action, GKE checks for an RBAC policy first. If there isn't an RBAC policy, GKE
checks for IAM permissions" (https://cloud.google.com/kubernetes-engine/docs/how-to/role-based-access-control,
"Interaction with Identity and Access Management").

What it enforces is the IAM side only: a user (the email the token webhook names, as GKE does)
holds the permission set a test grants it (`grant`), and a Kubernetes request is allowed when that
set holds `container.<resource>.<verb>` in GKE's names (the GKE IAM API permissions reference,
deploy_permissions.GKE_IAM: patch and update are `.update`, watch is `.list`; `escalate` and
`bind` on roles and clusterroles are `container.roles.escalate|bind` and
`container.clusterRoles.escalate|bind`, iann0036/iam-dataset gcp/roles/container.admin.json at
deploy_permissions.MAP's commit). Anything else gets "no opinion" with GKE's reason text (as in
the 403s GKE returns: `requires one of ["container.clusterRoles.create"] permission(s).`,
elastic/cloud-on-k8s#310 and kubernetes/kubernetes#43409 quote them). The webhook is the last
authorizer, so "no opinion" and "deny" end in the same 403 (k8s.io/apiserver
pkg/authorization/union: the chain stops at the first allow or deny, and refuses when none
decides). Stdlib only, like controlplane.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.kube.controlplane import serve_reviews

# Kubernetes verb -> GKE IAM verb (GKE_IAM; container.admin.json lists .escalate and .bind on
# roles and clusterRoles only).
VERBS = {
    "get": "get",
    "list": "list",
    "watch": "list",
    "create": "create",
    "update": "update",
    "patch": "update",
    "delete": "delete",
    "escalate": "escalate",
    "bind": "bind",
}
# Kubernetes plural -> GKE IAM resource name, where GKE camel-cases it (container.admin.json).
RESOURCES = {
    "clusterroles": "clusterRoles",
    "clusterrolebindings": "clusterRoleBindings",
    "rolebindings": "roleBindings",
    "resourcequotas": "resourceQuotas",
    "limitranges": "limitRanges",
    "serviceaccounts": "serviceAccounts",
    "networkpolicies": "networkPolicies",
    "poddisruptionbudgets": "podDisruptionBudgets",
    "configmaps": "configMaps",
    "daemonsets": "daemonSets",
}
SUBRESOURCES = {("pods", "log"): "container.pods.getLogs", ("pods", "exec"): "container.pods.exec"}


def permission(attributes: dict[str, Any]) -> str | None:
    """The GKE IAM permission a SubjectAccessReview's resourceAttributes need, or None when this
    table does not name one (then the answer is no opinion)."""
    resource, verb = attributes.get("resource", ""), attributes.get("verb", "")
    subresource = attributes.get("subresource", "")
    if subresource:
        return SUBRESOURCES.get((resource, subresource))
    if verb not in VERBS or not resource:
        return None
    return f"container.{RESOURCES.get(resource, resource)}.{VERBS[verb]}"


class GkeIam:
    """Start with `serve(cert, key)` (ControlPlane does), grant with `grant(user, permissions)`;
    `reviews` records every question asked and its answer."""

    def __init__(self) -> None:
        self.grants: dict[str, frozenset[str]] = {}
        self.reviews: list[tuple[str, str | None, bool]] = []
        self._lock = threading.Lock()

    def grant(self, user: str, permissions: Iterable[str]) -> None:
        with self._lock:
            self.grants[user] = frozenset(permissions)

    def review(self, review: dict[str, Any]) -> dict[str, Any]:
        spec = review["spec"]
        user = spec.get("user", "")
        needed = permission(spec["resourceAttributes"]) if "resourceAttributes" in spec else None
        with self._lock:
            held = self.grants.get(user, frozenset())
        allowed = needed is not None and needed in held
        self.reviews.append((user, needed, allowed))
        status: dict[str, Any] = {"allowed": allowed}
        if not allowed and needed is not None:
            status["reason"] = f'requires one of ["{needed}"] permission(s).'
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "status": status,
        }

    def serve(self, cert: Path, key: Path) -> int:
        self.server = serve_reviews(self.review, cert, key)
        return int(self.server.server_address[1])

    def stop(self) -> None:
        if hasattr(self, "server"):
            self.server.shutdown()
