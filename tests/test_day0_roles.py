"""The stacks' custom roles belong to the bootstrap: the main stack (dev, prod, and a first preview
of each) registers no custom role and grants each one by name; the bootstrap creates exactly the
roles the main stacks grant, with the main stack's own permission code, protected. So the deploy
identity needs no iam.roles.* and cannot write a permission into a role it may grant."""

from __future__ import annotations

import pytest

from components import custom_roles, launcher_role, xcom_bucket
from components.config import load
from components.day0 import escalation
from offline import runner
from offline.mocks import RecordingMonitor
from tests.day0 import CUSTOM_ROLE, InputsOnly, run_bootstrap

KEY = "astro-gke-gpu:platform"
PROJECTS = {"dev": "acme-ml-dev", "prod": "acme-ml-prod"}
# Every resource type whose `role` input can name a custom role.
GRANTS = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:secretmanager/secretIamMember:SecretIamMember",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
)


@pytest.fixture(scope="module")
def boot() -> runner.Run:
    return run_bootstrap()


def first_preview(stack: str) -> runner.Run:
    mocks = InputsOnly()
    return runner.run(stack, mocks=mocks, monitor=RecordingMonitor(mocks), preview=True)


def granted_custom_roles(run: runner.Run) -> set[str]:
    return {
        r.inputs["role"]
        for t in GRANTS
        for r in run.of_type(t)
        if str(r.inputs.get("role", "")).startswith("projects/")
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_main_stack_registers_no_custom_role_and_grants_the_bootstraps(
    stack: str, boot: runner.Run
) -> None:
    created = {
        f"projects/{r.inputs['project']}/roles/{r.inputs['roleId']}"
        for r in boot.of_type(CUSTOM_ROLE)
    }
    for run in (runner.run(stack), first_preview(stack)):
        assert run.of_type(CUSTOM_ROLE) == []
        granted = granted_custom_roles(run)
        assert granted  # dev and prod both grant the launcher role
        assert granted <= created, granted - created
    cfg = load(runner.stack_config(stack)[KEY])
    assert granted == {r.name for r in custom_roles.stack_roles(cfg)}


def test_the_bootstrap_creates_exactly_the_stacks_roles_protected(boot: runner.Run) -> None:
    mine = [r for r in boot.of_type(CUSTOM_ROLE) if r.name.startswith("roles-")]
    assert sorted(r.name for r in mine) == [
        "roles-dev-launcher",
        "roles-prod-launcher",
        "roles-prod-xcom",
    ]
    by_name = {r.name: r for r in mine}
    dev = by_name["roles-dev-launcher"]
    assert dev.inputs == {
        "project": "acme-ml-dev",
        "roleId": "astroKpoLauncher_astro_gpu_dev",
        "title": "KPO launcher for astro-gpu-dev",
        "description": "Authenticate to the GKE cluster only; pod permissions are namespaced RBAC.",
        "permissions": ["container.clusters.get", "container.clusters.connect"],
        "stage": "GA",
    }
    assert dev.inputs["permissions"] == launcher_role.permissions(dns_endpoint=True)
    xcom = by_name["roles-prod-xcom"]
    assert xcom.inputs["roleId"] == "astroXcomObjects_astro_gpu_prod"
    assert xcom.inputs["permissions"] == xcom_bucket.XCOM_PERMISSIONS
    parent = boot.by_urn(dev.parent)
    assert (parent.type, parent.name) == ("astro-gke-gpu:day0:StackRoles", "roles-dev")
    # Every custom role of the bootstrap is protected (a role id stays reserved 37 days).
    assert all(r.protect for r in boot.of_type(CUSTOM_ROLE))


def test_a_first_bootstrap_preview_creates_the_same_roles() -> None:
    mocks = InputsOnly()
    preview = run_bootstrap(mocks=mocks, monitor=RecordingMonitor(mocks), preview=True)
    names = sorted(r.name for r in preview.of_type(CUSTOM_ROLE) if r.name.startswith("roles-"))
    assert names == ["roles-dev-launcher", "roles-prod-launcher", "roles-prod-xcom"]


def test_no_role_without_deployments_and_no_xcom_role_without_remote() -> None:
    cfg = load(runner.stack_config("dev")[KEY])
    assert [r.key for r in custom_roles.stack_roles(cfg)] == ["launcher"]
    assert custom_roles.stack_roles(cfg.model_copy(update={"deployments": []})) == []


def test_the_deployer_can_neither_create_nor_undelete_a_role_it_could_grant() -> None:
    held = escalation.deploy_holds()
    assert not {p for p in held if p.startswith("iam.roles.")}
    methods = {m.name: m for m in escalation.METHODS}
    for name in ("iam.roles.create + grant it", "iam.roles.undelete + grant it"):
        assert not set(methods[name].permissions) <= held
    assert "| iam.roles.create + grant it | no (lacks `iam.roles.create`) | — | no |" in (
        escalation.render()
    )
