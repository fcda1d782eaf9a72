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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Scenario = tuple[str, str, bool, bool, str, list[str]]

# A task's image pull on a warm node: its pod is Pending this long, and KubernetesPodOperator reads
# its events meanwhile (a sync task lists them, a deferrable one watches them: the Role's events
# rule is used).
PULL = ["--pull-seconds", "2"]
# A deferrable task's trigger starts once the task has deferred and its client has a token (about
# 2-3 s here, with gcloud): a longer pull keeps the pod Pending into the trigger's event watch.
DEFERRED_PULL = ["--pull-seconds", "6"]

# Every mode a task can run in: each must succeed through the real auth chain.
MODES: dict[str, Scenario] = {
    "sync": (
        "dev",
        "analytics",
        False,
        False,
        "keep_pod",
        ["--tune", "analytics:xcom=false,deferrable=false", *PULL],
    ),
    "sync-xcom": ("dev", "analytics", True, False, "delete_pod", ["--kubectl", *PULL]),
    "deferrable": (
        "dev",
        "analytics",
        False,
        True,
        "delete_pod",
        ["--tune", "analytics:xcom=false,deferrable=true", *DEFERRED_PULL],
    ),
    "deferrable-xcom": ("prod", "ml-training", True, True, "delete_pod", DEFERRED_PULL),
    "dns-endpoint": ("dev", "analytics", True, False, "delete_pod", ["--dns", *PULL]),
    "adc": ("prod", "reporting", False, False, "delete_pod", ["--dns", *PULL]),
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
    # The image lacks gke-gcloud-auth-plugin: with the guide's callbacks, and without them.
    "no-plugin": ("dev", "analytics", True, False, "delete_pod", ["--no-plugin", "--kubectl"]),
    "no-plugin-bare": (
        "dev",
        "analytics",
        True,
        False,
        "delete_pod",
        ["--no-plugin", "--no-callbacks"],
    ),
}

# A GPU task's life on a pool that scales from zero, replayed at 1/100 of real time: the stack's
# budget function runs on its sourced figures x SCALE (offline.export --time-scale), and the pod
# takes what a real cold start takes, x SCALE: GKE's autoscaler stand-in (kube_gke.py) adds the
# node after COLD_START, and kwok starts the pod after IMAGE_PULL.
SCALE = 0.01
COLD_START = 600 * SCALE  # a GPU node from zero until allocatable: up to 10 min (apple/axlearn#362)
IMAGE_PULL = (
    141 * SCALE
)  # a 6 GB image pulled in 2m21s (confidential-containers/cloud-api-adaptor#1112)
# Seconds: the fake IAM's tokens expire well inside one task (LONG_RUN). The Kubernetes clients
# refresh 5 minutes early (EXPIRY_SKEW_PREVENTION_DELAY in kubernetes' and kubernetes_asyncio's
# kube_config.py), so here on every call, and a request reaches the API server the plugin's run
# plus the request's own time after its token was minted: over 3 s at times on a loaded 2-core
# machine (a 401 in the audit log). A real token's 5 minutes of margin is what this leaves room
# for.
TOKEN_LIFETIME = 6.0
LONG_RUN = "14"  # seconds: more than 2 x TOKEN_LIFETIME
COLD = [
    "--time-scale",
    str(SCALE),
    "--cold-start",
    str(COLD_START),
    "--image-pull",
    str(IMAGE_PULL),
]
SYNC = ["--tune", "analytics:xcom=false,deferrable=false"]
# The first try's pod is preempted after a second of work; the hint's retries run it again.
PREEMPT = [
    *("--time-scale", str(SCALE), "--timeouts", "hints", "--retries-from-hint"),
    *("--preempt", "1", "--run-seconds", "1"),
]
LIFECYCLE: dict[str, Scenario] = {
    # The first task after idle, with KubernetesPodOperator's own 120 s (x SCALE): it gives up.
    "cold-default": (
        "dev",
        "analytics",
        False,
        False,
        "delete_pod",
        [*SYNC, *COLD, "--timeouts", "default"],
    ),
    # The same cold start with the pool's exported hints: it waits for the node.
    "cold-hints": (
        "dev",
        "analytics",
        False,
        False,
        "delete_pod",
        [*SYNC, *COLD, "--timeouts", "hints"],
    ),
    # The Spot node is preempted under the first try; the hint's retries run it again.
    "preempted": ("dev", "analytics", False, False, "delete_pod", [*SYNC, *PREEMPT]),
    # The same in a deferrable task: the trigger sees the pod fail, the operator names why.
    "preempted-deferrable": (
        "dev",
        "analytics",
        False,
        True,
        "delete_pod",
        ["--tune", "analytics:xcom=false,deferrable=true", *PREEMPT],
    ),
    # A node drain (GKE's surge upgrade) while the task runs: the disruption budget refuses it.
    "drained": (
        "dev",
        "analytics",
        False,
        False,
        "delete_pod",
        [*SYNC, "--run-seconds", "3", "--drain"],
    ),
    # Tasks that outlive their Google token, sync and deferrable.
    # (No XCom in these: their XCom path is MODES' sync-xcom and deferrable-xcom.)
    "long-sync": (
        "dev",
        "analytics",
        False,
        False,
        "delete_pod",
        [*SYNC, "--run-seconds", LONG_RUN, "--token-lifetime", str(TOKEN_LIFETIME)],
    ),
    "long-deferrable": (
        "dev",
        "analytics",
        False,
        True,
        "delete_pod",
        [
            "--tune",
            "analytics:xcom=false,deferrable=true",
            "--run-seconds",
            LONG_RUN,
            "--token-lifetime",
            str(TOKEN_LIFETIME),
        ],
    ),
    # prod's GPU class: its hint selects the class only; the autoscaler takes its first priority.
    "class": (
        "prod",
        "ml-training",
        False,
        True,
        "delete_pod",
        ["--dns", "--pool", "l4-any", *COLD, "--timeouts", "hints"],
    ),
    # The class hint without its class toleration: no pool takes the pod, no node is added.
    "class-untolerated": (
        "prod",
        "ml-training",
        False,
        True,
        "delete_pod",
        [
            "--dns",
            "--pool",
            "l4-any",
            "--time-scale",
            str(SCALE),
            "--timeouts",
            "hints",
            "--drop-toleration",
            "cloud.google.com/compute-class",
            "--from-zero",
        ],
    ),
}

# Prod shares GPUs through Kueue (the session's control plane runs the real Kueue controller):
# reporting's task finds the cohort's l4 GPUs all admitted to other workloads, and its pod waits in
# Kueue, gated, KUEUE_HOLD seconds before its queue frees a GPU. That is longer than KPO's own
# default (120 s) and the l4 pool's own budget (600 s) at SCALE, 1.2 s and 6 s, and shorter than
# the hint's, which adds Kueue's queue wait (30 minutes at SCALE: 18 s) to the pool's budget.
KUEUE_HOLD = 8.0
KUEUE_WAIT = [
    *("--dns", "--pool", "l4", "--hint-labels", "--time-scale", str(SCALE)),
    *("--kueue-hold", str(KUEUE_HOLD)),
]
KUEUE: dict[str, Scenario] = {
    # With the hint's schedule timeout (the pool's budget plus the queue wait): it succeeds.
    "kueue-wait": ("prod", "reporting", False, False, "delete_pod", [*KUEUE_WAIT, "--timeouts", "hints"]),
    # The same wait with KubernetesPodOperator's own schedule timeout: it gives up.
    "kueue-wait-default": (
        "prod", "reporting", False, False, "delete_pod", [*KUEUE_WAIT, "--timeouts", "default"],
    ),
}  # fmt: skip

# Borrowing: ml-training's own l4 quota (8) is all admitted to a placeholder, and the other
# queues' l4 GPUs are idle. Its task is admitted on a GPU the cohort lends (ml-training may
# borrow 4), and succeeds, with the hint's waits.
KUEUE_BORROW: dict[str, Scenario] = {
    "kueue-borrow": (
        "prod", "ml-training", False, False, "delete_pod",
        [
            *("--dns", "--pool", "l4", "--hint-labels", "--time-scale", str(SCALE)),
            *("--timeouts", "hints", "--kueue-borrow", "--run-seconds", "3"),
        ],
    ),
}  # fmt: skip

# Remote Execution: prod's batch-remote agent runs in the cluster; its task runs in-cluster.
REMOTE: dict[str, Scenario] = {
    "remote": (
        "prod",
        "batch-remote",
        True,
        True,
        "delete_pod",
        ["--in-cluster", "--pool", "l4-any", *PULL],
    ),
    # The same agent, a sync task that keeps its pod (the Role serves both kinds of task).
    "remote-sync": (
        "prod",
        "batch-remote",
        True,
        False,
        "keep_pod",
        ["--in-cluster", "--pool", "l4-any", *PULL],
    ),
    # dev's analytics as a remote deployment whose agent runs elsewhere as a Google service
    # account: the hosted path (launcher impersonation, DNS endpoint) with that identity.
    "remote-external": (
        "dev",
        "analytics",
        True,
        False,
        "delete_pod",
        [
            "--dns",
            "--external-agent",
            "astro-agent-batch@acme-agents.iam.gserviceaccount.com",
            *PULL,
        ],
    ),
    # The agent's service account into a hosted deployment's namespace, and the other way round.
    "remote-into-hosted": (
        "prod",
        "batch-remote",
        True,
        True,
        "delete_pod",
        ["--in-cluster", "--pool", "l4-any", "--namespace-of", "ml-training"],
    ),
    "hosted-into-remote": (
        "prod",
        "ml-training",
        True,
        True,
        "delete_pod",
        ["--dns", "--pool", "l4-any", "--namespace-of", "batch-remote"],
    ),
}

# Runs at once. A run waits for its stack while another run holds it (stack_lock.py), so there are
# more than the two cores: one stack's waits leave room for the other's runs.
PARALLEL = int(os.environ.get("CONTRACT_PARALLEL", "4"))


def interleaved(scenarios: dict[str, Scenario]) -> list[str]:
    """The scenarios' names, one stack's then the other's in turn (each stack's in its order):
    the first runs started are not all waiting for one stack."""
    by_stack: dict[str, list[str]] = {}
    for name, scenario in scenarios.items():
        by_stack.setdefault(scenario[0], []).append(name)
    lanes = list(by_stack.values())
    return [
        lane[i] for i in range(max(map(len, lanes), default=0)) for lane in lanes if i < len(lane)
    ]


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


def run_all(
    scenarios: dict[str, Scenario],
    base: Path,
    ready: dict[str, Callable[[], object]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every scenario, PARALLEL at a time, the stacks' in turn; one named in `ready` starts once its call returns
    (what it needs, such as Kueue, is started in the background meanwhile)."""
    from kpo_run import migrate_db

    def start(name: str, scenario: Scenario, db: Path) -> dict[str, Any]:
        (ready or {}).get(name, lambda: None)()
        return run_one(name, scenario, base / name, db)

    db = migrate_db(base / "db-template")
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {
            name: pool.submit(start, name, scenarios[name], db) for name in interleaved(scenarios)
        }
        return {name: future.result() for name, future in futures.items()}
