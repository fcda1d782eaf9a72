"""Example DAG: a GPU task on the stack's GKE cluster, from an Astro deployment.

Everything cluster-specific comes from the Airflow Variables that `make astro-env` puts in the
deployment's environment (AIRFLOW_VAR_GKE_GPU_*): the connection id, the namespace, and the GPU
pool's scheduling hints, which include how long a task waits for a GPU node from zero and how
often it retries after a spot preemption. `include/gke_gpu.py` (astro/include/ in the platform
repository; copy it into the Astro project) fails a task whose image lacks the auth plugin with the
install hint, and names the cause when Kubernetes, not your code, ended the pod: a preempted Spot
node, a drain. See astro/DAG_AUTHORS.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG, Variable
from include.gke_gpu import CheckAuthPlugin, ExplainDisruption
from kubernetes.client import models as k8s

POOL = "l4-spot"  # a key of the stack output `gpu_scheduling`

pool = Variable.get("gke_gpu_scheduling", deserialize_json=True)[POOL]

with DAG(
    dag_id="gke_gpu_example",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["gpu", "gke"],
):
    KubernetesPodOperator(
        task_id="nvidia_smi",
        kubernetes_conn_id=Variable.get("gke_gpu_conn_id"),
        namespace=Variable.get("gke_gpu_namespace"),
        # No in_cluster: the connection says how to reach the cluster (a kubeconfig for a hosted
        # deployment, in-cluster for a Remote Execution agent in this cluster).
        name="nvidia-smi",
        image="nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04",
        cmds=["nvidia-smi"],
        container_resources=k8s.V1ResourceRequirements(limits={pool["resource_name"]: "1"}),
        node_selector=pool["node_selector"],
        tolerations=[k8s.V1Toleration(**t) for t in pool["tolerations"]],
        get_logs=True,
        on_finish_action="delete_pod",
        # The pool scales from zero: wait for its cold start, not KPO's 120 s defaults.
        schedule_timeout_seconds=pool["schedule_timeout_seconds"],
        startup_timeout_seconds=pool["startup_timeout_seconds"],
        # Spot nodes get preempted: retry, and the retry waits for a new node.
        retries=pool["retries"],
        retry_delay=timedelta(seconds=pool["retry_delay_seconds"]),
        # A missing auth plugin fails the task at once with its install hint (not a later 401);
        # a task failed by a preempted node says so in its log, not only "returned a failure".
        callbacks=[CheckAuthPlugin, ExplainDisruption],
    )
