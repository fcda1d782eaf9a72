"""docs/deploying.md's route without CI (impersonating the deploy identity) agrees with what the
bootstrap creates and grants: each person or group named in `identities.deploy_impersonators` gets
exactly Token Creator on the deploy account (a resource-level grant, never the project), nobody
gets it when the list is empty, a bad member is one keyed error before any resource, and the
variables the commands read are the bootstrap's outputs."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from offline import runner
from offline.analyzer import PolicyPackServer
from offline.mocks import PlaceholderMocks, RecordingMonitor
from tests.day0 import BOOT_KEY, BOOTSTRAP, run_bootstrap

DOC = (runner.ROOT / "docs" / "deploying.md").read_text()
SECTION = DOC[DOC.index("## Without CI: as the deploy identity") :]
SECTION = SECTION[: SECTION.index("\n## ", 1)]
DAY0 = (runner.ROOT / "docs" / "day0.md").read_text()
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
DEPLOY_ACCOUNT = (
    "projects/acme-ml-ci/serviceAccounts/pulumi-deploy@acme-ml-ci.iam.gserviceaccount.com"
)
PEOPLE = ["user:ana@acme.example", "group:ml-platform-oncall@acme.example"]


def _raw() -> dict[str, Any]:
    return copy.deepcopy(runner.stack_config("ci", root=BOOTSTRAP)[BOOT_KEY])


def _with_people(people: list[str]) -> dict[str, Any]:
    cfg = _raw()
    cfg.setdefault("identities", {})["deploy_impersonators"] = people
    return {BOOT_KEY: cfg}


@pytest.fixture(scope="module")
def boot() -> runner.Run:
    return run_bootstrap()


@pytest.fixture(scope="module")
def boot_people() -> runner.Run:
    return run_bootstrap(_with_people(PEOPLE))


def _token_creator_on_deploy(run: runner.Run) -> list[Any]:
    return [
        r
        for r in run.registrations
        if r.inputs.get("role") == TOKEN_CREATOR
        and "pulumi-deploy@" in str(r.inputs.get("serviceAccountId", ""))
    ]


def test_each_named_person_gets_token_creator_on_the_deploy_account_only(
    boot_people: runner.Run,
) -> None:
    grants = _token_creator_on_deploy(boot_people)
    assert sorted(
        (r.type, r.name, r.inputs["serviceAccountId"], r.inputs["role"], r.inputs["member"])
        for r in grants
    ) == sorted(
        (SA_IAM, f"ci-deploy-impersonator-{p}", DEPLOY_ACCOUNT, TOKEN_CREATOR, p) for p in PEOPLE
    )
    for r in grants:
        assert set(r.inputs) == {"serviceAccountId", "role", "member"}  # no condition, no extra
        assert "::astro-gke-gpu:day0:CiIdentities$" in r.urn  # a child of the CI identities
    # Nothing else names them: no project grant, no grant on any other account, bucket or key.
    theirs = [r for r in boot_people.registrations if r.inputs.get("member") in PEOPLE]
    assert sorted(r.name for r in theirs) == sorted(r.name for r in grants)
    # The preview identity stays CI-only.
    assert not [
        r
        for r in boot_people.registrations
        if "pulumi-preview@" in str(r.inputs.get("serviceAccountId", ""))
        and r.inputs.get("role") == TOKEN_CREATOR
    ]


def test_the_pack_passes_the_bootstrap_with_people_listed(boot_people: runner.Run) -> None:
    """The grants are resource-level, so no policy (project-level impersonation, public members)
    refuses them."""
    with PolicyPackServer() as pack:
        assert pack.analyze_all(boot_people.registrations) == []


def test_adding_people_only_adds_their_grants(boot: runner.Run, boot_people: runner.Run) -> None:
    """Every existing resource keeps its URN and inputs; the grants are the one addition."""
    before = {r.urn: r.inputs for r in boot.registrations}
    after = {r.urn: r.inputs for r in boot_people.registrations}
    added = set(after) - set(before)
    assert set(before) <= set(after)
    assert sorted(u.rsplit("::", 1)[1] for u in added) == sorted(
        f"ci-deploy-impersonator-{p}" for p in PEOPLE
    )
    assert all(after[u] == before[u] for u in before)


def test_the_bootstrap_grants_no_one_token_creator_on_the_deploy_account(
    boot: runner.Run,
) -> None:
    """Without `identities.deploy_impersonators` (the shipped example), nobody gets it."""
    deploy = next(
        r
        for r in boot.registrations
        if r.type == "gcp:serviceaccount/account:Account"
        and r.inputs.get("accountId") == "pulumi-deploy"
    )
    assert deploy.inputs["accountId"] == "pulumi-deploy"
    assert "deploy_impersonators" not in _raw().get("identities", {})  # the example names nobody
    assert _token_creator_on_deploy(boot) == []
    # Token Creator is granted only to Astro identities, on their launchers
    creators = [r for r in boot.registrations if r.inputs.get("role") == TOKEN_CREATOR]
    assert creators and all(r.name.endswith("-launcher-token-creator") for r in creators)


@pytest.mark.parametrize(
    "member",
    [
        "serviceAccount:ci-bot@acme-ml-ci.iam.gserviceaccount.com",
        "user:ci-bot@acme-ml-ci.iam.gserviceaccount.com",
        "domain:acme.example",
        "allUsers",
        "allAuthenticatedUsers",
        "user:*@acme.example",
        "group:*",
        "ana@acme.example",
        "user:Ana@acme.example",
        "principalSet://iam.googleapis.com/locations/global/workforcePools/p/*",
    ],
)
def test_a_member_that_is_not_a_named_person_or_group_is_one_keyed_error(member: str) -> None:
    monitor = RecordingMonitor(PlaceholderMocks())
    with pytest.raises(Exception) as err:
        runner.run("ci", config=_with_people([member]), root=BOOTSTRAP, monitor=monitor)
    text = str(err.value)
    assert "invalid stack config 'astro-gke-bootstrap:bootstrap' (1 problem(s))" in text
    assert (
        f"identities.deploy_impersonators: {member}: each must be `user:<email>` or "
        "`group:<email>` of a named person or Google group, in lowercase: no service accounts"
    ) in text
    assert monitor.registrations == []


def test_a_repeated_member_is_refused_too() -> None:
    monitor = RecordingMonitor(PlaceholderMocks())
    with pytest.raises(Exception, match="identities.deploy_impersonators: each member may be"):
        runner.run("ci", config=_with_people([PEOPLE[0]] * 2), root=BOOTSTRAP, monitor=monitor)
    assert monitor.registrations == []


def test_the_grant_the_docs_name_is_token_creator_on_the_deploy_account_only() -> None:
    listed = re.search(r"identities:\n\s+deploy_impersonators:\n\s+- (user:[^\s]+)\n", SECTION)
    assert listed, SECTION
    assert TOKEN_CREATOR in SECTION
    assert "on the deploy service account only" in SECTION
    assert "cd bootstrap && pulumi up" in SECTION
    # The grant lives in the bootstrap's state: no hand-made binding to drift from it.
    assert "add-iam-policy-binding" not in SECTION


def test_the_escalation_review_names_who_can_become_the_deploy_identity() -> None:
    review = DAY0[DAY0.index("## No escalation") : DAY0.index("### What could not be bounded")]
    who = review[review.index("**Who can become the deploy identity**") :]
    who = who[: who.index("\n- **", 1)]
    assert "`identities.deploy_impersonators`" in who
    assert f"`{TOKEN_CREATOR}`" in who
    assert "on the deploy service account only" in who
    assert "`user:` and `group:`" in who


def test_both_credential_paths_impersonate_the_same_account() -> None:
    assert (
        'gcloud auth application-default login --impersonate-service-account="$GCP_DEPLOY_SERVICE_ACCOUNT"'
        in SECTION
    )
    assert (
        'gcloud config set auth/impersonate_service_account "$GCP_DEPLOY_SERVICE_ACCOUNT"'
        in SECTION
    )
    assert "pulumi up --policy-pack policies" in SECTION
    assert "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT" in SECTION
    program = (runner.ROOT / "bootstrap" / "__main__.py").read_text()
    for var in set(re.findall(r"\$([A-Z_]+)", SECTION)):
        assert f'"{var}"' in program, var  # each is a repository_variables output
