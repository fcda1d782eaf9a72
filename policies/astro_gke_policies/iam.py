"""IAM policies: no primitive roles, no keys, no public members, no project-wide impersonation or
secret access, no pod permissions at project level."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from astro_gke_policies.define import MANDATORY, Meta, of_type, on_type, resource_policy
from astro_gke_policies.props import get, is_iam_member, items, members

PRIMITIVE_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
PROJECT_LEVEL_FORBIDDEN = (
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.serviceAccountUser",
    "roles/secretmanager.secretAccessor",
)
PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
SA_KEY = "gcp:serviceaccount/key:Key"
POD_PERMISSION_PREFIXES = ("container.pods.", "container.events.")
# The deploy identity's role (bootstrap/): Kubernetes refuses a Role granting what its creator
# lacks, so it holds the pod rules of the stack's Roles; bounded in docs/day0.md.
DEPLOYER_ROLE_ID = "astroGkeDeployer"


def _no_primitive_roles(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    role = get(props, "role")
    if role in PRIMITIVE_ROLES:
        yield f"{role} is a primitive role; grant a predefined or custom role instead."


def _no_keys(_props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    yield "service account keys are static credentials; use impersonation or Workload Identity."


def _no_public_members(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for member in members(props):
        if member in PUBLIC_MEMBERS:
            yield f"{member} makes this resource public."


def _no_project_level_impersonation(
    props: Mapping[str, Any], _: ResourceValidationArgs
) -> Iterator[str]:
    role = get(props, "role")
    if role in PROJECT_LEVEL_FORBIDDEN:
        yield f"{role} on the project reaches every service account or secret; grant it on the one resource."


def _no_project_pod_permissions(
    props: Mapping[str, Any], _: ResourceValidationArgs
) -> Iterator[str]:
    found = [
        permission
        for permission in items(get(props, "permissions"))
        if isinstance(permission, str) and permission.startswith(POD_PERMISSION_PREFIXES)
    ]
    # The role id is read only when it matters: a first preview may not know it.
    if not found or get(props, "roleId") == DEPLOYER_ROLE_ID:
        return
    for permission in found:
        yield (
            f"{permission} in a project-level custom role applies to every namespace of every cluster; "
            "grant pod access with namespaced RBAC."
        )


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy(
            Meta(
                "iam-no-primitive-roles",
                "No IAM grant uses Owner, Editor or Viewer.",
                MANDATORY,
                None,
                "CKV_GCP_117",
            ),
            on_type(is_iam_member),
            _no_primitive_roles,
        ),
        resource_policy(
            Meta(
                "iam-no-service-account-keys",
                "No user-managed service account keys are created.",
                MANDATORY,
                "CIS GCP 1.4",
                "CKV2_GCP_3",
            ),
            of_type(SA_KEY),
            _no_keys,
        ),
        resource_policy(
            Meta(
                "iam-no-public-members",
                "No IAM grant goes to allUsers or allAuthenticatedUsers.",
                MANDATORY,
            ),
            on_type(is_iam_member),
            _no_public_members,
        ),
        resource_policy(
            Meta(
                "iam-no-project-level-impersonation",
                "Token Creator, Service Account User and Secret Accessor are never granted on the whole project.",
                MANDATORY,
                "CIS GCP 1.6",
                "CKV_GCP_49",
            ),
            of_type(*PROJECT_IAM),
            _no_project_level_impersonation,
        ),
        resource_policy(
            Meta(
                "iam-no-project-pod-permissions",
                "Project-level custom roles carry no container.pods.* or container.events.* permission.",
                MANDATORY,
            ),
            of_type(CUSTOM_ROLE),
            _no_project_pod_permissions,
        ),
    ]
