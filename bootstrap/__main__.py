"""Day 0, wiring only: run once by a project owner (`cd bootstrap && pulumi up`, docs/day0.md).

Reads its config once (components/config/bootstrap.py) and each listed main stack's
Pulumi.<stack>.yaml, raising one keyed ConfigError before any resource; then enables the APIs,
creates the state bucket and secrets key, the GitHub federation, the two CI identities, each main
stack's service accounts (node, launchers) and custom roles (launcher, XCom), and the bounded
grants in every stack's project; exports exactly the repository variables the workflows read
and the commands that put the main stacks on this backend."""

import sys
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the main program's components/ (pulumi runs from bootstrap/)
    sys.path.insert(0, str(ROOT))

from components.config.bootstrap import BOOTSTRAP_KEY, load_bootstrap  # noqa: E402
from components.day0.apis import ProjectApis  # noqa: E402
from components.day0.federation import GitHubFederation, GitHubFederationArgs  # noqa: E402
from components.day0.identities import (  # noqa: E402
    CiIdentities,
    CiIdentitiesArgs,
    StackAccess,
    StackAccessArgs,
)
from components.day0.scope import load_scopes  # noqa: E402
from components.day0.stack_identities import StackIdentities, StackIdentitiesArgs  # noqa: E402
from components.day0.stack_roles import StackRoles, StackRolesArgs  # noqa: E402
from components.day0.state import PulumiState, PulumiStateArgs  # noqa: E402
from tools.required_apis import HOME_APIS, REQUIRED_APIS  # noqa: E402

key = f"{pulumi.get_project()}:{BOOTSTRAP_KEY}"
cfg = load_bootstrap(pulumi.Config().require_object(BOOTSTRAP_KEY), key)
# The CI identities' ids are taken too: no main stack may name one of them.
ci_ids = {
    (cfg.project_id, cfg.identities.deploy_account_id): "identities.deploy_account_id",
    (cfg.project_id, cfg.identities.preview_account_id): "identities.preview_account_id",
}
scopes = load_scopes(ROOT, cfg.stacks, key, ci_ids)  # raises before any resource is registered

apis: dict[str, ProjectApis] = {}
for project in dict.fromkeys([s.project_id for s in scopes]):
    apis[project] = ProjectApis(f"apis-{project}", project, REQUIRED_APIS)
if cfg.project_id not in apis:
    apis[cfg.project_id] = ProjectApis(f"apis-{cfg.project_id}", cfg.project_id, HOME_APIS)
home_apis = apis[cfg.project_id].services

state = PulumiState(
    "state",
    PulumiStateArgs(
        project_id=cfg.project_id,
        bucket=cfg.state_bucket,
        key=cfg.secrets_key,
        labels=cfg.all_labels,
    ),
    pulumi.ResourceOptions(depends_on=home_apis),
)
federation = GitHubFederation(
    "github",
    GitHubFederationArgs(project_id=cfg.project_id, github=cfg.github, identities=cfg.identities),
    pulumi.ResourceOptions(depends_on=home_apis),
)
ci = CiIdentities(
    "ci",
    CiIdentitiesArgs(
        project_id=cfg.project_id,
        identities=cfg.identities,
        federation=federation,
        state_bucket=state.bucket_name,
        key_id=state.key_id,
        depends_on=home_apis,
    ),
)
for s in scopes:
    # The stack's service accounts (node, launchers): the main stack only refers to them.
    StackIdentities(
        f"identities-{s.stack}",
        StackIdentitiesArgs(
            scope=s, deploy_member=ci.deploy.member, depends_on=apis[s.project_id].services
        ),
    )
    # The custom roles the stack grants (launcher, XCom): the main stack only grants them.
    StackRoles(
        f"roles-{s.stack}",
        StackRolesArgs(scope=s, depends_on=apis[s.project_id].services),
    )
    StackAccess(
        f"stack-{s.stack}",
        StackAccessArgs(
            scope=s,
            deploy_member=ci.deploy.member,
            preview_member=ci.preview.member,
            depends_on=apis[s.project_id].services,
        ),
    )

backend = state.bucket_name.apply(lambda b: f"gs://{b}")
secrets_provider = state.key_id.apply(lambda k: f"gcpkms://{k}")
# Exactly the `vars.*` .github/workflows/*.yml read (tests/test_bootstrap.py checks both ways).
pulumi.export(
    "repository_variables",
    {
        "GCP_WORKLOAD_IDENTITY_PROVIDER": federation.provider_name,
        "GCP_DEPLOY_SERVICE_ACCOUNT": ci.deploy_email,
        "GCP_PREVIEW_SERVICE_ACCOUNT": ci.preview_email,
        "PULUMI_BACKEND_URL": backend,
    },
)
pulumi.export("pulumi_login", backend.apply(lambda b: f"pulumi login {b}"))


def stack_init(stack: str) -> pulumi.Output[str]:
    return secrets_provider.apply(lambda p: f"pulumi stack init {stack} --secrets-provider={p}")


pulumi.export("stack_init", {s.stack: stack_init(s.stack) for s in scopes})
