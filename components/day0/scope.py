"""A main stack, as the bootstrap sees it: its project, the project roles it grants, and the names
of the resources whose IAM its deployer may change. Read from the stack's own config (the same
`components.config` models the main program validates), so the deploy identity's bounds follow the
stack: a new role or deployment is one change in Pulumi.<stack>.yaml or in the code that grants it.

`project_roles` is the one list of roles the main stack grants on its project: the node service
account's (`components.gke.node_identity.NODE_PROJECT_ROLES`) and the launcher custom role
(`components.custom_roles.launcher`) when there are deployments. tests/test_day0_conditions.py
fails when the program grants a project role this list (and so the deployer's condition) misses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from components import config, custom_roles
from components.config import CONFIG_KEY, ConfigError, ExistingNetworkConfig, StackConfig
from components.config.deployments import xcom_bucket_name
from components.gke.node_identity import NODE_PROJECT_ROLES
from components.service_accounts import StackAccount, stack_accounts


def project_roles(cfg: StackConfig) -> list[str]:
    """Every role the main stack grants on its project (gcp:projects/iAMMember)."""
    roles = list(NODE_PROJECT_ROLES)
    if cfg.deployments:
        roles.append(custom_roles.launcher(cfg).name)
    return sorted(roles)


@dataclass(frozen=True)
class StackScope:
    """What one main stack touches, by name."""

    stack: str
    project_id: str
    roles: tuple[str, ...]
    # (project, secret id) of each deployment's connection secret
    secrets: tuple[tuple[str, str], ...]
    buckets: tuple[str, ...]
    kms_keys: tuple[str, ...]
    repositories: tuple[str, ...]
    # The service accounts the stack references (node account, launchers): the bootstrap
    # creates them (components/day0/stack_identities.py).
    accounts: tuple[StackAccount, ...] = ()
    # The custom roles the stack grants (launcher, XCom): the bootstrap creates them
    # (components/day0/stack_roles.py).
    custom_roles: tuple[custom_roles.StackRole, ...] = ()
    # An existing network the stack adds a firewall rule to (Kueue's webhook rule), by self link.
    firewall_networks: tuple[str, ...] = ()

    @property
    def node_account(self) -> StackAccount:
        return next(a for a in self.accounts if a.key == "nodes")

    def foreign(self) -> list[tuple[str, str]]:
        """(config path, resource) the stack touches in another project: the bootstrap grants
        only in the stack's own project."""
        out = [
            (f"deployments[{i}].existing_secrets_backend.project_id", f"{project}/{secret}")
            for i, (project, secret) in enumerate(self.secrets)
            if project != self.project_id
        ]
        out += [("kms key", key) for key in self.kms_keys if key.split("/")[1] != self.project_id]
        out += [
            ("node_service_account.artifact_registry_repositories", repo)
            for repo in self.repositories
            if repo.split("/")[1] != self.project_id
        ]
        out += [
            ("network.network (Kueue's webhook firewall rule)", network)
            for network in self.firewall_networks
            if network.split("/")[1] != self.project_id
        ]
        return out


def scope(stack: str, cfg: StackConfig) -> StackScope:
    keys = {k for k in [cfg.cluster.secrets_encryption_key, *cfg.secret_manager.kms_keys] if k}
    keys |= {d.agent.xcom.kms_key for d in cfg.deployments if d.agent and d.agent.xcom.kms_key}
    return StackScope(
        stack=stack,
        project_id=cfg.project_id,
        roles=tuple(project_roles(cfg)),
        secrets=tuple((d.secret_project(cfg.project_id), d.secret_id) for d in cfg.deployments),
        buckets=tuple(
            sorted(xcom_bucket_name(cfg.project_id, d.name) for d in cfg.deployments if d.agent)
        ),
        kms_keys=tuple(sorted(keys)),
        repositories=tuple(sorted(cfg.node_service_account.artifact_registry_repositories)),
        accounts=tuple(stack_accounts(cfg)),
        custom_roles=tuple(custom_roles.stack_roles(cfg)),
        firewall_networks=(cfg.network.network,)
        if cfg.kueue.enabled and isinstance(cfg.network, ExistingNetworkConfig)
        else (),
    )


MAIN_PROJECT = "astro-gke-gpu"  # the main program's Pulumi.yaml `name`


def load_scopes(
    root: Path,
    stacks: Sequence[str],
    key: str,
    reserved: Mapping[tuple[str, str], str] | None = None,
) -> list[StackScope]:
    """Read and validate each main stack's Pulumi.<stack>.yaml in `root`. One ConfigError (keyed
    `stacks[i]`) for every problem: a missing file, an invalid main config, a resource in
    another project (the bootstrap grants only in each stack's own project), or a service account
    (project, account id) named twice: by two of the stacks' accounts, or by one of them and a
    `reserved` account (the bootstrap's own CI identities, keyed by their config path)."""
    problems: list[tuple[str, str]] = []
    out = []
    owner: dict[tuple[str, str], str] = dict(reserved or {})
    for i, stack in enumerate(stacks):
        path = root / f"Pulumi.{stack}.yaml"
        if not path.exists():
            problems.append((f"stacks[{i}]", f"no {path.name} beside bootstrap/"))
            continue
        raw = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        platform = raw.get(f"{MAIN_PROJECT}:{CONFIG_KEY}", raw.get(CONFIG_KEY))
        try:
            cfg = config.load(platform)
        except ConfigError as exc:
            problems += [(f"stacks[{i}] ({path.name}) {p}", rule) for p, rule in exc.problems]
            continue
        found = scope(stack, cfg)
        problems += [
            (
                f"stacks[{i}] ({path.name}) {where}",
                f"{what} is outside {cfg.project_id}: grant "
                "the deploy identity there by hand (docs/day0.md)",
            )
            for where, what in found.foreign()
        ]
        for account in found.accounts:
            where = f"stacks[{i}] ({path.name}) {account.config_path}"
            first = owner.setdefault((account.project_id, account.account_id), where)
            if first != where:
                problems.append(
                    (
                        where,
                        f"service account {account.email} is also {first}: each account the "
                        "bootstrap creates is one stack's, for one purpose",
                    )
                )
        out.append(found)
    if problems:
        raise ConfigError(problems, key)
    return out
