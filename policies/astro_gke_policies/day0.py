"""Day-0 policies (bootstrap/): the identities that deploy must stay unable to escalate, and the
state they write must stay recoverable.

- A Workload Identity provider without an attribute condition admits every token its issuer
  signs (for GitHub: every repository on github.com); it must pin the repository by its immutable
  id (`assertion.repository_id`).
- A project-level grant of a role that can change the project's IAM policy must carry
  Google's "limit the roles a principal can grant" condition
  (`api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([...])`).
- Pulumi's state bucket keeps every generation (versioning): a bad write is undone by restoring.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs, StackValidationArgs

from astro_gke_policies.define import MANDATORY, Meta, of_type, resource_policy, stack_policy
from astro_gke_policies.props import get, items, text

PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
BUCKET = "gcp:storage/bucket:Bucket"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
PROJECT_GRANTS = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
SET_PROJECT_POLICY = "resourcemanager.projects.setIamPolicy"
# Predefined roles holding resourcemanager.projects.setIamPolicy (iann0036/iam-dataset
# gcp/roles/*.json); owner is refused outright by iam-no-primitive-roles.
PROJECT_IAM_ADMIN_ROLES = (
    "roles/resourcemanager.projectIamAdmin",
    "roles/iam.securityAdmin",
    "roles/resourcemanager.folderAdmin",
    "roles/resourcemanager.organizationAdmin",
)
STATE_LABEL = ("purpose", "pulumi-state")
LIMIT_ATTRIBUTE = "iam.googleapis.com/modifiedGrantsByRole"


def _provider_pinned(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    condition = text(props, "attributeCondition").strip()
    if not condition:
        yield "no attribute condition: every token the issuer signs is admitted."
    elif "assertion.repository_id" not in condition:
        yield (
            "the attribute condition does not pin assertion.repository_id: a repository name can "
            "be registered again by someone else."
        )


def is_state_bucket(props: Mapping[str, Any]) -> bool:
    return text(props, "labels", STATE_LABEL[0]) == STATE_LABEL[1]


def _state_versioned(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not is_state_bucket(props):
        return
    if get(props, "versioning", "enabled") is not True:
        yield "the Pulumi state bucket has no object versioning: an overwritten state is lost."


def _limited(props: Mapping[str, Any]) -> bool:
    expression = text(props, "condition", "expression")
    return LIMIT_ATTRIBUTE in expression and ".hasOnly(" in expression


def _project_iam_admin_limited(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    admin_roles = set(PROJECT_IAM_ADMIN_ROLES)
    for r in args.resources:
        if r.resource_type == CUSTOM_ROLE and SET_PROJECT_POLICY in items(
            get(r.props, "permissions")
        ):
            admin_roles.add(f"projects/{text(r.props, 'project')}/roles/{text(r.props, 'roleId')}")
    for r in args.resources:
        granted = r.resource_type in PROJECT_GRANTS and text(r.props, "role") in admin_roles
        if granted and not _limited(r.props):
            yield (
                f"{text(r.props, 'role')} can change the project's IAM policy and is granted "
                "without a modifiedGrantsByRole hasOnly([...]) condition: its holder can grant "
                "itself roles/owner.",
                r.urn,
            )


def policies() -> list[Policy]:
    return [
        resource_policy(
            Meta(
                "wif-provider-pins-repository",
                "Workload Identity providers have an attribute condition pinning the repository id.",
                MANDATORY,
                remediation="attribute_condition: assertion.repository_id == '<id>' && ...",
            ),
            of_type(PROVIDER),
            _provider_pinned,
        ),
        stack_policy(
            Meta(
                "project-iam-admin-limited",
                "Project IAM admin (setIamPolicy) is granted only with a modifiedGrantsByRole condition.",
                MANDATORY,
                remediation="Add the condition components/day0/conditions.py builds.",
            ),
            _project_iam_admin_limited,
        ),
        resource_policy(
            Meta(
                "state-bucket-versioned",
                "The Pulumi state bucket keeps object versions.",
                MANDATORY,
            ),
            of_type(BUCKET),
            _state_versioned,
        ),
    ]
