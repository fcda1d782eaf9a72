"""The main stack's custom IAM roles, by name: which exist, what they hold, and their names.

The bootstrap creates them (components/day0/stack_roles.py, run by a project owner, `protect`);
the main stack only grants them, by name. So the deploy identity holds no `iam.roles.*` write:
whoever creates a custom role decides its permissions, and IAM checks none of them against the
creator, so a deployer that could create a role id it may also grant could write any permission
into it (docs/day0.md, "No escalation"). Both programs take each role from here, from the same
validated config, so its name and content cannot drift (tests/test_day0_roles.py).

A project custom role's name is `projects/<project id>/roles/<role id>` (Google, "Create and
manage custom roles": https://cloud.google.com/iam/docs/creating-custom-roles). A role id cannot
be reused for 37 days after its deletion (same page, "Deleting a custom role"), so each id is
derived from the cluster name and stays stable.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.airflow import launcher_role, xcom_bucket
from components.config import StackConfig

CUSTOM_ROLES = "https://cloud.google.com/iam/docs/creating-custom-roles"


def name(project_id: str, role_id: str) -> str:
    """The IAM name of the project custom role `role_id`: what a grant's `role` takes."""
    return f"projects/{project_id}/roles/{role_id}"


@dataclass(frozen=True)
class StackRole:
    """One custom role a main stack grants."""

    key: str  # stable logical name: `launcher`, `xcom`
    role_id: str
    project_id: str
    title: str
    description: str
    permissions: tuple[str, ...]
    stage: str = "GA"

    @property
    def name(self) -> str:
        return name(self.project_id, self.role_id)

    def content(self) -> dict[str, object]:
        """What IAM holds for the role: what a content change changes (offline/review.py)."""
        return {
            "title": self.title,
            "description": self.description,
            "permissions": sorted(self.permissions),
            "stage": self.stage,
        }


def launcher(cfg: StackConfig) -> StackRole:
    cluster = cfg.cluster.name
    return StackRole(
        key="launcher",
        role_id=launcher_role.role_id(cluster),
        project_id=cfg.project_id,
        title=f"KPO launcher for {cluster}",
        description="Authenticate to the GKE cluster only; pod permissions are namespaced RBAC.",
        permissions=tuple(launcher_role.permissions(cfg.cluster.control_plane.access == "dns")),
    )


def xcom(cfg: StackConfig) -> StackRole:
    cluster = cfg.cluster.name
    return StackRole(
        key="xcom",
        role_id=xcom_bucket.role_id(cluster),
        project_id=cfg.project_id,
        title=f"Airflow XCom objects for {cluster}",
        description="What XComObjectStorageBackend does in its bucket; granted per bucket only.",
        permissions=tuple(xcom_bucket.XCOM_PERMISSIONS),
    )


def stack_roles(cfg: StackConfig) -> list[StackRole]:
    """Every custom role the main stack `cfg` grants: the launcher role when it has deployments,
    the XCom role when one of them is a Remote Execution deployment."""
    out = []
    if cfg.deployments:
        out.append(launcher(cfg))
    if any(d.agent is not None for d in cfg.deployments):
        out.append(xcom(cfg))
    return out
