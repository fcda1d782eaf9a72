"""Can the deploy identity create the stack's Roles, ClusterRoles and their bindings on GKE? The
deploy identity is a Google service account with no RBAC binding: its only rights are the deploy
role's IAM permissions, which GKE's IAM authorizer checks after RBAC (tests/kube/gke_iam.py).

Each RBAC object of dev and prod is applied server-side, as pulumi-kubernetes does, by the deploy
identity itself: a Google access token through the real token webhook (controlplane.py), so the
API server sees the email GKE would, in `system:authenticated` and nothing else. The real
kube-apiserver's escalation check then decides (k8s.io/kubernetes v1.36.3
pkg/registry/rbac/escalation_check.go and the policybased storages).

The finding: without `container.roles.escalate` and `container.clusterRoles.escalate`, every Role
and ClusterRole is refused, although the role holds the IAM equivalent of every rule
(`ROLE_RULES`). Without `.bind`, every binding is refused even when its role exists. With the four
`RBAC_LIFTS`, every object is accepted, and still is without `ROLE_RULES`.

The namespaces (the deploy identity creates them too, not checked here) are made by the admin
first. Each phase starts from no RBAC object of the stack, as a first `pulumi up` does.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.day0 import deploy_permissions as dp
from components.day0.identities import project_permissions
from tests.kube.controlplane import EMAIL_SCOPE, ControlPlane
from tests.kube.gke_iam import GkeIam

ROOT = Path(__file__).resolve().parents[2]
_BOOT = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.ci.yaml").read_text())["config"]
_BOOT = _BOOT["astro-gke-bootstrap:bootstrap"]
# The deploy service account the bootstrap creates: <deploy_account_id>@<project_id>.
DEPLOYER = (
    f"{_BOOT['identities']['deploy_account_id']}@{_BOOT['project_id']}.iam.gserviceaccount.com"
)
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
ROLES, BINDINGS = ("Role", "ClusterRole"), ("RoleBinding", "ClusterRoleBinding")
ESCALATES = {"container.roles.escalate", "container.clusterRoles.escalate"}
BINDS = {"container.roles.bind", "container.clusterRoles.bind"}
NOT_HELD = "is attempting to grant RBAC permissions not currently held"


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    stack_objects: Callable[..., list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    objects = stack_objects(request.param)
    control_plane.apply([o for o in objects if o["kind"] == "Namespace"])
    rbac = [o for o in objects if o["kind"] in RBAC_KINDS]
    # Not vacuous: the launcher Roles, kube-state-metrics' ClusterRole, and a binding of each.
    assert {o["kind"] for o in rbac} == set(RBAC_KINDS)
    return rbac


@pytest.fixture(scope="module")
def token(control_plane: ControlPlane) -> str:
    token = "ya29.deployer-rbac"
    control_plane.tokeninfo.record(token, DEPLOYER, "1180", (EMAIL_SCOPE,), time.time() + 3600)
    return token


def _name(o: dict[str, Any]) -> str:
    meta = o["metadata"]
    return f"{o['kind']}/{meta.get('namespace', '')}/{meta['name']}"


def _reset(plane: ControlPlane, objects: list[dict[str, Any]]) -> None:
    """No RBAC object of the stack left (the admin deletes them), as before a first deploy."""
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    plane.kubectl("delete", "--ignore-not-found", "--wait=true", "-f", "-", input=doc)


def _apply_as_deployer(
    plane: ControlPlane, token: str, objects: Iterable[dict[str, Any]]
) -> dict[str, str]:
    """Server-side apply of each object as the deploy identity; the API server's message for
    each refused one ('' when accepted)."""
    refused = {}
    for o in objects:
        done = subprocess.run(
            ["kubectl", f"--server={plane.url}", f"--certificate-authority={plane.pki.ca}",
             f"--token={token}", "apply", "--server-side", "--field-manager=pulumi-kubernetes",
             "-f", "-"],
            input=json.dumps(o), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        refused[_name(o)] = done.stderr.strip() if done.returncode else ""
    return refused


def _run(
    plane: ControlPlane, iam: GkeIam, token: str, objects: list[dict[str, Any]], held: set[str]
) -> dict[str, str]:
    """One first deploy with `held` as the deploy role: the roles, then (the admin creating any
    role the deployer could not, so each binding meets its own check) the bindings."""
    _reset(plane, objects)
    iam.grant(DEPLOYER, held)
    roles = [o for o in objects if o["kind"] in ROLES]
    out = _apply_as_deployer(plane, token, roles)
    if lacking := [o for o in roles if out[_name(o)]]:
        plane.apply(lacking)
    out |= _apply_as_deployer(plane, token, [o for o in objects if o["kind"] in BINDINGS])
    return out


def _missing_rule_lines(message: str) -> list[str]:
    """The rules the API server lists as not held, one `{APIGroups:[...], ...}` per line."""
    return [line.strip() for line in message.splitlines() if line.strip().startswith("{")]


def test_without_escalate_and_bind_every_role_and_binding_is_refused(
    control_plane: ControlPlane, gke_iam: GkeIam, token: str, stack: list[dict[str, Any]]
) -> None:
    """The deploy role as it was (no lift): IAM allows each request (patch is
    `container.<kind>.update`), then the escalation check refuses each object, naming the
    deployer and the rules it lacks through RBAC, though the role holds every rule's IAM name."""
    before = set(project_permissions()) - set(dp.RBAC_LIFTS)
    assert set(dp.ROLE_RULES) <= before  # the IAM equivalents of every rule are held
    refused = _run(control_plane, gke_iam, token, stack, before)
    assert set(refused) == {_name(o) for o in stack}
    for o in stack:
        message = refused[_name(o)]
        kind = o["kind"].lower() + "s"
        assert (
            f'{kind}.rbac.authorization.k8s.io "{o["metadata"]["name"]}" is forbidden: '
            f'user "{DEPLOYER}" (groups=["system:authenticated"]) {NOT_HELD}:'
        ) in message, (_name(o), message)
        if o["kind"] in ROLES:
            # Every rule of the role is listed as missing: the IAM grants counted for none.
            granted = {
                (v, r) for rule in o["rules"] for r in rule["resources"] for v in rule["verbs"]
            }
            lines = _missing_rule_lines(message)
            assert lines, message
            listed = {
                (v, r)
                for line in lines
                for r in _field(line, "Resources")
                for v in _field(line, "Verbs")
            }
            assert listed == granted, (_name(o), listed, granted)
    # GKE's IAM authorizer was asked for `escalate` (a role) and `bind` (a binding), and said no.
    asked = {(n, a) for u, n, a in gke_iam.reviews if u == DEPLOYER}
    assert ("container.roles.escalate", False) in asked
    assert ("container.clusterRoles.escalate", False) in asked
    assert ("container.roles.bind", False) in asked
    assert ("container.clusterRoles.bind", False) in asked


def _field(line: str, name: str) -> list[str]:
    """`{APIGroups:[""], Resources:["pods"], Verbs:["list" "watch"]}` -> the values of `name`."""
    start = line.index(f"{name}:[") + len(name) + 2
    return [v.strip('"') for v in line[start : line.index("]", start)].split()]


def test_escalate_admits_the_roles_and_bind_is_still_needed_for_the_bindings(
    control_plane: ControlPlane, gke_iam: GkeIam, token: str, stack: list[dict[str, Any]]
) -> None:
    held = set(project_permissions()) - BINDS
    assert held >= ESCALATES
    refused = _run(control_plane, gke_iam, token, stack, held)
    for o in stack:
        message = refused[_name(o)]
        if o["kind"] in ROLES:
            assert message == "", (_name(o), message)
        else:
            assert NOT_HELD in message, (_name(o), message)


@pytest.mark.parametrize("without_role_rules", [False, True])
def test_with_the_four_lifts_every_object_is_accepted(
    control_plane: ControlPlane,
    gke_iam: GkeIam,
    token: str,
    stack: list[dict[str, Any]],
    without_role_rules: bool,
) -> None:
    """The deploy role now: every object accepted and stored as rendered. Without `ROLE_RULES`
    too: the IAM equivalents of the rules play no part in the check."""
    held = set(project_permissions())
    assert set(dp.RBAC_LIFTS) <= held
    if without_role_rules:
        held -= set(dp.ROLE_RULES)
    _reset(control_plane, stack)
    gke_iam.grant(DEPLOYER, held)
    refused = _apply_as_deployer(control_plane, token, stack)
    assert refused == {_name(o): "" for o in stack}
    for o in stack:
        meta = o["metadata"]
        where = ["-n", meta["namespace"]] if "namespace" in meta else []
        live = control_plane.get(
            f"{o['kind'].lower()}.rbac.authorization.k8s.io", meta["name"], *where
        )
        for field in ("rules", "roleRef", "subjects"):
            if field in o:
                assert live[field] == o[field], (_name(o), field)
