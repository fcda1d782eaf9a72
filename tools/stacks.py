"""The list of main stacks, from one place: the `stacks:` entry of the bootstrap's stack file
(bootstrap/Pulumi.ci.yaml), the list the bootstrap creates accounts and grants for. The workflows
read it (`make stacks`), so adding an environment is one line there and one Pulumi.<stack>.yaml.

`python -m tools.stacks` prints the names, one a line. `--github-output` prints what
.github/workflows/*.yml read from `$GITHUB_OUTPUT`: `all`, `staging` (every stack whose
`environment` is not prod, deployed first) and `production` (the prod ones, deployed after them
in the bootstrap's protected GitHub environment, `production_environment`), each a JSON list.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP_STACK = "ci"
BOOTSTRAP_KEY = "astro-gke-bootstrap:bootstrap"
MAIN_KEY = "astro-gke-gpu:platform"


def _config(path: Path, key: str) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text()) or {}
    value = (doc.get("config") or {}).get(key)
    if not isinstance(value, dict):
        raise SystemExit(f"error: {path.relative_to(ROOT)}: no `{key}` config object")
    return value


def bootstrap(root: Path = ROOT, stack: str = BOOTSTRAP_STACK) -> dict[str, Any]:
    return _config(root / "bootstrap" / f"Pulumi.{stack}.yaml", BOOTSTRAP_KEY)


def stacks(root: Path = ROOT, stack: str = BOOTSTRAP_STACK) -> list[str]:
    """The bootstrap's `stacks:`, in its order."""
    return [str(s) for s in bootstrap(root, stack).get("stacks") or []]


def is_production(name: str, root: Path = ROOT) -> bool:
    return _config(root / f"Pulumi.{name}.yaml", MAIN_KEY).get("environment") == "prod"


def github_outputs(root: Path = ROOT, stack: str = BOOTSTRAP_STACK) -> dict[str, str]:
    names = stacks(root, stack)
    production = [n for n in names if is_production(n, root)]
    github = bootstrap(root, stack).get("github") or {}
    return {
        "all": json.dumps(names),
        "staging": json.dumps([n for n in names if n not in production]),
        "production": json.dumps(production),
        "production_environment": str(github.get("production_environment", "production")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make stacks", description=__doc__)
    parser.add_argument("--bootstrap-stack", default=BOOTSTRAP_STACK)
    parser.add_argument("--github-output", action="store_true", help="key=value lines")
    args = parser.parse_args(argv)
    if args.github_output:
        for key, value in github_outputs(stack=args.bootstrap_stack).items():
            print(f"{key}={value}")
    else:
        print("\n".join(stacks(stack=args.bootstrap_stack)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
