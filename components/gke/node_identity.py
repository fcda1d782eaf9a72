"""The node service account's roles: dedicated account, no keys, exactly the roles GKE nodes need.

The account itself is created by the bootstrap (components/day0/stack_identities.py), which also
grants the deploy identity `actAs` on it and on nothing else; this stack refers to it by its email
(components/service_accounts.py) and creates no service account.

Roles follow Google's current guidance ("Use least privilege Google service accounts", and
terraform-google-kubernetes-engine's sa.tf): the node agent role plus metric writing and resource
metadata. Image pulls from private Artifact Registry repositories are granted per repository.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components import service_accounts
from components.config import NodeServiceAccountConfig

# Project-level: these permissions have no narrower resource to bind on.
NODE_PROJECT_ROLES: tuple[str, ...] = (
    "roles/container.defaultNodeServiceAccount",
    "roles/monitoring.metricWriter",
    "roles/stackdriver.resourceMetadata.writer",
)
REPOSITORY_ROLE = "roles/artifactregistry.reader"


@dataclass(frozen=True)
class NodeServiceAccountArgs:
    project_id: str
    config: NodeServiceAccountConfig


def _repo_parts(repo: str) -> tuple[str, str, str]:
    # projects/<p>/locations/<l>/repositories/<r>
    parts = repo.split("/")
    return parts[1], parts[3], parts[5]


class NodeServiceAccount(pulumi.ComponentResource):
    email: pulumi.Output[str]

    def __init__(
        self, name: str, args: NodeServiceAccountArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:iam:NodeServiceAccount", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        account_email = service_accounts.email(args.config.account_id, args.project_id)
        member = f"serviceAccount:{account_email}"

        self.project_bindings = [
            gcp.projects.IAMMember(
                f"{name}-{role.split('/')[1].replace('.', '-')}",
                project=args.project_id,
                role=role,
                member=member,
                opts=child,
            )
            for role in NODE_PROJECT_ROLES
        ]
        self.repository_bindings = []
        for repo in args.config.artifact_registry_repositories:
            project, location, repository = _repo_parts(repo)
            self.repository_bindings.append(
                gcp.artifactregistry.RepositoryIamMember(
                    f"{name}-ar-{project}-{location}-{repository}",
                    project=project,
                    location=location,
                    repository=repository,
                    role=REPOSITORY_ROLE,
                    member=member,
                    opts=child,
                )
            )

        # Consumers (cluster, pools) get the email only once every binding exists: nodes boot
        # as this account, so its roles must be in place, not only the account.
        bindings = [*self.project_bindings, *self.repository_bindings]
        self.email = pulumi.Output.all(account_email, *[b.id for b in bindings]).apply(
            lambda values: values[0]
        )
        self.register_outputs({"email": self.email})
