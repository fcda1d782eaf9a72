"""The deploy identity's IAM conditions and the GitHub provider's mapping, evaluated by a real CEL
implementation (cel-python) with IAM's `api.getAttribute` and `hasOnly`
(offline/iam_conditions.py), against what the bootstrap registers and the main stacks grant."""

from __future__ import annotations

import pytest

from components.day0 import conditions
from offline import runner
from offline.iam_conditions import Binding, Request, allowed, evaluate
from tests.day0 import DEPLOY, NUMBER, PREVIEW, project_bindings, run_bootstrap

PROJECT_TYPE = "cloudresourcemanager.googleapis.com/Project"
SET_POLICY = "resourcemanager.projects.setIamPolicy"
PROJECTS = {"dev": "acme-ml-dev", "prod": "acme-ml-prod"}


@pytest.fixture(scope="module")
def boot() -> runner.Run:
    return run_bootstrap()


def deployer(boot: runner.Run, stack: str) -> list[Binding]:
    found = project_bindings(boot, PROJECTS[stack], DEPLOY)
    assert found, stack
    return found


def grant(project: str, *roles: str) -> Request:
    return Request(SET_POLICY, PROJECT_TYPE, f"projects/{project}", list(roles))


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize(
    "role",
    [
        "roles/owner",
        "roles/editor",
        "roles/iam.serviceAccountTokenCreator",
        "roles/resourcemanager.projectIamAdmin",
        "roles/iam.serviceAccountUser",
        "roles/iam.roleAdmin",
        "projects/acme-ml-dev/roles/astroGkeDeployer",  # its own role: no self-extension
    ],
)
def test_the_deployer_cannot_grant_a_role_outside_the_stacks_list(
    boot: runner.Run, stack: str, role: str
) -> None:
    bindings = deployer(boot, stack)
    project = PROJECTS[stack]
    assert not allowed(bindings, grant(project, role))
    # Not even alongside a role it may grant (hasOnly: every modified role must be listed).
    assert not allowed(bindings, grant(project, "roles/monitoring.metricWriter", role))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_deployer_may_grant_every_project_role_the_stack_grants(
    boot: runner.Run, stack: str, request: pytest.FixtureRequest
) -> None:
    """Fails when the program grants a project role the bootstrap's list (and so the condition)
    misses: the role list is components/day0/scope.project_roles."""
    run: runner.Run = request.getfixturevalue(stack)
    roles = {r.inputs["role"] for r in run.of_type("gcp:projects/iAMMember:IAMMember")}
    assert len(roles) == 4  # node roles and the launcher custom role
    bindings = deployer(boot, stack)
    for role in roles:
        assert allowed(bindings, grant(PROJECTS[stack], role)), role
    assert allowed(bindings, grant(PROJECTS[stack], *sorted(roles)))


def test_a_role_the_list_misses_is_refused(boot: runner.Run) -> None:
    """What the test above reports when the stack grows a project role without the list."""
    assert not allowed(deployer(boot, "dev"), grant("acme-ml-dev", "roles/logging.logWriter"))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_requests_that_change_no_grant_pass_the_stack_binding(boot: runner.Run, stack: str) -> None:
    bindings = deployer(boot, stack)
    assert allowed(bindings, Request("container.clusters.create"))
    assert allowed(bindings, Request("compute.networks.create", "compute.googleapis.com/Network"))
    # Service-account IAM and actAs are not in any project binding: the bootstrap owns the
    # accounts; actAs is granted on the node account only (tests/test_day0_accounts.py).
    for permission in (
        "iam.serviceAccounts.setIamPolicy",
        "iam.serviceAccounts.actAs",
        "iam.serviceAccounts.create",
        "iam.serviceAccounts.getAccessToken",
    ):
        assert not allowed(bindings, Request(permission)), permission
    # Audit-config changes modify no grant: an empty modifiedGrantsByRole is admitted.
    assert allowed(bindings, grant(PROJECTS[stack]))
    assert not allowed(bindings, Request("iam.roles.update"))  # no iam.roles.* is held
    assert not allowed(bindings, Request("iam.serviceAccountKeys.create"))


def secret(name: str) -> str:
    return f"projects/{NUMBER}/secrets/{name}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_secret_iam_and_payloads_only_on_the_stacks_secrets(
    boot: runner.Run, stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    bindings = deployer(boot, stack)
    ids = {r.inputs["secretId"] for r in run.of_type("gcp:secretmanager/secret:Secret")}
    assert ids
    for sid in ids:
        assert allowed(
            bindings, Request("secretmanager.secrets.setIamPolicy", conditions.SECRET, secret(sid))
        )
        version = f"{secret(sid)}/versions/1"
        assert allowed(
            bindings, Request("secretmanager.versions.access", conditions.SECRET_VERSION, version)
        )
        # A longer id sharing the prefix is another secret.
        assert not allowed(
            bindings,
            Request("secretmanager.secrets.setIamPolicy", conditions.SECRET, secret(sid + "x")),
        )
    for other in ("db-password", "airflow-connections-other"):
        for perm, type_, name in (
            ("secretmanager.secrets.setIamPolicy", conditions.SECRET, secret(other)),
            (
                "secretmanager.versions.access",
                conditions.SECRET_VERSION,
                f"{secret(other)}/versions/3",
            ),
        ):
            assert not allowed(bindings, Request(perm, type_, name)), (other, perm)


def test_bucket_and_key_iam_only_on_the_stacks_own(boot: runner.Run, prod: runner.Run) -> None:
    bindings = deployer(boot, "prod")
    for r in prod.of_type("gcp:storage/bucketIAMMember:BucketIAMMember"):
        name = f"projects/_/buckets/{r.inputs['bucket']}"
        assert allowed(bindings, Request("storage.buckets.setIamPolicy", conditions.BUCKET, name))
    for r in prod.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"):
        key = r.inputs["cryptoKeyId"]
        assert allowed(
            bindings, Request("cloudkms.cryptoKeys.setIamPolicy", conditions.CRYPTO_KEY, key)
        )
    state_key = "projects/acme-ml-ci/locations/global/keyRings/pulumi/cryptoKeys/state"
    for request in (
        Request(
            "storage.buckets.setIamPolicy",
            conditions.BUCKET,
            "projects/_/buckets/acme-ml-pulumi-state",
        ),
        Request("storage.buckets.setIamPolicy", conditions.BUCKET, "projects/_/buckets/other"),
        Request("cloudkms.cryptoKeys.setIamPolicy", conditions.CRYPTO_KEY, state_key),
        Request(
            "cloudkms.cryptoKeys.setIamPolicy",
            conditions.CRYPTO_KEY,
            "projects/acme-ml-prod/locations/us-central1/keyRings/gke/cryptoKeys/other",
        ),
    ):
        assert not allowed(bindings, request), request
    # dev has no buckets or keys: nothing of either kind.
    assert not allowed(
        deployer(boot, "dev"),
        Request("storage.buckets.setIamPolicy", conditions.BUCKET, "projects/_/buckets/x"),
    )


def test_the_preview_identity_changes_nothing(boot: runner.Run) -> None:
    for project in PROJECTS.values():
        bindings = project_bindings(boot, project, PREVIEW)
        assert [b.condition for b in bindings] == [None]
        assert allowed(bindings, Request("container.clusters.get"))
        assert allowed(bindings, Request("container.namespaces.list"))
        for perm in (SET_POLICY, "secretmanager.versions.access", "container.clusters.update"):
            assert not allowed(bindings, Request(perm))


def test_the_preview_lock_grant_is_the_lock_prefix_only(boot: runner.Run) -> None:
    lock = boot.one("gcp:storage/bucketIAMMember:BucketIAMMember", "ci-preview-lock")
    binding = [
        Binding(frozenset({"storage.objects.create"}), lock.inputs["condition"]["expression"])
    ]
    objects = "projects/_/buckets/acme-ml-pulumi-state/objects/"
    obj = "storage.googleapis.com/Object"
    assert allowed(
        binding, Request("storage.objects.create", obj, objects + ".pulumi/locks/dev/x.json")
    )
    assert not allowed(
        binding, Request("storage.objects.create", obj, objects + ".pulumi/stacks/dev.json")
    )


def test_every_condition_stays_within_iams_operator_limit(boot: runner.Run) -> None:
    exprs = [
        r.inputs["condition"]["expression"] for r in boot.registrations if "condition" in r.inputs
    ]
    assert len(exprs) == 7  # 6 deployer bindings in dev and prod, the preview lock grant
    assert all(conditions.logical_operators(e) <= conditions.MAX_LOGICAL_OPERATORS for e in exprs)
    many = conditions.secret_conditions(NUMBER, [f"s{i}" for i in range(12)], ["roles/a"])
    assert len(many) == 3
    assert all(conditions.logical_operators(c.expression) <= 12 for c in many)


CLAIMS = {
    "repository": "acme/astro-gke-gpu",
    "repository_id": "812345678",
    "sub": "repo:acme/astro-gke-gpu:ref:refs/heads/main",
}


@pytest.mark.parametrize(
    ("claims", "gate"),
    [
        ({"ref": "refs/heads/main", "event_name": "push"}, "deploy"),
        ({"ref": "refs/heads/main", "event_name": "workflow_dispatch"}, "deploy"),
        ({"ref": "refs/heads/main", "event_name": "push", "environment": "dev"}, "deploy"),
        (
            {"ref": "refs/heads/feature", "event_name": "push", "environment": "production"},
            "deploy",
        ),
        ({"ref": "refs/pull/7/merge", "event_name": "pull_request"}, "preview"),
        ({"ref": "refs/heads/feature", "event_name": "push"}, "none"),
        ({"ref": "refs/heads/feature", "event_name": "push", "environment": "dev"}, "none"),
        # pull_request_target runs with the base ref: never the deploy identity.
        ({"ref": "refs/heads/main", "event_name": "pull_request_target"}, "none"),
        ({"ref": "refs/heads/main", "event_name": "schedule"}, "none"),
    ],
)
def test_the_gate_attribute(boot: runner.Run, claims: dict[str, str], gate: str) -> None:
    provider = boot.one("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    mapping = provider.inputs["attributeMapping"]["attribute.gate"]
    assert evaluate(mapping, {"assertion": {**CLAIMS, **claims}}) == gate


@pytest.mark.parametrize(
    ("override", "admitted"),
    [
        ({}, True),
        ({"repository_id": "999"}, False),  # the name re-registered by someone else
        ({"repository": "evil/astro-gke-gpu"}, False),
        (
            {"repository": "acme/other", "repository_id": "812345678"},
            False,
        ),  # renamed: re-run bootstrap
    ],
)
def test_the_provider_admits_only_the_pinned_repository(
    boot: runner.Run, override: dict[str, str], admitted: bool
) -> None:
    provider = boot.one("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    claims = {**CLAIMS, "ref": "refs/heads/main", "event_name": "push", **override}
    assert evaluate(provider.inputs["attributeCondition"], {"assertion": claims}) is admitted


def test_each_identity_is_bound_to_its_gate_only(boot: runner.Run) -> None:
    members = {
        r.name: (r.inputs["role"], r.inputs["member"])
        for r in boot.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if r.name.startswith("ci-")  # the stacks' accounts: tests/test_day0_accounts.py
    }
    pool = f"principalSet://iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/github"
    assert members == {
        "ci-deploy-federation": ("roles/iam.workloadIdentityUser", f"{pool}/attribute.gate/deploy"),
        "ci-preview-federation": (
            "roles/iam.workloadIdentityUser",
            f"{pool}/attribute.gate/preview",
        ),
    }
