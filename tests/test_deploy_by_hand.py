"""docs/deploying.md's route without CI (impersonating the deploy identity) agrees with what the
bootstrap creates and grants: the role the docs tell an owner to grant is the one impersonation
needs, the bootstrap grants it to no person today (so the manual step is needed), and the variables
the commands read are the bootstrap's outputs."""

from __future__ import annotations

import re

import pytest

from offline import runner
from tests.day0 import run_bootstrap

DOC = (runner.ROOT / "docs" / "deploying.md").read_text()
SECTION = DOC[DOC.index("## Without CI: as the deploy identity") :]
SECTION = SECTION[: SECTION.index("\n## ", 1)]
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"


@pytest.fixture(scope="module")
def boot() -> runner.Run:
    return run_bootstrap()


def test_the_grant_the_docs_name_is_token_creator_on_the_deploy_account_only() -> None:
    grant = re.search(
        r'gcloud iam service-accounts add-iam-policy-binding "\$(\w+)" \\\n\s+'
        r'--member="user:[^"]+" --role="([^"]+)"',
        SECTION,
    )
    assert grant, SECTION
    assert grant.group(1) == "GCP_DEPLOY_SERVICE_ACCOUNT"
    assert (
        grant.group(2) == TOKEN_CREATOR
    )  # on the account (a resource-level grant), not the project
    assert "gcloud projects add-iam-policy-binding" not in SECTION


def test_the_bootstrap_grants_no_one_token_creator_on_the_deploy_account(boot: runner.Run) -> None:
    deploy = next(
        r
        for r in boot.registrations
        if r.type == "gcp:serviceaccount/account:Account"
        and r.inputs.get("accountId") == "pulumi-deploy"
    )
    on_deploy = [
        r
        for r in boot.registrations
        if r.type.startswith("gcp:serviceaccount/iAM")
        and "pulumi-deploy@" in str(r.inputs.get("serviceAccountId", ""))
        and r.inputs.get("role") == TOKEN_CREATOR
    ]
    assert deploy.inputs["accountId"] == "pulumi-deploy"
    assert on_deploy == []  # so the docs' manual grant is the only route today
    # Token Creator is granted only to Astro identities, on their launchers
    creators = [r for r in boot.registrations if r.inputs.get("role") == TOKEN_CREATOR]
    assert creators and all(r.name.endswith("-launcher-token-creator") for r in creators)


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
