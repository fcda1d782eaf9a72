"""The KubernetesPodOperator runs of the contract suite (kpo_run.py, one process each), run once per
session by the `kpo` fixture, a few at a time.

name: (stack, deployment, xcom, deferrable, on_finish_action, extra kpo_run args)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Scenario = tuple[str, str, bool, bool, str, list[str]]

# Every mode a task can run in: each must succeed through the real auth chain.
MODES: dict[str, Scenario] = {
    "sync": (
        "dev",
        "analytics",
        False,
        False,
        "keep_pod",
        ["--tune", "analytics:xcom=false,deferrable=false"],
    ),
    "sync-xcom": ("dev", "analytics", True, False, "delete_pod", ["--kubectl"]),
    "deferrable": (
        "dev",
        "analytics",
        False,
        True,
        "delete_pod",
        ["--tune", "analytics:xcom=false,deferrable=true"],
    ),
    "deferrable-xcom": ("prod", "ml-training", True, True, "delete_pod", []),
    "dns-endpoint": ("dev", "analytics", True, False, "delete_pod", ["--dns"]),
    "adc": ("prod", "reporting", False, False, "delete_pod", ["--dns"]),
}

# What must fail, and how a user sees it (test_auth_chain.py). Each also runs kubectl.
FAILURES: dict[str, Scenario] = {
    # The Astro identity lost Token Creator on the launcher: no launcher token.
    "no-token-creator": (
        "dev",
        "analytics",
        True,
        False,
        "delete_pod",
        ["--revoke-token-creator", "--kubectl"],
    ),
    # Deployment A's launcher into deployment B's namespace (DNS endpoint: the IAM gate passes).
    "other-namespace": (
        "prod",
        "ml-training",
        True,
        True,
        "delete_pod",
        ["--dns", "--namespace-of", "reporting", "--kubectl"],
    ),
    # A token for an identity without the launcher role, at the DNS endpoint's IAM gate.
    "no-launcher-role": (
        "dev",
        "analytics",
        True,
        False,
        "delete_pod",
        ["--dns", "--revoke-launcher-role", "--kubectl"],
    ),
    # The image lacks gke-gcloud-auth-plugin.
    "no-plugin": ("dev", "analytics", True, False, "delete_pod", ["--no-plugin", "--kubectl"]),
}

PARALLEL = int(os.environ.get("CONTRACT_PARALLEL", "3"))


def run_one(name: str, scenario: Scenario, work: Path, db: Path) -> dict[str, Any]:
    stack, deployment, xcom, deferrable, on_finish, extra = scenario
    args = [
        sys.executable,
        str(HERE / "kpo_run.py"),
        "--workdir",
        str(work),
        "--stack",
        stack,
        "--deployment",
        deployment,
        "--xcom",
        str(int(xcom)),
        "--deferrable",
        str(int(deferrable)),
        "--on-finish",
        on_finish,
        "--db-template",
        str(db),
        *extra,
    ]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ})
    if done.returncode != 0 or not (work / "result.json").exists():
        raise AssertionError(f"{name} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads((work / "result.json").read_text())
    # What a user reads: the task's log (dag.test() prints it) and everything else it printed.
    result["log"] = done.stdout + done.stderr
    result["seconds"] = round(time.monotonic() - started, 1)
    (work / "result.json").write_text(json.dumps(result))
    return result


def run_all(scenarios: dict[str, Scenario], base: Path) -> dict[str, dict[str, Any]]:
    from kpo_run import migrate_db

    db = migrate_db(base / "db-template")
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {
            name: pool.submit(run_one, name, scenario, base / name, db)
            for name, scenario in scenarios.items()
        }
        return {name: future.result() for name, future in futures.items()}
