"""Print what a program registers offline, as JSON: the BASE side of `make preview BASE=<ref>`.

    python offline/registrations.py --root <a checkout> --stack dev

Runs `<root>/__main__.py` with `<root>`'s own components/ and offline/ (its mocks, its runner):
the program exactly as it was at that commit. Run it as a script path, not with `-m`, so that
nothing from this working tree is imported: only the standard library is used here. A commit from
before this file existed works too; it needs an offline/runner.py with `run(stack)`.

Prints {"stack": ..., "registrations": [Registration fields...], "custom_roles": [...]} (sets as
sorted lists, the wire form left out; `custom_roles` only where that commit's runner has them),
or {"stack": ..., "missing_stack": true} when <root> has no Pulumi.<stack>.yaml
(the stack did not exist at that commit). Exit status 0, or 1 with the error on stderr.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    return value


def registrations(root: Path, stack: str) -> dict[str, Any]:
    """Run the program in `root` (imported from `root`) and return its registrations."""
    if not (root / f"Pulumi.{stack}.yaml").exists():
        return {"stack": stack, "missing_stack": True, "registrations": []}
    sys.path.insert(0, str(root))
    from offline import runner  # the program's own runner and mocks

    kwargs: dict[str, Any] = {}
    if "root" in inspect.signature(runner.run).parameters:
        kwargs["root"] = root
    run = runner.run(stack, **kwargs)
    out = []
    for r in run.registrations:
        fields = {k: _plain(v) for k, v in vars(r).items() if k != "wire"}
        out.append(fields)
    doc: dict[str, Any] = {"stack": stack, "registrations": out}
    # The custom roles the bootstrap creates for this stack, where that commit has them (before,
    # the main stack registered its roles itself: offline/review_roles.py reads those instead).
    if hasattr(runner, "custom_roles"):
        doc["custom_roles"] = runner.custom_roles(stack, root=root)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the checkout whose program runs")
    parser.add_argument("--stack", required=True)
    args = parser.parse_args(argv)
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)  # run as a script: this file's directory is not a package root
    try:
        doc = registrations(args.root.resolve(), args.stack)
    except Exception as exc:  # the program at that commit failed: say how, no traceback noise
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(doc, sys.stdout, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
