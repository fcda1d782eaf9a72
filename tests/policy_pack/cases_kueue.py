"""Violation cases for policies/astro_gke_policies/kueue.py: each mutates what prod's stack really
registers with Kueue on (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from tests.policy_pack.mutations import Case, add, edit, set_path

CLUSTER_QUEUE = "kueue.x-k8s.io/v1beta2:ClusterQueue"
ML_TRAINING_CQ = "astro-gpu-prod-kueue-clusterqueue-ml-training"
A100 = 3  # the a100 flavor's place in every ClusterQueue (class members first, then the rest)


def gpu_pod(labels: dict[str, str]) -> dict[str, object]:
    return {
        "metadata": {"name": "trainer", "namespace": "airflow-ml-training", "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "trainer",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ]
        },
    }


CASES: list[Case] = [
    (
        "kueue-gpu-pods-queued",
        "prod",
        "mandatory",
        add("kubernetes:core/v1:Pod", "unqueued-trainer", gpu_pod({})),
        "unqueued-trainer requests nvidia.com/gpu in namespace airflow-ml-training, which Kueue "
        "queues, without the kueue.x-k8s.io/queue-name label",
        {},
    ),
    (
        "kueue-gpu-pods-queued",
        "prod",
        "mandatory",
        add(
            "kubernetes:core/v1:Pod",
            "misqueued-trainer",
            gpu_pod({"kueue.x-k8s.io/queue-name": "cpu"}),
        ),
        "misqueued-trainer names LocalQueue 'cpu', which namespace airflow-ml-training lacks "
        "(it has: gpu)",
        {},
    ),
    (
        "kueue-quota-fits-pools",
        "prod",
        "mandatory",
        edit(
            CLUSTER_QUEUE,
            ML_TRAINING_CQ,
            set_path(
                "spec",
                "resourceGroups",
                0,
                "flavors",
                A100,
                "resources",
                0,
                "nominalQuota",
                value="10",
            ),  # fmt: skip
        ),
        "ClusterQueue ml-training may hold 14 nvidia.com/gpu on flavor a100 (nominal 10 + "
        "borrowing 4), but node pool astro-gpu-prod-a100-pool holds at most 12",
        {},
    ),
    (
        "kueue-quota-fits-pools",
        "prod",
        "mandatory",
        edit(
            CLUSTER_QUEUE,
            "astro-gpu-prod-kueue-clusterqueue-reporting",
            set_path(
                "spec",
                "resourceGroups",
                0,
                "flavors",
                A100,
                "resources",
                0,
                "nominalQuota",
                value="3",
            ),  # fmt: skip
        ),
        "the cohort of ClusterQueue ml-training has 13 nominal nvidia.com/gpu on flavor a100, but "
        "node pool astro-gpu-prod-a100-pool holds at most 12",
        {},
    ),
]
