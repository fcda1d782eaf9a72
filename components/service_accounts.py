"""The main stack's Google service accounts, by name: which exist and what their emails are.

The bootstrap creates them (components/day0/stack_identities.py, run by a project owner); the
main stack only refers to them by email. So the deploy identity needs no
`iam.serviceAccounts.create`/`setIamPolicy` and holds `actAs` on the node account alone
(docs/day0.md). Both programs compute each email here, from the same validated config, so they
cannot drift (tests/test_day0_accounts.py).

A user-managed service account's email is `<account id>@<project id>.iam.gserviceaccount.com`
(Google, "Service account types": https://cloud.google.com/iam/docs/service-account-types,
"User-managed service accounts"). The config's `ProjectId` rule admits no domain-scoped project
(`example.com:project`), whose accounts are named differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import StackConfig

SERVICE_ACCOUNT_TYPES = "https://cloud.google.com/iam/docs/service-account-types"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"


def email(account_id: str, project_id: str) -> str:
    """The email of the user-managed service account `account_id` in `project_id`."""
    return f"{account_id}@{project_id}.iam.gserviceaccount.com"


def resource_name(account_id: str, project_id: str) -> str:
    """Its IAM resource name (`projects/<p>/serviceAccounts/<email>`): what service-account IAM
    grants and `pulumi import` take."""
    return f"projects/{project_id}/serviceAccounts/{email(account_id, project_id)}"


@dataclass(frozen=True)
class StackAccount:
    """One service account a main stack runs as or hands out."""

    key: str  # stable logical name: `nodes`, or `<deployment>-launcher`
    account_id: str
    project_id: str
    display_name: str
    description: str
    config_path: str  # the main config key that names it (for keyed errors)
    # Impersonation launchers: the identity that may mint its tokens (Token Creator on it).
    token_creator: str | None = None

    @property
    def email(self) -> str:
        return email(self.account_id, self.project_id)


def stack_accounts(cfg: StackConfig) -> list[StackAccount]:
    """Every service account the main stack `cfg` references: its node account and one launcher
    per impersonation deployment."""
    out = [
        StackAccount(
            key="nodes",
            account_id=cfg.node_service_account.account_id,
            project_id=cfg.project_id,
            display_name=f"GKE nodes of {cfg.cluster.name}",
            description=(
                "Node service account for the Astro GPU cluster (created by the bootstrap, no keys)."
            ),
            config_path="node_service_account.account_id",
        )
    ]
    for i, d in enumerate(cfg.deployments):
        if d.launcher_id is None:
            continue
        assert d.google_identity is not None  # impersonation always has an identity
        out.append(
            StackAccount(
                key=f"{d.name}-launcher",
                account_id=d.launcher_id,
                project_id=cfg.project_id,
                display_name=f"KPO launcher for Astro deployment {d.name}",
                description=(
                    "Impersonated by the Remote Execution agent to launch pods (no keys)."
                    if d.agent is not None
                    else "Impersonated by the Astro deployment to launch pods (no keys)."
                ),
                config_path=(
                    f"deployments[{i}].launcher_account_id"
                    if d.launcher_account_id
                    else f"deployments[{i}].name"
                ),
                token_creator=d.google_identity,
            )
        )
    return out


def token_creator_bindings(cfg: StackConfig) -> list[dict[str, str]]:
    """The Token Creator grants the bootstrap makes for `cfg`'s launchers, as IAM holds them:
    what the contract suite's fake IAM Credentials enforces (offline/export.py)."""
    return [
        {
            "service_account_id": resource_name(a.account_id, a.project_id),
            "role": TOKEN_CREATOR,
            "member": f"serviceAccount:{a.token_creator}",
        }
        for a in stack_accounts(cfg)
        if a.token_creator is not None
    ]
