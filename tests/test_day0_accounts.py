"""The stack's service accounts belong to the bootstrap: the main stack (dev, prod, and a first
preview of each) creates none and grants nothing on one; the bootstrap creates exactly the accounts
the main stacks reference, the launchers' Token Creator grants, and one deployer grant on service
accounts: actAs on the node account. So the deploy identity can become no other identity."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from components import service_accounts
from components.config import ConfigError, load
from components.day0 import deploy_permissions as dp
from components.day0.identities import project_permissions
from components.day0.scope import load_scopes
from offline import runner
from offline.mocks import PlaceholderMocks, RecordingMonitor
from tests.day0 import BOOT_KEY, BOOTSTRAP, CUSTOM_ROLE, DEPLOY, InputsOnly, run_bootstrap

ACCOUNT = "gcp:serviceaccount/account:Account"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
KEY = "gcp:serviceaccount/key:Key"
NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
PROJECTS = {"dev": "acme-ml-dev", "prod": "acme-ml-prod"}
# What no role of either CI identity may hold (the issue: no key creation, no token minting, no
# signing on any service account; no service-account IAM or project-wide actAs for the deployer).
FORBIDDEN = {
    "iam.serviceAccounts.setIamPolicy",
    "iam.serviceAccounts.actAs",
    "iam.serviceAccounts.create",
    "iam.serviceAccounts.delete",
    "iam.serviceAccounts.getAccessToken",
    "iam.serviceAccounts.signBlob",
    "iam.serviceAccounts.signJwt",
    "iam.serviceAccounts.implicitDelegation",
    "iam.serviceAccounts.getOpenIdToken",
    "iam.serviceAccountKeys.create",
}


@pytest.fixture(scope="module")
def boot() -> runner.Run:
    return run_bootstrap()


def first_preview(stack: str) -> runner.Run:
    mocks = InputsOnly()
    return runner.run(stack, mocks=mocks, monitor=RecordingMonitor(mocks), preview=True)


def main_runs(request: pytest.FixtureRequest) -> dict[str, runner.Run]:
    return {
        "dev": request.getfixturevalue("dev"),
        "prod": request.getfixturevalue("prod"),
        "dev (first preview)": first_preview("dev"),
        "prod (first preview)": first_preview("prod"),
    }


def user_subjects(run: runner.Run) -> set[str]:
    return {
        s["name"] for b in run.of_type(BINDING) for s in b.inputs["subjects"] if s["kind"] == "User"
    }


def launcher_emails(stack: str) -> set[str]:
    cfg = load(runner.stack_config(stack)["astro-gke-gpu:platform"])
    return {
        service_accounts.email(d.launcher_id, cfg.project_id)
        for d in cfg.deployments
        if d.launcher_id
    }


def referenced(run: runner.Run, project: str) -> set[str]:
    """The stack's own service accounts the main stack refers to: what its nodes run as, and the
    launchers its RoleBindings and outputs name."""
    nodes = {r.inputs["nodeConfig"]["serviceAccount"] for r in run.of_type(NODE_POOL)}
    outputs = {d["launcher_email"] for d in run.outputs["airflow"].values() if d["launcher_email"]}
    own = {s for s in user_subjects(run) if s.endswith(f"@{project}.iam.gserviceaccount.com")}
    return nodes | outputs | own


def test_the_main_stack_creates_no_service_account_and_no_service_account_iam(
    request: pytest.FixtureRequest,
) -> None:
    for label, run in main_runs(request).items():
        assert run.of_type(ACCOUNT) == [], label
        assert run.of_type(SA_IAM) == [], label
        assert run.of_type(KEY) == [], label
        assert len(run.registrations) > 40, label  # not vacuous: the program ran


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_pools_and_subjects_use_the_computed_emails(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    project = PROJECTS[stack]
    node = f"astro-gpu-{stack}-nodes@{project}.iam.gserviceaccount.com"
    cfg = load(runner.stack_config(stack)["astro-gke-gpu:platform"])
    assert service_accounts.email(cfg.node_service_account.account_id, cfg.project_id) == node
    pools = run.of_type(NODE_POOL)
    assert len(pools) >= 2
    assert {p.inputs["nodeConfig"]["serviceAccount"] for p in pools} == {node}
    assert run.one(CLUSTER).inputs["nodeConfig"]["serviceAccount"] == node
    assert run.outputs["node_service_account"] == node
    launchers = launcher_emails(stack)
    assert (
        launchers
        == {
            "dev": {"analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"},
            "prod": {"ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"},
        }[stack]
    )
    assert launchers <= user_subjects(run)
    assert {
        d["launcher_email"] for d in run.outputs["airflow"].values() if d["launcher_email"]
    } == launchers


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_first_preview_knows_the_subjects(stack: str) -> None:
    """The emails are computed, not read from a resource: a first preview already has them."""
    assert launcher_emails(stack) <= user_subjects(first_preview(stack))


def test_the_bootstrap_creates_exactly_the_accounts_the_stacks_reference(
    boot: runner.Run, request: pytest.FixtureRequest
) -> None:
    mine = [a for a in boot.of_type(ACCOUNT) if a.name.startswith("identities-")]
    created = [service_accounts.email(a.inputs["accountId"], a.inputs["project"]) for a in mine]
    assert len(created) == len(set(created))  # one Account per account
    wanted = set()
    for stack, project in PROJECTS.items():
        wanted |= referenced(request.getfixturevalue(stack), project)
    assert (
        set(created)
        == wanted
        == {
            "astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com",
            "analytics-kpo@acme-ml-dev.iam.gserviceaccount.com",
            "astro-gpu-prod-nodes@acme-ml-prod.iam.gserviceaccount.com",
            "ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com",
        }
    )
    # The mocks compute the email as Google does, from the inputs: what the bootstrap creates is
    # what the main stack computes.
    assert {a.outputs["email"] for a in mine} == wanted
    # Protected: a renamed account id or a removed deployment stops `pulumi up` instead of
    # replacing or deleting an identity that nodes or Astro use.
    assert all(a.protect for a in mine)
    assert {a.name for a in boot.of_type(ACCOUNT)} - {a.name for a in mine} == {
        "ci-deploy",
        "ci-preview",
    }


def test_the_launchers_token_creator_grants_moved_to_the_bootstrap(boot: runner.Run) -> None:
    creators = [
        r.inputs
        for r in boot.of_type(SA_IAM)
        if r.inputs["role"] == "roles/iam.serviceAccountTokenCreator"
    ]
    assert sorted((c["serviceAccountId"], c["member"]) for c in creators) == [
        (
            "projects/acme-ml-dev/serviceAccounts/analytics-kpo@acme-ml-dev.iam.gserviceaccount.com",
            "serviceAccount:astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com",
        ),
        (
            "projects/acme-ml-prod/serviceAccounts/ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com",
            "serviceAccount:astro-ml-training@astro-tenant-4821.iam.gserviceaccount.com",
        ),
    ]
    # The export the contract suite's fake IAM enforces comes from the same function.
    exported = [
        b
        for stack in PROJECTS
        for b in service_accounts.token_creator_bindings(
            load(runner.stack_config(stack)["astro-gke-gpu:platform"])
        )
    ]
    assert sorted((b["service_account_id"], b["member"]) for b in exported) == sorted(
        (c["serviceAccountId"], c["member"]) for c in creators
    )


def test_the_deployers_one_service_account_grant_is_act_as_on_the_node_account(
    boot: runner.Run,
) -> None:
    roles = {
        f"projects/{r.inputs['project']}/roles/{r.inputs['roleId']}": r.inputs["permissions"]
        for r in boot.of_type(CUSTOM_ROLE)
    }
    grants = [r.inputs for r in boot.of_type(SA_IAM) if r.inputs["member"] == DEPLOY]
    assert sorted((g["serviceAccountId"], g["role"]) for g in grants) == [
        (
            "projects/acme-ml-dev/serviceAccounts/astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com",
            "projects/acme-ml-dev/roles/astroGkeNodeAccountUser",
        ),
        (
            "projects/acme-ml-prod/serviceAccounts/astro-gpu-prod-nodes@acme-ml-prod.iam.gserviceaccount.com",
            "projects/acme-ml-prod/roles/astroGkeNodeAccountUser",
        ),
    ]
    for g in grants:
        assert roles[g["role"]] == ["iam.serviceAccounts.actAs"]
        assert "condition" not in g
    # No other grant to the deployer on any single service account.
    others = [r for r in boot.of_type(SA_IAM) if "pulumi-deploy@" in r.inputs["member"]]
    assert len(others) == 2


def test_neither_ci_role_holds_service_account_iam_tokens_signing_or_keys(
    boot: runner.Run,
) -> None:
    assert not FORBIDDEN & set(project_permissions())
    assert not FORBIDDEN & set(dp.PREVIEW_PERMISSIONS)
    registered = {
        (r.inputs["project"], r.inputs["roleId"]): set(r.inputs["permissions"])
        for r in boot.of_type(CUSTOM_ROLE)
    }
    for project in PROJECTS.values():
        for role in ("astroGkeDeployer", "astroGkePreviewer"):
            held = registered[(project, role)]
            assert len(held) >= 5, role
            assert not FORBIDDEN & held, (project, role, sorted(FORBIDDEN & held))
            assert not {p for p in held if p.startswith("iam.serviceAccount")}, role


# --- one keyed error before any resource ------------------------------------------------------


def write_stack(root: Any, name: str, platform: dict[str, Any]) -> None:
    doc = {"config": {"astro-gke-gpu:platform": platform}}
    (root / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc))


def platform(stack: str) -> dict[str, Any]:
    return copy.deepcopy(runner.stack_config(stack)["astro-gke-gpu:platform"])


def test_an_account_named_twice_or_invalid_is_one_keyed_error(tmp_path: Any) -> None:
    dev = platform("dev")
    # the same project's node account named again by a second stack, a launcher that is the
    # node account, and an invalid launcher id in a third
    write_stack(tmp_path, "dev", dev)
    twin = copy.deepcopy(dev)
    twin["deployments"][0]["launcher_account_id"] = "astro-gpu-dev-nodes"
    write_stack(tmp_path, "twin", twin)
    bad = copy.deepcopy(dev)
    bad["deployments"][0]["launcher_account_id"] = "Bad_Id"
    write_stack(tmp_path, "bad", bad)
    with pytest.raises(ConfigError) as err:
        load_scopes(
            tmp_path,
            ["dev", "twin", "bad"],
            "k",
            {("acme-ml-dev", "analytics-kpo"): "identities.deploy_account_id"},
        )
    first = "stacks[0] (Pulumi.dev.yaml)"
    assert err.value.problems == [
        (
            f"{first} deployments[0].name",
            "service account analytics-kpo@acme-ml-dev.iam.gserviceaccount.com is also "
            "identities.deploy_account_id: each account the bootstrap creates is one stack's, "
            "for one purpose",
        ),
        (
            "stacks[1] (Pulumi.twin.yaml) node_service_account.account_id",
            "service account astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com is also "
            f"{first} node_service_account.account_id: each account the bootstrap creates is "
            "one stack's, for one purpose",
        ),
        (
            "stacks[1] (Pulumi.twin.yaml) deployments[0].launcher_account_id",
            "service account astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com is also "
            f"{first} node_service_account.account_id: each account the bootstrap creates is "
            "one stack's, for one purpose",
        ),
        (
            "stacks[2] (Pulumi.bad.yaml) deployments[0].launcher_account_id",
            "6-30 characters: lowercase letters, digits, hyphens; starts with a letter",
        ),
    ]


def test_a_stack_account_that_is_a_ci_identity_stops_the_bootstrap_before_any_resource() -> None:
    cfg = copy.deepcopy(runner.stack_config("ci", root=BOOTSTRAP)[BOOT_KEY])
    cfg["project_id"] = "acme-ml-dev"
    cfg["identities"]["deploy_account_id"] = "astro-gpu-dev-nodes"
    monitor = RecordingMonitor(PlaceholderMocks())
    with pytest.raises(Exception) as err:
        runner.run("ci", config={BOOT_KEY: cfg}, root=BOOTSTRAP, monitor=monitor)
    assert (
        "stacks[0] (Pulumi.dev.yaml) node_service_account.account_id: service account "
        "astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com is also "
        "identities.deploy_account_id"
    ) in str(err.value)
    assert monitor.registrations == []


def test_the_review_flags_a_main_stack_that_stops_declaring_an_account() -> None:
    """A main stack deployed before the bootstrap owned the accounts still has them in its state:
    `make preview BASE=<old ref>` shows the delete its next `up` would make as hurting (docs/day0.md,
    "Migrating")."""
    from offline import review
    from tests.test_review import reg

    old = reg(ACCOUNT, "astro-gpu-dev-nodes-sa", {"accountId": "astro-gpu-dev-nodes"})
    (change,) = review.diff([old], [])
    assert (change.op, change.hurts) == ("delete", "service account astro-gpu-dev-nodes-sa")
