"""Move a main stack's Google service accounts out of its Pulumi state, for the bootstrap to adopt
(docs/day0.md, "Migrating a main stack deployed before this change"):

    pulumi stack export --file before.json
    python -m tools.release_accounts before.json after.json
    pulumi stack import --file after.json

A main stack deployed before the bootstrap owned the accounts holds each account
(`gcp:serviceaccount/account:Account`) and each launcher's Token Creator grant
(`gcp:serviceaccount/iAMMember:IAMMember`) in its state. The new main program declares neither type,
so its next `pulumi up` would delete them in Google Cloud. `pulumi state delete` cannot take them out
instead: it refuses a resource others depend on ("Resources can't be deleted if other resources
depend on it", pulumi/pulumi#14249), and the node pools and bindings depend on the node account.
This removes every resource of those two types from the exported state and every reference to them
(`dependencies`, `propertyDependencies`, `deletedWith`: pulumi `sdk/go/common/apitype/core.go`
ResourceV3), so `pulumi stack import` accepts the result; nothing in Google Cloud changes. Their
`protect` flags go with them. It refuses a state with pending operations on them or a resource
parented to one of them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RELEASED = ("gcp:serviceaccount/account:Account", "gcp:serviceaccount/iAMMember:IAMMember")


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
            raise ReleaseError(f"{r['urn']} is parented to a released account or grant")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="`pulumi stack export` output")
    parser.add_argument(
        "after", type=Path, help="where to write the state for `pulumi stack import`"
    )
    args = parser.parse_args(argv)
    try:
        new, gone = release(json.loads(args.before.read_text()))
    except (ReleaseError, json.JSONDecodeError) as exc:
        print(f"release_accounts: {exc}", file=sys.stderr)
        return 2
    args.after.write_text(json.dumps(new, indent=4) + "\n")
    for r in gone:
        print(f"released {r['urn']}" + (f"  (import id: {r['id']})" if "id" in r else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
