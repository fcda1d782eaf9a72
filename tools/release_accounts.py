"""Move a main stack's Google service accounts and custom roles out of its Pulumi state, for the
bootstrap to adopt (docs/day0.md, "Migrating a main stack that created its own accounts and roles"):

    pulumi stack export --file before.json
    python -m tools.release_accounts before.json after.json --adopt adopt.json --stack <stack>
    pulumi stack import --file after.json
    cd bootstrap && pulumi import --file ../adopt.json

A main stack deployed before the bootstrap owned them holds each account
(`gcp:serviceaccount/account:Account`), each launcher's Token Creator grant
(`gcp:serviceaccount/iAMMember:IAMMember`) and each custom role it grants (the launcher and XCom
roles, `gcp:projects/iAMCustomRole:IAMCustomRole`) in its state. The new main program declares none
of these types, so its next `pulumi up` would delete them in Google Cloud. `pulumi state delete`
cannot take them out instead: it refuses a resource others depend on ("Resources can't be deleted
if other resources depend on it", pulumi/pulumi#14249), and the node pools and bindings depend on
the node account, the launchers' project grants on the launcher role. This removes every resource
of those types from the exported state and every reference to them (`dependencies`,
`propertyDependencies`, `deletedWith`: pulumi `sdk/go/common/apitype/core.go` ResourceV3), so
`pulumi stack import` accepts the result; nothing in Google Cloud changes. Their `protect` flags go
with them. It refuses a state with pending operations on them or a resource parented to one of them.

With `--adopt`, it also writes the `pulumi import --file` document that puts each released account
and role where the bootstrap declares it (`identities-<stack>-<key>` under `identities-<stack>`,
`roles-<stack>-<key>` under `roles-<stack>`), from the stack's own Pulumi.<stack>.yaml, with the
import ids the provider documents: an account's `projects/<p>/serviceAccounts/<email>`, a role's
`projects/<p>/roles/<role id>`. The Token Creator grants need no import (the bootstrap adds the same
binding again, which IAM treats as already present).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from components.config import ConfigError

ACCOUNT = "gcp:serviceaccount/account:Account"
ACCOUNT_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
RELEASED = (ACCOUNT, ACCOUNT_IAM, CUSTOM_ROLE)
ROOT = Path(__file__).resolve().parent.parent
MAIN_PROJECT = "astro-gke-gpu"  # the main program's Pulumi.yaml `name`


class ReleaseError(Exception):
    pass


def release(state: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the new exported state, the released resources). `state` is `pulumi stack export` output."""
    deployment = state.get("deployment")
    if not isinstance(deployment, dict) or not isinstance(deployment.get("resources"), list):
        raise ReleaseError("not a `pulumi stack export` file: no deployment.resources")
    resources: list[dict[str, Any]] = deployment["resources"]
    gone = [r for r in resources if r.get("type") in RELEASED]
    urns = {r["urn"] for r in gone}
    pending = [
        op["resource"]["urn"]
        for op in deployment.get("pending_operations") or []
        if op.get("resource", {}).get("urn") in urns
    ]
    if pending:
        raise ReleaseError(f"pending operations on {pending}: run `pulumi refresh` first")
    kept = []
    for r in resources:
        if r.get("type") in RELEASED:
            continue
        if r.get("parent") in urns:
            raise ReleaseError(f"{r['urn']} is parented to a released account, grant or role")
        r = dict(r)
        if "dependencies" in r:
            r["dependencies"] = [u for u in r["dependencies"] if u not in urns]
        if "propertyDependencies" in r:
            r["propertyDependencies"] = {
                k: [u for u in v if u not in urns] for k, v in r["propertyDependencies"].items()
            }
        if r.get("deletedWith") in urns:
            del r["deletedWith"]
        kept.append(r)
    return {**state, "deployment": {**deployment, "resources": kept}}, gone


def adopt(
    gone: list[dict[str, Any]], stack: str, platform: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """(the `pulumi import --file` document for the bootstrap, the released ids the stack's
    config no longer names: the bootstrap will not declare them, so they are not imported)."""
    from components import custom_roles, service_accounts
    from components.config import load

    cfg = load(platform)
    where: dict[str, tuple[str, str, str]] = {}  # import id -> (type, component, name)
    for a in service_accounts.stack_accounts(cfg):
        rid = service_accounts.resource_name(a.account_id, a.project_id)
        where[rid] = (ACCOUNT, f"identities-{stack}", f"identities-{stack}-{a.key}")
    for role in custom_roles.stack_roles(cfg):
        where[role.name] = (CUSTOM_ROLE, f"roles-{stack}", f"roles-{stack}-{role.key}")
    components = {
        f"identities-{stack}": "astro-gke-gpu:day0:StackIdentities",
        f"roles-{stack}": "astro-gke-gpu:day0:StackRoles",
    }
    out: list[dict[str, Any]] = []
    unknown: list[str] = []
    used: set[str] = set()
    for r in gone:
        if r.get("type") not in (ACCOUNT, CUSTOM_ROLE):
            continue
        found = where.get(r.get("id", ""))
        if found is None or found[0] != r["type"]:
            unknown.append(str(r.get("id", r["urn"])))
            continue
        type_, parent, name = found
        used.add(parent)
        out.append({"type": type_, "name": name, "parent": parent, "id": r["id"]})
    head = [{"type": components[c], "name": c, "component": True} for c in components if c in used]
    return {"resources": head + out}, unknown


def stack_platform(stack: str, root: Path = ROOT) -> dict[str, Any]:
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise ReleaseError(f"--stack {stack}: no {path.name}")
    raw = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    platform = raw.get(f"{MAIN_PROJECT}:platform", raw.get("platform"))
    if not isinstance(platform, dict):
        raise ReleaseError(f"--stack {stack}: {path.name} has no {MAIN_PROJECT}:platform")
    return platform


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="`pulumi stack export` output")
    parser.add_argument(
        "after", type=Path, help="where to write the state for `pulumi stack import`"
    )
    parser.add_argument(
        "--adopt", type=Path, help="also write the bootstrap's `pulumi import --file` document"
    )
    parser.add_argument("--stack", help="the main stack (its Pulumi.<stack>.yaml); with --adopt")
    args = parser.parse_args(argv)
    if args.adopt and not args.stack:
        parser.error("--adopt needs --stack")
    try:
        new, gone = release(json.loads(args.before.read_text()))
        adopted = adopt(gone, args.stack, stack_platform(args.stack)) if args.adopt else None
    except (ReleaseError, ConfigError, json.JSONDecodeError) as exc:
        print(f"release_accounts: {exc}", file=sys.stderr)
        return 2
    args.after.write_text(json.dumps(new, indent=4) + "\n")
    for r in gone:
        print(f"released {r['urn']}" + (f"  (import id: {r['id']})" if "id" in r else ""))
    if adopted is not None:
        doc, unknown = adopted
        args.adopt.write_text(json.dumps(doc, indent=2) + "\n")
        for rid in unknown:
            print(f"not adopted (the stack's config no longer names it): {rid}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
