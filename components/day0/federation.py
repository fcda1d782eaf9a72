"""GitHub Actions -> Google: a Workload Identity pool and OIDC provider pinned to one repository
(by id and name), and the two identities' `roles/iam.workloadIdentityUser` bindings, each for one
value of the provider's `attribute.gate` (components/day0/conditions.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config.bootstrap import GitHubConfig, IdentitiesConfig
from components.day0 import conditions


@dataclass(frozen=True)
class GitHubFederationArgs:
    project_id: str
    github: GitHubConfig
    identities: IdentitiesConfig


class GitHubFederation(pulumi.ComponentResource):
    provider_name: pulumi.Output[str]
    pool_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: GitHubFederationArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:day0:GitHubFederation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool",
            project=args.project_id,
            workload_identity_pool_id=args.identities.pool_id,
            display_name="GitHub Actions",
            description=f"CI of {args.github.repository} (managed by Pulumi bootstrap/)",
            disabled=False,
            opts=child,
        )
        self.provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-provider",
            project=args.project_id,
            workload_identity_pool_id=self.pool.workload_identity_pool_id,
            workload_identity_pool_provider_id=args.identities.provider_id,
            display_name="GitHub OIDC",
            attribute_mapping=conditions.attribute_mapping(args.github.production_environment),
            attribute_condition=conditions.provider_condition(
                args.github.repository, args.github.repository_id
            ),
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=conditions.GITHUB_ISSUER),
            opts=child,
        )
        self.pool_name = self.pool.name
        self.provider_name = self.provider.name
        self.register_outputs({"provider": self.provider_name})

    def gate(self, value: str) -> pulumi.Output[str]:
        """The principal set of every token whose `attribute.gate` is `value`."""
        return self.pool.name.apply(
            lambda pool: f"principalSet://iam.googleapis.com/{pool}/attribute.gate/{value}"
        )
