"""The node service account's grants: exactly the documented roles, keyless (the account itself is
the bootstrap's)."""

from __future__ import annotations

from offline import runner
from tests.conftest import PROJECT_IAM, SERVICE_ACCOUNT

NODE_ROLES = {
    "roles/container.defaultNodeServiceAccount",
    "roles/monitoring.metricWriter",
    "roles/stackdriver.resourceMetadata.writer",
}


def test_dev_node_account_and_exact_project_roles(dev: runner.Run) -> None:
    # The account is the bootstrap's (tests/test_day0_accounts.py): here only its grants.
    assert dev.of_type(SERVICE_ACCOUNT) == []
    member = "serviceAccount:astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com"
    # Every project grant to the node account, wherever in the program it was made.
    grants = {
        (b.inputs["project"], b.inputs["role"], b.inputs["member"])
        for b in dev.of_type(PROJECT_IAM)
        if b.inputs["member"] == member
    }
    assert grants == {("acme-ml-dev", role, member) for role in NODE_ROLES}
    assert dev.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember") == []


def test_prod_registry_read_is_per_repository_never_project(prod: runner.Run) -> None:
    member = "serviceAccount:astro-gpu-prod-nodes@acme-ml-prod.iam.gserviceaccount.com"
    project_roles = {
        b.inputs["role"] for b in prod.of_type(PROJECT_IAM) if b.inputs["member"] == member
    }
    assert project_roles == NODE_ROLES
    repo = prod.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert repo.inputs == {
        "project": "acme-ml-prod",
        "location": "us-central1",
        "repository": "ml-images",
        "role": "roles/artifactregistry.reader",
        "member": member,
    }


def test_no_keys_no_primitive_roles_no_default_compute_account(
    dev: runner.Run, prod: runner.Run
) -> None:
    for run in (dev, prod):
        assert run.of_type("gcp:serviceaccount/key:Key") == []
        roles = {
            r.inputs.get("role") for r in run.registrations if r.type.lower().endswith("iammember")
        }
        assert roles.isdisjoint({"roles/owner", "roles/editor", "roles/viewer"})
        assert all("compute@developer" not in repr(r.inputs) for r in run.registrations)
