"""The Google service accounts one main stack uses, created by the bootstrap in that stack's project.

- every account the stack references (components/service_accounts.stack_accounts): its node
  account and one launcher per impersonation deployment; Pulumi `protect`, so a renamed account id
  or a removed deployment stops the bootstrap's `pulumi up` instead of deleting an identity that
  running nodes or Astro deployments use (the owner unprotects on purpose, docs/day0.md);
- Token Creator for each launcher's Astro identity (or external agent), on that launcher only;
- the deploy identity's one service-account grant: a custom role holding exactly
  `iam.serviceAccounts.actAs`, on the node account only. GKE checks actAs on the account a
  cluster or node pool runs as (`ACT_AS` in components/deploy_permissions.py); nothing in the
  main stack reads the account (no `iam.serviceAccounts.get`).

The main stack creates no service account and no service-account IAM, so the deploy identity holds
no `iam.serviceAccounts.create`/`setIamPolicy` and no project-wide `actAs`: it can become no
other identity (docs/day0.md, "No escalation").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.day0 import grants
from components.day0.deploy_permissions import NODE_ACCOUNT_PERMISSIONS
from components.day0.scope import StackScope
from components.service_accounts import TOKEN_CREATOR

ACT_AS_ROLE_ID = "astroGkeNodeAccountUser"


@dataclass(frozen=True)
class StackIdentitiesArgs:
    scope: StackScope
    deploy_member: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = ()


class StackIdentities(pulumi.ComponentResource):
    """One main stack's service accounts and the grants on them."""

    emails: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: StackIdentitiesArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:day0:StackIdentities", name, None, opts)
        s = args.scope
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        # An account id is ForceNew (offline/forcenew.py): protected, so nothing replaces or
        # deletes an identity in use without an explicit `pulumi state unprotect`.
        protected = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True))
        accounts: dict[str, gcp.serviceaccount.Account] = {}
        for a in s.accounts:
            accounts[a.key] = gcp.serviceaccount.Account(
                f"{name}-{a.key}",
                project=a.project_id,
                account_id=a.account_id,
                display_name=a.display_name,
                description=a.description,
                opts=protected,
            )
            if a.token_creator is not None:
                grants.grant(
                    f"{name}-{a.key}-token-creator",
                    role=TOKEN_CREATOR,
                    member=f"serviceAccount:{a.token_creator}",
                    on=grants.ServiceAccount(accounts[a.key].name),
                    opts=child,
                )
        role = grants.custom_role(
            f"{name}-act-as-role",
            project=s.project_id,
            role_id=ACT_AS_ROLE_ID,
            title="Run GKE nodes as the node service account",
            description="actAs only; granted on the stack's node service account, never the project.",
            permissions=NODE_ACCOUNT_PERMISSIONS,
            opts=child,
        )
        grants.grant(
            f"{name}-deploy-act-as",
            role=role.name,
            member=args.deploy_member,
            on=grants.ServiceAccount(accounts[s.node_account.key].name),
            opts=child,
        )
        self.emails = {key: account.email for key, account in accounts.items()}
        self.register_outputs({"emails": self.emails})
