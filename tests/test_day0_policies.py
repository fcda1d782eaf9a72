"""The day-0 policies (policies/astro_gke_policies/day0.py), through the pack's real Analyzer
gRPC service: the bootstrap passes every policy, and each day-0 policy refuses its violation."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from offline import runner
from offline.analyzer import PolicyPackServer, Verdict
from offline.mocks import Registration
from tests.day0 import run_bootstrap

DAY0_POLICIES = {
    "wif-provider-pins-repository",
    "project-iam-admin-limited",
    "state-bucket-versioned",
}


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackServer]:
    with PolicyPackServer() as server:
        yield server


@pytest.fixture(scope="module")
def boot() -> runner.Run:
    return run_bootstrap()


def edited(boot: runner.Run, name: str, **wire: object) -> list[Registration]:
    out = []
    for r in boot.registrations:
        if r.name == name:
            r = copy.copy(r)
            r.wire = {k: v for k, v in {**r.wire, **wire}.items() if v is not None}
        out.append(r)
    return out


def mandatory(verdicts: list[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if v.level == "mandatory"]


def test_the_day0_policies_are_in_the_pack(pack: PolicyPackServer) -> None:
    assert {p.name for p in pack.info().policies} >= DAY0_POLICIES


def test_the_bootstrap_passes_every_policy(pack: PolicyPackServer, boot: runner.Run) -> None:
    assert pack.analyze_all(boot.registrations) == []


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        (None, "no attribute condition: every token the issuer signs is admitted."),
        ("", "no attribute condition"),
        ("assertion.repository == 'acme/astro-gke-gpu'", "does not pin assertion.repository_id"),
    ],
)
def test_a_provider_must_pin_the_repository(
    pack: PolicyPackServer, boot: runner.Run, condition: str | None, fragment: str
) -> None:
    regs = edited(boot, "github-provider", attributeCondition=condition)
    found = mandatory(pack.analyze_all(regs))
    assert [v.policy for v in found] == ["wif-provider-pins-repository"]
    assert fragment in found[0].message


def test_the_deployer_role_without_the_limit_is_refused(
    pack: PolicyPackServer, boot: runner.Run
) -> None:
    regs = edited(boot, "stack-dev-deploy-stack", condition=None)
    found = mandatory(pack.analyze_all(regs))
    assert [(v.policy, v.urn.rsplit("::", 1)[1]) for v in found] == [
        ("project-iam-admin-limited", "stack-dev-deploy-stack")
    ]
    assert (
        "projects/acme-ml-dev/roles/astroGkeDeployer can change the project's IAM"
        in found[0].message
    )
    # A condition that bounds something else is not the limit either.
    other = edited(
        boot,
        "stack-dev-deploy-stack",
        condition={"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"},
    )
    assert [v.policy for v in mandatory(pack.analyze_all(other))] == ["project-iam-admin-limited"]


def test_a_predefined_project_iam_admin_grant_is_refused(
    pack: PolicyPackServer, boot: runner.Run
) -> None:
    regs = edited(boot, "stack-dev-preview", role="roles/resourcemanager.projectIamAdmin")
    assert [v.policy for v in mandatory(pack.analyze_all(regs))] == ["project-iam-admin-limited"]


def test_a_state_bucket_without_versioning_is_refused(
    pack: PolicyPackServer, boot: runner.Run
) -> None:
    for versioning in (None, {"enabled": False}):
        regs = edited(boot, "state-bucket", versioning=versioning)
        found = mandatory(pack.analyze_all(regs))
        assert [v.policy for v in found] == ["state-bucket-versioned"]
        assert "no object versioning" in found[0].message


def test_only_the_deployer_role_may_hold_pod_permissions(
    pack: PolicyPackServer, boot: runner.Run
) -> None:
    """iam-no-project-pod-permissions spares the deploy role by its id only (Kubernetes RBAC
    needs it to hold the Roles' rules); any other project-level custom role is still refused."""
    from astro_gke_policies.iam import DEPLOYER_ROLE_ID

    from components.day0.identities import DEPLOY_ROLE_ID

    assert DEPLOYER_ROLE_ID == DEPLOY_ROLE_ID
    regs = edited(boot, "stack-dev-deploy-role", roleId="astroGkeOther")
    found = {v.policy for v in mandatory(pack.analyze_all(regs))}
    assert "iam-no-project-pod-permissions" in found
