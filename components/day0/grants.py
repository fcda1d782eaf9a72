"""The bootstrap's two IAM shapes, written once: a custom role, and a grant of a role to a member on
one resource (a project, a service account, a bucket, a key or a repository), optionally with a
condition. components/day0/identities.py, stack_identities.py and stack_roles.py use them; each
keeps its resource names (so their URNs do not change).

Every custom role is created with Pulumi `protect`: a role id stays reserved for 37 days after
its deletion (Google, "Create and manage custom roles", components/custom_roles.CUSTOM_ROLES), so
a removed or renamed role would leave grants that name it failing for weeks. The owner unprotects
one on purpose (docs/day0.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.day0.conditions import Condition


def custom_role(
    name: str,
    *,
    project: pulumi.Input[str],
    role_id: str,
    title: str,
    description: str,
    permissions: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> gcp.projects.IAMCustomRole:
    """A project custom role, protected."""
    return gcp.projects.IAMCustomRole(
        name,
        project=project,
        role_id=role_id,
        title=title,
        description=description,
        permissions=list(permissions),
        stage="GA",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)),
    )


@dataclass(frozen=True)
class Project:
    project_id: pulumi.Input[str]


@dataclass(frozen=True)
class ServiceAccount:
    account: pulumi.Input[str]  # its resource name, projects/<p>/serviceAccounts/<email>


@dataclass(frozen=True)
class Bucket:
    bucket: pulumi.Input[str]


@dataclass(frozen=True)
class CryptoKey:
    key_id: pulumi.Input[str]


@dataclass(frozen=True)
class Repository:
    """An Artifact Registry repository, `projects/<p>/locations/<l>/repositories/<r>`."""

    path: str

    @property
    def parts(self) -> tuple[str, str, str]:
        _, project, _, location, _, repository = self.path.split("/")
        return project, location, repository


Target = Project | ServiceAccount | Bucket | CryptoKey | Repository


def grant(
    name: str,
    *,
    role: pulumi.Input[str],
    member: pulumi.Input[str],
    on: Target,
    opts: pulumi.ResourceOptions,
    condition: pulumi.Input[Condition] | None = None,
) -> pulumi.CustomResource:
    """One non-authoritative IAM member: `member` gets `role` on `on`."""
    c = pulumi.Output.from_input(condition) if condition is not None else None
    parts = (
        {
            "title": c.apply(lambda x: x.title),
            "description": c.apply(lambda x: x.description),
            "expression": c.apply(lambda x: x.expression),
        }
        if c is not None
        else None
    )
    if isinstance(on, Project):
        return gcp.projects.IAMMember(
            name,
            project=on.project_id,
            role=role,
            member=member,
            condition=gcp.projects.IAMMemberConditionArgs(**parts) if parts else None,
            opts=opts,
        )
    if isinstance(on, Bucket):
        return gcp.storage.BucketIAMMember(
            name,
            bucket=on.bucket,
            role=role,
            member=member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(**parts) if parts else None,
            opts=opts,
        )
    if condition is not None:
        raise ValueError(f"{name}: conditions are used on projects and buckets only")
    if isinstance(on, ServiceAccount):
        return gcp.serviceaccount.IAMMember(
            name, service_account_id=on.account, role=role, member=member, opts=opts
        )
    if isinstance(on, CryptoKey):
        return gcp.kms.CryptoKeyIAMMember(
            name, crypto_key_id=on.key_id, role=role, member=member, opts=opts
        )
    project, location, repository = on.parts
    return gcp.artifactregistry.RepositoryIamMember(
        name,
        project=project,
        location=location,
        repository=repository,
        role=role,
        member=member,
        opts=opts,
    )
