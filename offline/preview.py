"""`make preview`: run a stack offline under Pulumi mocks and print its plan: every resource, the
outputs, the policy pack's verdicts (through the pack's Analyzer gRPC service, as the Pulumi engine
gets them) and the deploy critical path.

With `--base <git ref>` (`make preview BASE=<ref>`) it also runs the program as it was at that
ref (from a temporary `git worktree`, removed afterwards) and shows what a `pulumi up` would do to
move the stack from there to the working tree: per resource create, update (the changed
properties), replace (the properties that force it, create-before-delete or delete-before-replace)
or delete (offline/review.py; which properties force a replacement: offline/forcenew.py), and
which custom roles change, each an owner's bootstrap `pulumi up` first (offline/review_roles.py). Changes
that hurt (the cluster, a GPU node pool, a deployment's secret, launcher identity or namespace
replaced or deleted) are flagged with `!!`; in a production stack (the policy pack's `prodStacks`
setting, default prod and production) they refuse the preview unless every such URN is listed in
`--allow-replace` (`ALLOW_REPLACE=<urn>,<urn>`). `--format json` then adds `changes` (resources
whose op is not unchanged, sorted by URN) and `review` to the plan (offline/plan.schema.json);
without `--base` neither key is present.

Exit status: 0 clean; 1 any mandatory policy violation; 2 invalid config (errors printed, no
traceback); 3 unmarked changes that hurt in a production stack (takes precedence over 1; both are
printed); 4 the program at BASE could not be run (unknown ref, or it fails there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from components.config import ConfigError, preflight
from offline import plan, review, review_roles, runner
from offline.analyzer import PolicyPackServer
from offline.mocks import Registration

REFUSED = 3
BASE_FAILED = 4
REGISTRATIONS = Path(__file__).resolve().parent / "registrations.py"


class BaseError(Exception):
    """The program at BASE could not be run."""


def prod_stacks(pack: PolicyPackServer) -> list[str]:
    """The stacks the policy pack counts as production: its `prodStacks` setting's default, read
    from the pack's own config schema (GetAnalyzerInfo), so the list lives in one place."""
    found: set[str] = set()
    for policy in pack.info().policies:
        props = json_format.MessageToDict(policy.configSchema.properties)
        found.update(props.get("prodStacks", {}).get("default", []))
    return sorted(found)


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(runner.ROOT), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BaseError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


@contextmanager
def worktree(ref: str) -> Iterator[tuple[Path, str]]:
    """A detached temporary worktree of `ref` and its commit; removed on exit."""
    commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="preview-base-") as tmp:
        path = Path(tmp) / "base"
        _git("worktree", "add", "--detach", "--quiet", str(path), commit)
        try:
            yield path, commit
        finally:
            subprocess.run(
                ["git", "-C", str(runner.ROOT), "worktree", "remove", "--force", str(path)],
                capture_output=True,
                check=False,
            )
            subprocess.run(
                ["git", "-C", str(runner.ROOT), "worktree", "prune"],
                capture_output=True,
                check=False,
            )


def start_base_run(root: Path, stack: str) -> subprocess.Popen[str]:
    """Run the program in `root` in its own process (its own components/ and mocks)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.Popen(
        [sys.executable, str(REGISTRATIONS), "--root", str(root), "--stack", stack],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def load_registrations(doc: dict[str, Any]) -> list[Registration]:
    """Registrations printed by offline/registrations.py (fields it lacks keep their default)."""
    known = {f.name for f in fields(Registration)}
    out = []
    for raw in doc["registrations"]:
        values = {k: v for k, v in raw.items() if k in known}
        values["secret_inputs"] = set(values.get("secret_inputs", []))
        out.append(Registration(**values))
    return out


def finish_base_run(
    process: subprocess.Popen[str], ref: str
) -> tuple[list[Registration], str, list[dict[str, Any]] | None]:
    """The registrations at BASE, a note when the stack did not exist there, and the custom roles
    the bootstrap creates for it there (None before the bootstrap owned them)."""
    out, err = process.communicate(timeout=600)
    if process.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise BaseError(f"the program at {ref} failed: {last}")
    doc = json.loads(out)
    note = "no stack file at BASE: every resource is new" if doc.get("missing_stack") else ""
    return load_registrations(doc), note, doc.get("custom_roles")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make preview", description=__doc__)
    parser.add_argument(
        "--program",
        default="main",
        choices=["main", "bootstrap"],
        help="the main stack, or the day-0 program in bootstrap/ (make bootstrap-preview)",
    )
    parser.add_argument("--stack", default=None, help="a Pulumi.<stack>.yaml of the program")
    parser.add_argument("--format", default="text", choices=["text", "json"])
    parser.add_argument(
        "--config-file",
        type=Path,
        help="a Pulumi.<stack>.yaml to use instead of the committed one (e.g. a proposed change)",
    )
    parser.add_argument(
        "--base", help="a git ref: also show what `pulumi up` would change from there to here"
    )
    parser.add_argument(
        "--allow-replace",
        default="",
        help="comma-separated URNs whose hurting replace/delete is intended (prod stacks)",
    )
    args = parser.parse_args(argv)
    root = runner.ROOT / "bootstrap" if args.program == "bootstrap" else runner.ROOT
    args.stack = args.stack or ("ci" if args.program == "bootstrap" else "dev")
    if args.stack not in runner.stacks(root):
        parser.error(f"--stack: one of {', '.join(runner.stacks(root))}")
    allow = [u.strip() for u in args.allow_replace.split(",") if u.strip()]
    try:
        example = _preflight(args.program, args.stack, args.config_file, root)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with _base_context(args.base) as (base_root, commit):
            # A first PR after copying the examples: the stack file at BASE is still the shipped
            # example, so BASE has no stack of the user's to compare with.
            example_base = (
                base_root is not None
                and args.program == "main"
                and not example
                and example_at_base(base_root, args.stack)
            )
            base_run = (
                start_base_run(base_root, args.stack) if base_root and not example_base else None
            )
            # The pack starts in its own process while this one runs the program.
            with PolicyPackServer() as pack:
                try:
                    config = (
                        runner.stack_config(args.stack, args.config_file, root=root)
                        if args.config_file
                        else None
                    )
                    # Each resource is analyzed as it is registered, while the program goes on.
                    run = runner.run(args.stack, config=config, on_register=pack.submit, root=root)
                except ConfigError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    if base_run is not None:
                        base_run.kill()
                        base_run.communicate()
                    return 2
                verdicts = pack.collect(run.registrations)
                production = prod_stacks(pack) if base_root is not None else []
            base = finish_base_run(base_run, args.base) if base_run is not None else None
            if example_base:
                base = ([], EXAMPLE_BASE, None)
    except BaseError as exc:
        print(f"error: BASE {args.base}: {exc}", file=sys.stderr)
        return BASE_FAILED
    result = plan.build(run, verdicts)
    checked: review.Review | None = None
    if base is not None:
        base_registrations, note, base_roles = base
        head_roles = (
            runner.custom_roles(args.stack, config, root=root) if args.program == "main" else []
        )
        checked = review.review(
            base_registrations,
            run.registrations,
            stack=args.stack,
            prod_stacks=production,
            allow=allow,
            base_ref=args.base,
            commit=commit,
            note=note,
            owner_steps=review_roles.owner_steps(
                base_registrations, base_roles, run.registrations, head_roles
            ),
        )
        result.update(review.to_json(checked))
    if example:
        print(
            f"note: {args.stack} is the shipped example ({preflight.ALLOW_ENV}=1): "
            "its project ids are invented",
            file=sys.stderr,
        )
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        print(plan.render_text(result))
        if checked is not None:
            print()
            print(review.render_text(checked))
    if checked is not None and checked.refused:
        return REFUSED
    return plan.exit_status(result)


EXAMPLE_BASE = (
    "the stack file at BASE holds the shipped example values (components/config/preflight.py): "
    "every resource is new"
)


def example_at_base(base_root: Path, stack: str) -> bool:
    """True when BASE's Pulumi.<stack>.yaml still holds the shipped example values."""
    if not (base_root / f"Pulumi.{stack}.yaml").exists():
        return False  # no stack at BASE: the base run says so itself
    raw = runner.stack_config(stack, None, root=base_root).get(f"{runner.PROJECT}:platform")
    return isinstance(raw, dict) and bool(preflight.example_problems(raw))


def _preflight(program: str, stack: str, config_file: Path | None, root: Path) -> bool:
    """components/config/preflight.py on the raw config, before anything runs. The bootstrap's
    check covers every listed main stack too: it grants roles in their projects."""
    config = runner.stack_config(stack, config_file, root=root)
    key = f"{runner.project_name(root)}:{'bootstrap' if program == 'bootstrap' else 'platform'}"
    raw = config.get(key)
    if not isinstance(raw, dict):
        return False  # the program's own validation names the missing object
    stacks: dict[str, dict[str, Any]] = {}
    if program == "bootstrap":
        main_key = f"{runner.PROJECT}:platform"
        for name in raw.get("stacks") or []:
            if f"Pulumi.{name}.yaml" in {p.name for p in runner.ROOT.glob("Pulumi.*.yaml")}:
                platform = runner.stack_config(str(name)).get(main_key)
                if isinstance(platform, dict):
                    stacks[str(name)] = platform
    return preflight.check(raw, key, stacks=stacks)


@contextmanager
def _base_context(ref: str | None) -> Iterator[tuple[Path | None, str]]:
    if not ref:
        yield None, ""
        return
    with worktree(ref) as (path, commit):
        yield path, commit


if __name__ == "__main__":
    sys.exit(main())
