"""The custom IAM roles one main stack grants, created by the bootstrap in that stack's project.

Every role of `components.custom_roles.stack_roles` (the launcher role, and the XCom role when a
deployment is Remote Execution), with the permissions the main stack's own code defines
(components/launcher_role.py, components/xcom_bucket.py) and Pulumi `protect`. The main stack
grants them by name and registers no custom role, so the deploy identity holds no `iam.roles.*`
write: a content change is an owner's bootstrap `pulumi up` (docs/day0.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.day0 import grants
from components.day0.scope import StackScope


@dataclass(frozen=True)
class StackRolesArgs:
    scope: StackScope
    depends_on: Sequence[pulumi.Resource] = ()


class StackRoles(pulumi.ComponentResource):
    """One main stack's custom roles, by key (`launcher`, `xcom`)."""

    names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: StackRolesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("astro-gke-gpu:day0:StackRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.names = {
            role.key: grants.custom_role(
                f"{name}-{role.key}",
                project=role.project_id,
                role_id=role.role_id,
                title=role.title,
                description=role.description,
                permissions=role.permissions,
                opts=child,
            ).name
            for role in args.scope.custom_roles
        }
        self.register_outputs({"names": self.names})
