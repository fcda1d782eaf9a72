"""astro/include/gke_gpu.py's one call, on the hints the stack exports, with the real
KubernetesPodOperator: what it passes, what it refuses, and which 403 ExplainQuota explains."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "astro"))
from include import gke_gpu  # noqa: E402


def test_from_hint_gives_kpo_every_gpu_argument(export: Any) -> None:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    hints = export("prod")["outputs"]["gpu_scheduling"]
    hint = hints["l4"]  # on demand, 2 L4s per node, a member of the class l4-any
    kwargs = gke_gpu.from_hint(hint, pool="gke_gpu", gpus=2, conn_id="c", namespace="ns")
    task = KubernetesPodOperator(task_id="t", image="i", cmds=["true"], **kwargs)
    assert (task.pool, task.pool_slots) == ("gke_gpu", 2)
    assert task.container_resources.limits == {"nvidia.com/gpu": "2"}
    assert task.node_selector == hint["node_selector"]
    assert [(t.key, t.operator, t.value, t.effect) for t in task.tolerations] == [
        ("nvidia.com/gpu", "Equal", "present", "NoSchedule"),
        ("cloud.google.com/compute-class", "Equal", "l4-any", "NoSchedule"),
    ]
    # prod shares GPUs through Kueue: the pool's 600 s schedule budget plus the queue wait
    # (kueue.queue_wait_minutes, 30), because KPO's schedule timeout runs while Kueue gates the
    # pod; and the pod names its deployment's LocalQueue (docs/gpu-sharing.md).
    assert (task.schedule_timeout_seconds, task.startup_timeout_seconds) == (600 + 30 * 60, 900)
    assert task.labels["kueue.x-k8s.io/queue-name"] == "gpu"
    assert (task.retries, task.retry_delay) == (1, timedelta(seconds=60))
    assert (task.kubernetes_conn_id, task.namespace) == ("c", "ns")
    assert [c.__name__ for c in task.callbacks] == [
        "CheckAuthPlugin",
        "ExplainDisruption",
        "ExplainQuota",
    ]


@pytest.mark.parametrize(
    ("pool", "gpus", "most"),
    [("l4", 0, 2), ("l4", 3, 2), ("l4", True, 2), ("l4", 1.5, 2), ("a100", 2, 1)],
)
def test_gpus_beyond_the_hint_are_refused_at_parse_time(
    export: Any, pool: str, gpus: Any, most: int
) -> None:
    # prod's a100 is time-shared: one shared GPU per pod at most.
    hint = export("prod")["outputs"]["gpu_scheduling"][pool]
    with pytest.raises(ValueError, match=rf"gpus must be a whole number from 1 to {most} "):
        gke_gpu.from_hint(hint, pool="gke_gpu", gpus=gpus)


def forbidden(message: str) -> ApiException:
    error = ApiException(status=403, reason="Forbidden")
    error.body = json.dumps({"kind": "Status", "reason": "Forbidden", "message": message})
    return error


def test_only_the_quota_refusal_is_explained() -> None:
    quota = (
        'pods "x" is forbidden: exceeded quota: kpo-quota, requested: requests.nvidia.com/gpu=1, '
        "used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2"
    )
    assert gke_gpu.quota_refusal(forbidden(quota)) == quota.split("forbidden: ")[1]
    # An RBAC 403 stays what it is: the quota is not to blame.
    rbac = 'pods is forbidden: User "x" cannot create resource "pods" in API group ""'
    assert gke_gpu.quota_refusal(forbidden(rbac)) is None
    assert gke_gpu.quota_refusal(ApiException(status=409, reason="Conflict")) is None
