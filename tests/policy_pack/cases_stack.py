"""Violation cases for policies/astro_gke_policies/stack.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

import dataclasses

from offline.mocks import Registration
from tests.policy_pack.mutations import (
    POOL,
    Case,
    add,
    edit,
    find,
    remove,
    set_path,
)


def _in_cluster_project_grant(regs: list[Registration]) -> list[Registration]:
    """A project-level grant under the in-cluster deployment, which needs none."""
    parent = find(regs, "airflow:DeploymentAccess", "astro-gpu-prod-batch-remote").urn
    grant = {"project": "acme-ml-prod", "role": "roles/container.developer", "member": "x"}
    added = add("gcp:projects/iAMMember:IAMMember", "batch-project-grant", grant)(regs)
    return [*added[:-1], dataclasses.replace(added[-1], parent=parent)]


CASES: list[Case] = [
    (
        "stack-gpu-pool-has-cpu-pool",
        "dev",
        "mandatory",
        remove(POOL, "astro-gpu-dev-system-pool"),
        "has no CPU pool beside it",
        {},
    ),
    (
        "stack-airflow-deployment-complete",
        "dev",
        "mandatory",
        remove("rbac.authorization.k8s.io/v1:RoleBinding"),
        "lacks its RoleBinding",
        {},
    ),
    (
        "stack-airflow-deployment-complete",
        "dev",
        "mandatory",
        remove("policy/v1:PodDisruptionBudget"),
        "lacks its PodDisruptionBudget",
        {},
    ),
    (
        "stack-launcher-only-cluster-role",
        "dev",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-dev-analytics-cluster-access",
            set_path("role", value="roles/container.developer"),
        ),
        "gets roles/container.developer on the project",
        {},
    ),
    (
        "stack-launcher-only-cluster-role",
        "prod",
        "mandatory",
        _in_cluster_project_grant,
        "the launcher of astro-gpu-prod-batch-remote gets roles/container.developer on the project",
        {},
    ),
    # The bootstrap creates the launcher role: its content is checked where it is registered.
    (
        "stack-launcher-only-cluster-role",
        "ci",
        "mandatory",
        edit(
            "projects/iAMCustomRole:IAMCustomRole",
            "roles-prod-launcher",
            lambda w: w["permissions"].append("iam.serviceAccounts.getAccessToken"),
        ),
        "the launcher role astroKpoLauncher_astro_gpu_prod holds iam.serviceAccounts.getAccessToken",
        {},
    ),
]
