"""Violation cases for policies/astro_gke_policies/iam.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from tests.policy_pack.mutations import (
    BUCKET_IAM,
    Case,
    add,
    edit,
    set_path,
)

CASES: list[Case] = [
    (
        "iam-no-primitive-roles",
        "dev",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-dev-nodes-monitoring-metricWriter",
            set_path("role", value="roles/editor"),
        ),
        "roles/editor is a primitive role",
        {},
    ),
    (
        "iam-no-service-account-keys",
        "dev",
        "mandatory",
        add("gcp:serviceaccount/key:Key", "nodes-key", {"serviceAccountId": "astro-gpu-dev-nodes"}),
        "static credentials",
        {},
    ),
    (
        "iam-no-public-members",
        "dev",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-dev-nodes-monitoring-metricWriter",
            set_path("member", value="allAuthenticatedUsers"),
        ),
        "allAuthenticatedUsers makes this resource public",
        {},
    ),
    (
        "iam-no-project-level-impersonation",
        "dev",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-dev-analytics-cluster-access",
            set_path("role", value="roles/iam.serviceAccountTokenCreator"),
        ),
        "reaches every service account",
        {},
    ),
    (
        "iam-no-project-pod-permissions",
        "ci",
        "mandatory",
        edit(
            "projects/iAMCustomRole:IAMCustomRole",
            "roles-dev-launcher",
            lambda w: w["permissions"].append("container.pods.create"),
        ),
        "container.pods.create in a project-level custom role",
        {},
    ),
    (
        "iam-no-public-members",
        "prod",
        "mandatory",
        edit(BUCKET_IAM, None, set_path("member", value="allUsers")),
        "allUsers makes this resource public",
        {},
    ),
]
