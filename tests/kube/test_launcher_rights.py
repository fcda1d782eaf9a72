"""Who may do what, asked of the real authorizer (RBAC, SubjectAccessReview) after the stack's
objects are applied: each deployment's launcher (a Google identity, named by email as GKE names
it) or Remote Execution agent (a Kubernetes service account) may make exactly the calls
KubernetesPodOperator makes in its own namespace, nothing in any other namespace, no secrets, and
nothing that could widen its rights. Then one real request with a Google token through the
webhook authenticator, so the name the RoleBinding uses is the name the API server sees.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from components.config import load
from offline import runner
from tests.kube.controlplane import EMAIL_SCOPE, ControlPlane

KEY = f"{runner.PROJECT}:platform"
# What the cncf.kubernetes provider's KubernetesPodOperator calls (PodManager and its hook):
# create, read, find by label (list), label as checked (patch) and delete its pod; read its logs;
# list the pod's events when it fails to start.
KPO = {
    ("create", "pods"), ("get", "pods"), ("list", "pods"), ("patch", "pods"),
    ("delete", "pods"), ("get", "pods/log"), ("list", "events"),
}  # fmt: skip
XCOM = {("create", "pods/exec"), ("get", "pods/exec")}  # do_xcom_push: exec into the sidecar
DEFERRABLE = {("watch", "events")}  # the trigger follows the pod's events
# Never, in any namespace: reading secrets or config, changing what pods run as, widening RBAC,
# minting tokens, attaching or port-forwarding into running pods, and the rest of the calls KPO
# does not make.
NEVER = {
    ("get", "secrets"), ("list", "secrets"), ("watch", "secrets"), ("get", "configmaps"),
    ("update", "pods"), ("watch", "pods"), ("create", "pods/attach"),
    ("create", "pods/portforward"), ("patch", "pods/ephemeralcontainers"),
    ("create", "serviceaccounts/token"), ("impersonate", "serviceaccounts"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("bind", "roles.rbac.authorization.k8s.io"), ("escalate", "roles.rbac.authorization.k8s.io"),
    ("create", "deployments.apps"), ("create", "jobs.batch"), ("delete", "events"),
    ("patch", "resourcequotas"), ("delete", "limitranges"),
}  # fmt: skip
CLUSTER_NEVER = {
    ("list", "nodes"),
    ("list", "namespaces"),
    ("list", "pods"),
    ("create", "namespaces"),
}


def subjects(objects: list[dict[str, Any]], namespace: str) -> list[tuple[str, tuple[str, ...]]]:
    """The user and groups each subject of the namespace's launcher RoleBinding authenticates as."""
    binding = next(
        o for o in objects
        if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == namespace
    )  # fmt: skip
    found: list[tuple[str, tuple[str, ...]]] = []
    for s in binding["subjects"]:
        if s["kind"] == "User":
            found.append((s["name"], ("system:authenticated",)))
        else:
            groups = ("system:serviceaccounts", f"system:serviceaccounts:{s['namespace']}")
            found.append(
                (
                    f"system:serviceaccount:{s['namespace']}:{s['name']}",
                    (*groups, "system:authenticated"),
                )
            )
    return found


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    stack_objects: Callable[..., list[dict[str, Any]]],
) -> dict[str, Any]:
    objects = stack_objects(request.param)
    control_plane.apply([o for o in objects if o["kind"] != "ComputeClass"])
    return {"objects": objects, "config": load(runner.stack_config(request.param)[KEY])}


def test_each_launcher_may_make_exactly_kpos_calls_in_its_namespace(
    control_plane: ControlPlane, stack: dict[str, Any]
) -> None:
    deployments = stack["config"].deployments
    namespaces = {d.namespace for d in deployments}
    assert len(namespaces) == len(deployments) >= 1
    for d in deployments:
        expected = KPO | (XCOM if d.xcom else set()) | (DEFERRABLE if d.deferrable else set())
        for user, groups in subjects(stack["objects"], d.namespace):
            for verb, resource in sorted(KPO | XCOM | DEFERRABLE | NEVER):
                allowed = control_plane.can_i(user, verb, resource, d.namespace, groups)
                assert allowed == ((verb, resource) in expected), (d.name, user, verb, resource)
            for other in sorted(namespaces - {d.namespace} | {"default", "kube-system"}):
                for verb, resource in sorted(KPO | XCOM | DEFERRABLE):
                    assert not control_plane.can_i(user, verb, resource, other, groups), (
                        d.name, user, verb, resource, other,
                    )  # fmt: skip
            for verb, resource in sorted(CLUSTER_NEVER):
                assert not control_plane.can_i(user, verb, resource, None, groups), (user, verb)


def test_the_rbac_user_is_the_email_gke_names_the_token_by(
    control_plane: ControlPlane, stack: dict[str, Any]
) -> None:
    """A real request with a Google access token: the webhook authenticator names the caller by
    its email (the token has the userinfo.email scope), and the real RBAC authorizer then lets the
    launcher list pods in its namespace and refuses it the next one, with the API server's own
    message. Without the email scope the caller is its numeric id, which no binding names."""
    hosted = [d for d in stack["config"].deployments if d.execution == "hosted"]
    first = hosted[0]
    others = [d.namespace for d in stack["config"].deployments if d is not first]
    other = (others or ["kube-system"])[0]
    email = subjects(stack["objects"], first.namespace)[0][0]
    plane = control_plane
    # One token name per stack: the API server keeps a good review for 10 s (controlplane.py).
    email_token, other_token, expired_token = (f"ya29.{kind}-{email}" for kind in ("e", "n", "x"))

    def kubectl_as(token: str, namespace: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", f"--server={plane.url}", f"--certificate-authority={plane.pki.ca}",
             f"--token={token}", "get", "pods", "-n", namespace, "-o", "name"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    plane.tokeninfo.record(email_token, email, "1170", (EMAIL_SCOPE,), time.time() + 600)
    assert kubectl_as(email_token, first.namespace).returncode == 0
    refused = kubectl_as(email_token, other)
    assert (
        f'pods is forbidden: User "{email}" cannot list resource "pods" in API group "" '
        f'in the namespace "{other}"'
    ) in refused.stderr
    plane.tokeninfo.record(
        other_token,
        email,
        "1170",
        ("https://www.googleapis.com/auth/cloud-platform",),
        time.time() + 600,
    )
    assert (
        'User "1170" cannot list resource "pods"' in kubectl_as(other_token, first.namespace).stderr
    )
    plane.tokeninfo.record(expired_token, email, "1170", (EMAIL_SCOPE,), time.time() - 1)
    assert (
        "You must be logged in to the server (Unauthorized)"
        in kubectl_as(expired_token, first.namespace).stderr
    )
