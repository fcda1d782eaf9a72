"""The one project-level permission set launchers get: authenticate to the cluster, nothing more.

IAM cannot be scoped to a namespace (a grant applies to every namespace of every cluster in the
project), so nothing pod-related is granted here: pods, logs, events and exec live in each
deployment's namespaced Role. `container.clusters.get` is what GKE requires to authenticate a
Google identity; `container.clusters.connect` is what the DNS-based endpoint checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class LauncherRoleArgs:
    project_id: str
    cluster_name: str
    dns_endpoint: bool


def role_id(cluster_name: str) -> str:
    """Role ids cannot be reused for days after deletion: a stable one, derived from the cluster."""
    return "astroKpoLauncher_" + cluster_name.replace("-", "_")


def permissions(dns_endpoint: bool) -> list[str]:
    return ["container.clusters.get", *(["container.clusters.connect"] if dns_endpoint else [])]


class LauncherRole(pulumi.ComponentResource):
    role_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: LauncherRoleArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:iam:LauncherRole", name, None, opts)
        self.role = gcp.projects.IAMCustomRole(
            f"{name}-role",
            project=args.project_id,
            role_id=role_id(args.cluster_name),
            title=f"KPO launcher for {args.cluster_name}",
            description="Authenticate to the GKE cluster only; pod permissions are namespaced RBAC.",
            permissions=permissions(args.dns_endpoint),
            stage="GA",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role_name = self.role.name
        self.register_outputs({"role": self.role_name})
