"""A GPU task on GPUs another deployment lends: real Airflow's KubernetesPodOperator (dag.test())
on the session's real control plane, with the real Kueue controller and prod's Kueue objects
(kube_kueue.py).

prod's `ml-training` task asks for one L4 (the `l4` hint, its labels as `gpu_task` passes them)
while its own ClusterQueue's nominal l4 quota (8) is all admitted to a placeholder. reporting's
and batch-remote's l4 GPUs are idle. The cohort lends: Kueue admits the task on a borrowed GPU
(ml-training may borrow 4, `kueue.deployments.ml-training.borrowing_limit`), and it succeeds."""

from __future__ import annotations

from typing import Any

import pytest
from kube_kueue import GATE, QUEUE_LABEL
from scenarios import KUEUE_BORROW

NAMESPACE = "airflow-ml-training"


@pytest.fixture(scope="session")
def borrowed(kpo: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return kpo["kueue-borrow"]


def test_only_the_tasks_own_queue_was_full(borrowed: dict[str, Any]) -> None:
    assert set(KUEUE_BORROW) == {"kueue-borrow"}
    kueue = borrowed["kueue"]
    assert kueue["borrow"] is True
    assert kueue["flavor"] == "l4"
    assert [(p["namespace"], p["gpus"]) for p in kueue["placeholders"]] == [(NAMESPACE, "8")]


def test_kueue_admits_the_task_on_a_borrowed_gpu_and_it_succeeds(borrowed: dict[str, Any]) -> None:
    assert borrowed["state"] == "success"
    [pod] = borrowed["pods"]
    labels = pod["manifest"]["metadata"]["labels"]
    assert labels[QUEUE_LABEL] == borrowed["kueue"]["local_queues"][NAMESPACE] == "gpu"
    # Gated by Kueue's webhook as it was created, then admitted and placed on the l4 pool's node.
    history = pod["history"]
    assert GATE in history[0]["gates"]
    placed = [e for e in history if e["node"]]
    assert placed and GATE not in placed[0]["gates"]
    assert pod["placed_on"].startswith("gke-") and "-l4-" in pod["placed_on"]
    # ml-training's ClusterQueue's l4 GPUs while the task ran: its 8 nominal in use, then 1
    # more, borrowed; never more than that.
    samples = borrowed["kueue"]["usage"]["samples"]
    assert {"total": "9", "borrowed": "1"} in samples, samples
    assert max(int(s["total"]) for s in samples) == 9
