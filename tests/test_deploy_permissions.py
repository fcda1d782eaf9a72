"""The deploy identity's permission table covers every type the main stack registers, cites a
source per type, and holds no escalation permission it does not need."""

from __future__ import annotations

import pytest

from components.day0 import deploy_permissions as dp
from components.day0 import escalation
from components.day0.identities import project_permissions, repository_permissions
from offline import runner
from tests.day0 import CUSTOM_ROLE, role_permissions, run_bootstrap

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"


def custom_types(run: runner.Run) -> set[str]:
    return {r.type for r in run.registrations if r.custom}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_type_the_stack_registers_has_an_entry(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    types = custom_types(run)
    assert dp.coverage_gaps(types) == []
    assert len(types) >= 15  # not vacuous: networks, cluster, pools, IAM, secrets, Kubernetes


def test_the_coverage_check_fails_on_a_new_type(dev: runner.Run) -> None:
    types = custom_types(dev) | {"gcp:cloudrun/service:Service"}
    assert dp.coverage_gaps(types) == ["gcp:cloudrun/service:Service"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_deployer_holds_what_the_stacks_roles_grant(
    stack: str, request: pytest.FixtureRequest
) -> None:
    """`ROLE_RULES` are exactly the rules of the stack's Roles, as GKE IAM permissions. They do
    not get a Role past Kubernetes' escalation check (tests/kube/test_deployer_rbac.py): the four
    lifts do, and the deployer holds them (changed on purpose: it held none before)."""
    run: runner.Run = request.getfixturevalue(stack)
    roles = [*run.of_type(ROLE), *run.of_type(CLUSTER_ROLE)]
    rules = [rule for r in roles for rule in r.inputs["rules"]]
    needed = dp.role_rule_permissions(rules)
    assert needed == set(dp.ROLE_RULES)  # exactly: no rule permission held for nothing
    assert dp.RBAC_LIFTS == (
        "container.clusterRoles.bind",
        "container.clusterRoles.escalate",
        "container.roles.bind",
        "container.roles.escalate",
    )
    assert set(dp.RBAC_LIFTS) <= set(dp.deploy_permissions())
    # Each lift sits with the kind whose writes the check guards, never with delete.
    rbac = "kubernetes:rbac.authorization.k8s.io/v1:"
    for kind, lift in (
        ("Role", "container.roles.escalate"),
        ("ClusterRole", "container.clusterRoles.escalate"),
        ("RoleBinding", "container.roles.bind"),
        ("ClusterRoleBinding", "container.clusterRoles.bind"),
    ):
        entry = dp.TABLE[rbac + kind]
        assert lift in entry.create and lift in entry.update and lift not in entry.delete, kind
    # No binding lift beyond these: a RoleBinding of the stack names a Role, never a ClusterRole.
    bindings = run.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert bindings and {b.inputs["roleRef"]["kind"] for b in bindings} == {"Role"}


def test_the_roles_rules_translate_as_gke_names_them() -> None:
    assert dp.iam_for_rule("pods", "patch") == "container.pods.update"
    assert dp.iam_for_rule("events", "watch") == "container.events.list"
    assert dp.iam_for_rule("pods/log", "get") == "container.pods.getLogs"
    assert dp.iam_for_rule("pods/exec", "create") == "container.pods.exec"
    assert dp.iam_for_rule("resourcequotas", "watch") == "container.resourceQuotas.list"


def test_every_entry_cites_a_source_and_lists_every_operation() -> None:
    for type_, entry in dp.TABLE.items():
        assert entry.source, type_
        assert entry.create and entry.read and entry.update and entry.delete, type_
        assert dp.MAP in entry.source or dp.GKE_IAM in entry.source or "launcher" in entry.source


def test_the_deployer_holds_no_custom_role_permission() -> None:
    # The bootstrap creates every custom role the stacks grant (tests/test_day0_roles.py): the
    # main stack registers none, so no table entry and no iam.roles.* permission, not even get.
    assert "gcp:projects/iAMCustomRole:IAMCustomRole" not in dp.TABLE
    assert not [p for p in escalation.deploy_holds() if p.startswith("iam.roles.")]


def test_the_bootstrap_roles_are_exactly_the_table() -> None:
    boot = run_bootstrap()
    roles = role_permissions(boot)
    for project in ("acme-ml-dev", "acme-ml-prod"):
        assert roles[f"projects/{project}/roles/astroGkeDeployer"] == frozenset(
            project_permissions()
        )
        assert roles[f"projects/{project}/roles/astroGkePreviewer"] == frozenset(
            dp.PREVIEW_PERMISSIONS
        )
    # Artifact Registry honours no resource conditions: its two permissions are a separate role,
    # granted on each repository the config names and never on the project.
    assert (
        roles["projects/acme-ml-prod/roles/astroGkeRepositoryGrants"]
        == frozenset(repository_permissions())
        == {
            "artifactregistry.repositories.getIamPolicy",
            "artifactregistry.repositories.setIamPolicy",
        }
    )
    assert not set(repository_permissions()) & set(project_permissions())
    # actAs is granted on the node account only (tests/test_day0_accounts.py), never in a role
    # held on the project.
    for project in ("acme-ml-dev", "acme-ml-prod"):
        assert roles[f"projects/{project}/roles/astroGkeNodeAccountUser"] == frozenset(
            dp.NODE_ACCOUNT_PERMISSIONS
        )
    assert "iam.serviceAccounts.actAs" not in project_permissions()
    # deploy, preview and actAs per stack's project, prod's repository role, the lock role, and
    # the stacks' own: dev's launcher; prod's launcher and XCom role (day0/stack_roles.py).
    assert len(boot.of_type(CUSTOM_ROLE)) == 11


ESCALATION = {p for m in escalation.METHODS for p in m.permissions}
# actAs: on the node service account only; no service-account IAM at all. In the cluster: RBAC
# objects and the four verbs that lift Kubernetes' escalation check (added on purpose: without
# them no stack role is admitted, tests/kube/test_deployer_rbac.py), and Kueue's webhooks,
# APIService and cert Secret.
NEEDED = {
    "container.clusterRoles.bind",
    "container.clusterRoles.escalate",
    "container.roles.bind",
    "container.roles.escalate",
    "resourcemanager.projects.setIamPolicy",
    "iam.serviceAccounts.actAs",
    "container.clusters.update",
    "container.clusterRoles.create",
    "container.clusterRoleBindings.create",
    "container.mutatingWebhookConfigurations.create",
    "container.apiServices.create",
    "container.secrets.get",
}


def test_the_deploy_identity_holds_no_escalation_permission_but_the_bounded_ones() -> None:
    assert escalation.deploy_holds() & ESCALATION == NEEDED
    for m in escalation.METHODS:
        held = set(m.permissions) <= escalation.deploy_holds()
        assert held == bool(m.deploy_bound), m.name  # every held method names its bound


def test_the_preview_identity_holds_no_write_no_iam_and_no_secret_payload() -> None:
    held = escalation.preview_holds()
    assert not held & ESCALATION
    assert not {p for p in held if "setIamPolicy" in p}
    assert "secretmanager.versions.access" not in held
    writes = {p for p in held if p.rsplit(".", 1)[1] in {"create", "update", "delete", "patch"}}
    # The one write: Pulumi's lock objects, granted under .pulumi/locks/ only (test_day0_conditions).
    assert writes == {"storage.objects.create", "storage.objects.delete"}
    assert {
        "container.clusters.get",
        "container.clusters.connect",
        "container.namespaces.get",
    } <= held
    assert "cloudkms.cryptoKeyVersions.useToDecrypt" in held
    assert "cloudkms.cryptoKeyVersions.useToEncrypt" not in held


def test_no_predefined_admin_or_basic_role_is_granted() -> None:
    boot = run_bootstrap()
    granted = {r.inputs["role"] for r in boot.registrations if "role" in r.inputs}
    predefined = {g for g in granted if g.startswith("roles/")}
    # Token Creator: for each launcher's Astro identity, on that launcher only (a resource-level
    # grant; tests/test_day0_accounts.py), never to a CI identity.
    token_creator = [
        r
        for r in boot.registrations
        if r.inputs.get("role") == "roles/iam.serviceAccountTokenCreator"
    ]
    assert {r.type for r in token_creator} == {"gcp:serviceaccount/iAMMember:IAMMember"}
    assert not [r for r in token_creator if "@acme-ml-ci." in r.inputs["member"]]
    assert predefined == {
        "roles/iam.serviceAccountTokenCreator",
        "roles/storage.objectUser",
        "roles/storage.objectViewer",
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "roles/cloudkms.cryptoKeyDecrypter",
        "roles/iam.workloadIdentityUser",
    }
