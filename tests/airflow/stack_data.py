"""Getting stack data into the Airflow side (no pytest, no side effects: kpo_run.py uses it too).

The stack runs in its own venv; these call it as a subprocess, so nothing is re-typed here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STACK_PYTHON = os.environ.get("STACK_PYTHON", str(ROOT / ".venv" / "bin" / "python"))


def run_stack_python(*args: str) -> str:
    result = subprocess.run(
        [STACK_PYTHON, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def astro_env_values(
    outputs: dict[str, Any], stack: str, deployment: str, workdir: Path
) -> dict[str, str]:
    """What an Astro deployment's environment gets: the stack outputs through `make astro-env`'s
    tool, written as a .env file and read back with a real dotenv parser."""
    from dotenv import dotenv_values

    outputs_file = workdir / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    env_file = workdir / f"{stack}-{deployment}.env"
    run_stack_python(
        "-m",
        "tools.astro_env",
        "--stack",
        stack,
        "--deployment",
        deployment,
        "--outputs-file",
        str(outputs_file),
        "--out",
        str(env_file),
    )
    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}
