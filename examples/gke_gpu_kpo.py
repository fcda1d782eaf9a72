"""Example DAG: GPU tasks on the stack's GKE cluster, from an Astro deployment.

Everything cluster-specific comes from the Airflow Variables that `make astro-env` puts in the
deployment's environment (AIRFLOW_VAR_GKE_GPU_*): the connection id, the namespace, the deployment's
Airflow pool and the GPU pool's scheduling hints. `gpu_task` (include/gke_gpu.py: astro/include/ in
the platform repository; copy it into the Astro project) turns them into KubernetesPodOperator
arguments: where the pod runs, its GPU, how long it waits for a GPU node from zero, how often it
retries after a spot preemption, the Airflow pool it waits in (`make airflow-pool` sizes it to the
namespace's GPU quota, so a fan-out beyond the quota waits instead of failing) and the callbacks
that explain a missing auth plugin, a preempted node or a quota refusal. See astro/DAG_AUTHORS.md.
"""

from __future__ import annotations

import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG
from include.gke_gpu import gpu_task

with DAG(
    dag_id="gke_gpu_example",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["gpu", "gke"],
):
    # A sweep: more tasks than the GPU quota. Each waits in the pool for a GPU of its own.
    for shard in range(4):
        KubernetesPodOperator(
            task_id=f"nvidia_smi_{shard}",
            name=f"nvidia-smi-{shard}",
            image="nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04",
            cmds=["nvidia-smi"],
            **gpu_task("l4-spot", gpus=1),  # a key of the stack output `gpu_scheduling`
        )
