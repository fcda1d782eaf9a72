"""The two CI identities and what they may do.

- `CiIdentities` (the bootstrap's project): the deploy and preview service accounts (no keys),
  each usable only through the GitHub provider's gate (`workloadIdentityUser` for
  `attribute.gate/deploy` resp. `/preview`), state bucket access on that bucket only, and the
  secrets-provider key on that key only; and, for each person or group the config names
  (`identities.deploy_impersonators`), Token Creator on the deploy account only: the route
  without CI (docs/deploying.md).
- `StackAccess` (each main stack's project): the deploy identity's one custom role
  (components/day0/deploy_permissions.py) granted through conditional bindings
  (components/day0/conditions.py), a per-repository role for Artifact Registry grants (the
  service honours no resource conditions), and the preview identity's read-only role. Its one
  service-account grant (actAs on the node account) is in components/day0/stack_identities.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config.bootstrap import IdentitiesConfig
from components.day0 import conditions, grants
from components.day0 import deploy_permissions as dp
from components.day0.federation import GitHubFederation
from components.day0.scope import StackScope
from components.service_accounts import TOKEN_CREATOR

STATE_WRITER = "roles/storage.objectUser"  # objects create/get/list/update/delete, no IAM
STATE_READER = "roles/storage.objectViewer"
KEY_USER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
KEY_DECRYPTER = "roles/cloudkms.cryptoKeyDecrypter"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
# Pulumi's self-managed backend writes a lock object under .pulumi/locks/ while it works on a
# stack (pulumi/pulumi pkg/backend/diy/lock.go): the preview identity may create and delete
# objects there and nowhere else.
LOCK_PERMISSIONS = ["storage.objects.create", "storage.objects.delete"]
LOCK_PREFIX = ".pulumi/locks/"
DEPLOY_ROLE_ID = "astroGkeDeployer"
PREVIEW_ROLE_ID = "astroGkePreviewer"
REPOSITORY_ROLE_ID = "astroGkeRepositoryGrants"
LOCK_ROLE_ID = "pulumiStateLock"


def project_permissions() -> list[str]:
    """The deploy role: every table permission except those granted on one resource (per
    repository, and actAs on the node service account: components/day0/stack_identities.py)."""
    per_resource = set(repository_permissions()) | set(dp.NODE_ACCOUNT_PERMISSIONS)
    return [p for p in dp.deploy_permissions() if p not in per_resource]


def repository_permissions() -> list[str]:
    return sorted(
        p for e in dp.TABLE.values() if e.bound is dp.Bound.REPOSITORY for p in e.permissions()
    )


@dataclass(frozen=True)
class CiIdentitiesArgs:
    project_id: str
    identities: IdentitiesConfig
    federation: GitHubFederation
    state_bucket: pulumi.Input[str]
    key_id: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = ()


class CiIdentities(pulumi.ComponentResource):
    deploy_email: pulumi.Output[str]
    preview_email: pulumi.Output[str]

    def __init__(
        self, name: str, args: CiIdentitiesArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:day0:CiIdentities", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.deploy = gcp.serviceaccount.Account(
            f"{name}-deploy",
            project=args.project_id,
            account_id=args.identities.deploy_account_id,
            display_name="pulumi up (CI, main / production)",
            description="Runs the main stack's `pulumi up` from GitHub Actions; no keys.",
            opts=child,
        )
        self.preview = gcp.serviceaccount.Account(
            f"{name}-preview",
            project=args.project_id,
            account_id=args.identities.preview_account_id,
            display_name="pulumi preview (CI, pull requests)",
            description="Runs `pulumi preview --policy-pack policies` on pull requests; no keys.",
            opts=child,
        )
        self.deploy_email = self.deploy.email
        self.preview_email = self.preview.email
        for account, gate in ((self.deploy, conditions.DEPLOY), (self.preview, conditions.PREVIEW)):
            grants.grant(
                f"{name}-{gate}-federation",
                role=WORKLOAD_IDENTITY_USER,
                member=args.federation.gate(gate),
                on=grants.ServiceAccount(account.name),
                opts=child,
            )
        # A person deploys by hand as the deploy identity: Token Creator on that one account (a
        # resource-level IAMMember, never the project), so they can mint its tokens and no other
        # account's. Named by member, so adding or removing one leaves the others in place.
        for person in args.identities.deploy_impersonators:
            grants.grant(
                f"{name}-deploy-impersonator-{person}",
                role=TOKEN_CREATOR,
                member=person,
                on=grants.ServiceAccount(self.deploy.name),
                opts=child,
            )
        deploy, preview = self.deploy.member, self.preview.member
        lock_role = grants.custom_role(
            f"{name}-lock-role",
            project=args.project_id,
            role_id=LOCK_ROLE_ID,
            title="Pulumi state lock objects",
            description="Create and delete Pulumi's lock objects; granted on the state bucket.",
            permissions=LOCK_PERMISSIONS,
            opts=child,
        )
        bucket = grants.Bucket(args.state_bucket)
        grants.grant(
            f"{name}-deploy-state", role=STATE_WRITER, member=deploy, on=bucket, opts=child
        )
        grants.grant(
            f"{name}-preview-state", role=STATE_READER, member=preview, on=bucket, opts=child
        )
        lock_objects = pulumi.Output.from_input(args.state_bucket).apply(
            lambda b: conditions.Condition(
                "Pulumi lock objects only",
                "Objects under .pulumi/locks/ of the state bucket.",
                f"resource.name.startsWith('projects/_/buckets/{b}/objects/{LOCK_PREFIX}')",
            )
        )
        grants.grant(
            f"{name}-preview-lock",
            role=lock_role.name,
            member=preview,
            on=bucket,
            condition=lock_objects,
            opts=child,
        )
        key = grants.CryptoKey(args.key_id)
        grants.grant(f"{name}-deploy-key", role=KEY_USER, member=deploy, on=key, opts=child)
        grants.grant(f"{name}-preview-key", role=KEY_DECRYPTER, member=preview, on=key, opts=child)
        self.register_outputs({"deploy": self.deploy_email, "preview": self.preview_email})


def _nth_secret_condition(
    secret_ids: list[str], roles: Sequence[str], i: int
) -> Callable[[str], conditions.Condition]:
    return lambda number: conditions.secret_conditions(number, secret_ids, roles)[i]


@dataclass(frozen=True)
class StackAccessArgs:
    scope: StackScope
    deploy_member: pulumi.Input[str]
    preview_member: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = ()


class StackAccess(pulumi.ComponentResource):
    """The deploy and preview identities' grants in one main stack's project."""

    def __init__(
        self, name: str, args: StackAccessArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:day0:StackAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        s = args.scope
        deploy_role = grants.custom_role(
            f"{name}-deploy-role",
            project=s.project_id,
            role_id=DEPLOY_ROLE_ID,
            title="Pulumi deployer of the Astro GPU stack",
            description="Exactly what the main stack's resources need (deploy_permissions.py).",
            permissions=project_permissions(),
            opts=child,
        )
        number = gcp.organizations.get_project_output(project_id=s.project_id).number
        stack_cond = conditions.stack_condition(s.roles)
        bindings: list[tuple[str, conditions.Condition | pulumi.Output[conditions.Condition]]] = [
            ("stack", stack_cond)
        ]
        if s.buckets:
            bindings.append(("buckets", conditions.bucket_condition(s.buckets, s.roles)))
        if s.kms_keys:
            bindings.append(("keys", conditions.key_condition(s.kms_keys, s.roles)))
        secret_ids = [secret for _, secret in s.secrets]
        chunks = (len(secret_ids) + conditions.SECRETS_PER_BINDING - 1) // (
            conditions.SECRETS_PER_BINDING
        )
        for i in range(chunks):
            bindings.append(
                (f"secrets-{i + 1}", number.apply(_nth_secret_condition(secret_ids, s.roles, i)))
            )
        project = grants.Project(s.project_id)
        for suffix, cond in bindings:
            grants.grant(
                f"{name}-deploy-{suffix}",
                role=deploy_role.name,
                member=args.deploy_member,
                on=project,
                condition=cond,
                opts=child,
            )
        if s.repositories:
            repo_role = grants.custom_role(
                f"{name}-repository-role",
                project=s.project_id,
                role_id=REPOSITORY_ROLE_ID,
                title="Grant pulls on one Artifact Registry repository",
                description="Granted per repository: the node account's reader grant.",
                permissions=repository_permissions(),
                opts=child,
            )
            for repo in s.repositories:
                target = grants.Repository(repo)
                _, location, repository = target.parts
                grants.grant(
                    f"{name}-deploy-{location}-{repository}",
                    role=repo_role.name,
                    member=args.deploy_member,
                    on=target,
                    opts=child,
                )
        preview_role = grants.custom_role(
            f"{name}-preview-role",
            project=s.project_id,
            role_id=PREVIEW_ROLE_ID,
            title="Pulumi preview of the Astro GPU stack",
            description="Read the project, the cluster and its namespaces; nothing else.",
            permissions=dp.PREVIEW_PERMISSIONS,
            opts=child,
        )
        grants.grant(
            f"{name}-preview",
            role=preview_role.name,
            member=args.preview_member,
            on=project,
            opts=child,
        )
        self.register_outputs({})
