"""Getting stack data into the Airflow side (no pytest, no side effects: kpo_run.py uses it too).

The stack runs in its own venv; these call it as a subprocess, so nothing is re-typed here."""

from __future__ import annotations

import fcntl
import hashlib
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


# What the export is run with in place of a run's own endpoint address. The program passes the
# endpoint the cloud returns through (components/gke/cluster.py) and never branches on an output,
# so the export for an address is this one's with the stand-in replaced (tests/test_export.py
# compares both).
ENDPOINT_STANDIN = "endpoint.contract.invalid"
EXPORTS_ENV = "CONTRACT_EXPORTS"  # a directory shared by a session's runs (conftest.py)


def export_for(args: list[str], endpoint: str) -> dict[str, Any]:
    """`python -m offline.export *args --endpoint endpoint`, run once per distinct `args` in a
    session (under EXPORTS_ENV, if set), for the stand-in; then the stand-in becomes `endpoint`."""
    cache = os.environ.get(EXPORTS_ENV)
    if not cache:
        return json.loads(run_stack_python(*args, "--endpoint", endpoint))
    key = hashlib.sha256(json.dumps(args).encode()).hexdigest()[:16]
    path = Path(cache) / f"{key}.json"
    with (Path(cache) / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run exports it; the others wait and read it
        if not path.exists():
            path.with_suffix(".tmp").write_text(
                run_stack_python(*args, "--endpoint", ENDPOINT_STANDIN)
            )
            path.with_suffix(".tmp").rename(path)
    return for_endpoint(path.read_text(), endpoint)


def for_endpoint(text: str, endpoint: str) -> dict[str, Any]:
    """An export made for ENDPOINT_STANDIN, as made for `endpoint`."""
    data: dict[str, Any] = json.loads(text.replace(ENDPOINT_STANDIN, endpoint))
    return data


def stack_tool(tool: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one of the stack's tools (`python -m tools.…`) in the stack's venv, as `make` does, with
    `env` added to a clean environment; its exit code is the caller's to judge."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ASTRO_"))}
    return subprocess.run(
        [STACK_PYTHON, "-m", tool, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**clean, **env},
    )


def handoff(tool: str, outputs: dict[str, Any], stack: str, deployment: str, out: Path) -> Path:
    """Run a handoff tool (`tools.astro_env`, `tools.agent_values`) on these stack outputs."""
    outputs_file = out.parent / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    run_stack_python(
        "-m",
        tool,
        "--stack",
        stack,
        "--deployment",
        deployment,
        "--outputs-file",
        str(outputs_file),
        "--out",
        str(out),
    )
    return out


def astro_env_values(
    outputs: dict[str, Any], stack: str, deployment: str, workdir: Path
) -> dict[str, str]:
    """What an Astro deployment's environment gets: the stack outputs through `make astro-env`'s
    tool, written as a .env file and read back with a real dotenv parser."""
    from dotenv import dotenv_values

    env_file = handoff(
        "tools.astro_env", outputs, stack, deployment, workdir / f"{stack}-{deployment}.env"
    )
    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}


def agent_env_values(
    outputs: dict[str, Any], stack: str, deployment: str, workdir: Path
) -> dict[str, str]:
    """What a Remote Execution agent's environment gets: `make agent-values`' tool writes the Helm
    values; the chart sets `commonEnv` on every agent component."""
    import yaml

    values = handoff(
        "tools.agent_values", outputs, stack, deployment, workdir / "agent-values.yaml"
    )
    loaded = yaml.safe_load(values.read_text())
    env = {e["name"]: str(e["value"]) for e in loaded["commonEnv"]}
    env["AIRFLOW__SECRETS__BACKEND"] = loaded["secretBackend"]
    return env
