"""`make preview`: run a stack offline under Pulumi mocks and print its plan: every resource, the
outputs, the policy pack's verdicts (through the pack's Analyzer gRPC service, as the Pulumi engine
gets them) and the deploy critical path.

Exit status: 0 clean, 1 any mandatory policy violation, 2 invalid config (errors printed, no
traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components.config import ConfigError
from offline import plan, runner
from offline.analyzer import PolicyPackServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make preview", description=__doc__)
    parser.add_argument("--stack", default="dev", choices=runner.stacks())
    parser.add_argument("--format", default="text", choices=["text", "json"])
    parser.add_argument(
        "--config-file",
        type=Path,
        help="a Pulumi.<stack>.yaml to use instead of the committed one (e.g. a proposed change)",
    )
    args = parser.parse_args(argv)
    # The pack starts in its own process while this one runs the program.
    with PolicyPackServer() as pack:
        try:
            config = runner.stack_config(args.stack, args.config_file) if args.config_file else None
            # Each resource is analyzed as it is registered, while the program goes on.
            run = runner.run(args.stack, config=config, on_register=pack.submit)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        verdicts = pack.collect(run.registrations)
    result = plan.build(run, verdicts)
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        print(plan.render_text(result))
    return plan.exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
