"""The floor `make preview` is measured against: the stack program run in a fresh process under the
Pulumi SDK's stock mocks (`pulumi.runtime.set_mocks`, the SDK's own MockMonitor) and nothing else:
no registration record, no policy pack, no plan. PlaceholderMocks only invents the values the
cloud would compute (the program reads the project number, service account emails).

Run: `.venv/bin/python bench/program_floor.py [--stack dev] [--config-file Pulumi.x.yaml]`.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from offline import runner  # noqa: E402
from offline.mocks import PlaceholderMocks  # noqa: E402


def main(stack: str, config_file: Path | None) -> None:
    config = runner.stack_config(stack, config_file)
    pulumi.runtime.set_mocks(PlaceholderMocks(), project=runner.PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config({k: runner._wire(v) for k, v in config.items()}, [])

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--config-file", type=Path)
    args = parser.parse_args()
    main(args.stack, args.config_file)
