"""`make preview`: run a stack offline under Pulumi mocks, print what it registers and the policy
pack's verdicts (obtained through the pack's Analyzer gRPC service, as the Pulumi engine does).

Exit status: 0 clean, 1 any mandatory policy violation, 2 invalid config (errors printed, no
traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from components.config import ConfigError
from offline import runner
from offline.analyzer import PolicyPackServer, Verdict
from offline.mocks import PLACEHOLDERS


def render(run: runner.Run) -> str:
    by_urn = {r.urn: r for r in run.registrations}
    children: dict[str, list[runner.Registration]] = {}
    for r in run.registrations:
        parent = r.parent if r.parent in by_urn else ""
        children.setdefault(parent, []).append(r)
    for kids in children.values():
        kids.sort(key=lambda r: (r.type, r.name))

    lines = [
        f"Stack {runner.PROJECT}/{run.stack} (offline, Pulumi mocks: nothing was deployed)",
        "",
    ]

    def walk(urn: str, depth: int) -> None:
        for r in children.get(urn, []):
            flags = " [protect]" if r.protect else ""
            lines.append(f"{'    ' * depth}+ {r.type}  {r.name}{flags}")
            walk(r.urn, depth + 1)

    walk("", 1)
    counts = Counter(r.type for r in run.registrations if r.custom)
    lines += ["", f"Resources: {sum(counts.values())} to create"]
    lines += [f"    {n:3d} {t}" for t, n in sorted(counts.items())]
    lines += ["", "Outputs:"]
    for key in sorted(run.outputs):
        value = "[secret]" if key in run.secret_outputs else run.outputs[key]
        mark = (
            "  (placeholder: invented by the mocks)"
            if any(p in str(value) for p in PLACEHOLDERS)
            else ""
        )
        lines.append(f"    {key}: {value}{mark}")
    return "\n".join(lines)


def render_verdicts(verdicts: list[Verdict], by_urn: dict[str, str]) -> str:
    mandatory = [v for v in verdicts if v.level == "mandatory"]
    advisory = [v for v in verdicts if v.level != "mandatory"]
    lines = [f"Policies: {len(mandatory)} mandatory, {len(advisory)} advisory violation(s)"]
    for v in sorted(verdicts, key=lambda v: (v.level != "mandatory", v.policy, v.urn)):
        where = by_urn.get(v.urn, "stack")
        detail = v.message.splitlines()[-1]
        lines.append(f"    [{v.level}] {v.policy}  ({where})\n        {detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make preview", description=__doc__)
    parser.add_argument("--stack", default="dev", choices=runner.stacks())
    parser.add_argument(
        "--config-file",
        type=Path,
        help="a Pulumi.<stack>.yaml to use instead of the committed one (e.g. a proposed change)",
    )
    args = parser.parse_args(argv)
    try:
        config = runner.stack_config(args.stack, args.config_file) if args.config_file else None
        run = runner.run(args.stack, config=config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(run))
    with PolicyPackServer() as pack:
        verdicts = pack.analyze_all(run.registrations)
    by_urn = {r.urn: f"{r.type}  {r.name}" for r in run.registrations}
    print()
    print(render_verdicts(verdicts, by_urn))
    return 1 if any(v.level == "mandatory" for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
