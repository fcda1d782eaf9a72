"""Identities and grants: service accounts, custom roles, IAM members and service identities
(terraform-provider-google and -beta)."""

from __future__ import annotations

from offline.forcenew_tables.fields import Field, R, U

# google/services/resourcemanager/resource_google_service_account.go
# @ 0540ffede9083228e6d6177e2b50d3b91e5bde13
ACCOUNT: dict[str, Field] = {
    "accountId": R,
    "project": R,
    "displayName": U,
    "description": U,
    "disabled": U,
}

# google/services/resourcemanager/resource_google_project_iam_custom_role.go
# @ 2f152ea2d0d16efd92d3bd561e67a2b34db0beb0
CUSTOM_ROLE: dict[str, Field] = {
    "roleId": R,
    "project": R,
    "title": U,
    "description": U,
    "permissions": U,
    "stage": U,
}


# IAM members: google/tpgiamresource/resource_iam_member.go
# @ 0262be693c00e5902e2190d2ae307d6112467e31
# `ResourceIamMember` has no Update, role/member/condition are ForceNew, and the SDK requires every
# other input (the parent-specific schema: project, secret_id, ...) to be ForceNew too.
_IAM_MEMBER_BASE: dict[str, Field] = {
    "role": R,
    "member": R,
    "condition": R,
}


def iam_member(*parent: str) -> dict[str, Field]:
    return {**_IAM_MEMBER_BASE, **{p: R for p in parent}}


# google-beta/services/resourcemanager/resource_project_service_identity.go
# @ 7d060ee735ae918908fe3f1026ad57befb73329b (a google-beta resource; pulumi-gcp bridges the beta
# provider): no Update, service and project ForceNew.
SERVICE_IDENTITY: dict[str, Field] = {"service": R, "project": R}
