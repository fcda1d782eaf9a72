"""What Airflow reads: the connection JSON stored in Secret Manager, the secrets-backend settings a
deployment needs to find it, and (Remote Execution) the agent environment for the XCom backend.

Checked against apache-airflow-providers-google (secrets/secret_manager.py),
apache-airflow-providers-cncf-kubernetes (hooks/kubernetes.py) and
apache-airflow-providers-common-io (xcom/backend.py):
- the backend reads secret `{connections_prefix}{sep}{conn_id}`, version `latest`; a value that
  starts with `{` is parsed by `Connection.from_json` (no `conn_id` inside);
- a `null` variables/config prefix means those lookups never reach Secret Manager;
- the hook takes `kube_config` as a dict (it json-dumps it), `namespace`, and `in_cluster`; more
  than one of `in_cluster`/`kube_config`/`kube_config_path` is an AirflowException, so an
  in-cluster connection carries no kubeconfig at all;
- the XCom backend reads `[common.io] xcom_objectstorage_path`, `..._threshold` (default -1: never
  object storage) and `..._compression`; a `gs://<bucket>/<prefix>` path without a connection id
  gets a `GCSFileSystem()` on Application Default Credentials (providers-google
  cloud/fs/gcs.py `get_fs(None)`): on GKE, the pod's Workload Identity.
"""

from __future__ import annotations

import json
from typing import Any

from components.config import AirflowDeploymentConfig

BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
XCOM_BACKEND = "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
# Astro's Remote Execution XCom examples (remote-agents-xcom-backend): threshold "0" ("Zero means
# always store in the object store": the metadata DB is in Astro's plane) and "zip" compression.
XCOM_THRESHOLD = "0"
XCOM_COMPRESSION = "zip"
XCOM_PREFIX = "xcom"


def connection_json(namespace: str, kubeconfig: dict[str, Any] | None) -> str:
    """The Airflow connection. With a kubeconfig (exec plugin) for a deployment outside the
    cluster; without one, `in_cluster: true`: the hook loads the pod's own service account token
    (`config.load_incluster_config()`), so the secret holds no credential of any kind."""
    extra: dict[str, Any] = {"namespace": namespace, "in_cluster": kubeconfig is None}
    if kubeconfig is not None:
        extra["kube_config"] = kubeconfig
    return json.dumps(
        {
            "conn_type": "kubernetes",
            "description": "GKE GPU cluster for KubernetesPodOperator (managed by Pulumi)",
            "extra": extra,
        },
        sort_keys=True,
    )


def backend_kwargs(
    project_id: str, deployment: AirflowDeploymentConfig, launcher_email: str | None
) -> str:
    """AIRFLOW__SECRETS__BACKEND_KWARGS. In impersonation mode the backend reads the secret as
    the launcher (the Astro identity or external agent may only mint the launcher's tokens);
    in-cluster and in `adc` mode it reads as the process's own identity."""
    kwargs: dict[str, Any] = {
        "connections_prefix": deployment.connections_prefix,
        "variables_prefix": None,
        "config_prefix": None,
        "sep": deployment.sep,
        "project_id": project_id,
    }
    if deployment.launch_mode == "impersonation":
        if not launcher_email:
            raise ValueError("impersonation mode needs the launcher's email")
        kwargs["impersonation_chain"] = launcher_email
    return json.dumps(kwargs, sort_keys=True)


def xcom_path(bucket: str) -> str:
    """`gs://<bucket>/xcom`: no connection id in the URL, so the agent's own identity (ADC) is used."""
    return f"gs://{bucket}/{XCOM_PREFIX}"


def xcom_env(bucket: str) -> dict[str, str]:
    """The object-storage XCom settings, as Astro's Remote Execution docs pass them (`commonEnv`)."""
    return {
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": xcom_path(bucket),
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": XCOM_THRESHOLD,
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION": XCOM_COMPRESSION,
    }


def pool_spec(deployment: AirflowDeploymentConfig, slots: int | None = None) -> dict[str, Any]:
    """The deployment's Airflow pool for GPU tasks (`make airflow-pool` upserts it through the
    deployment's `/api/v2/pools`): as many slots as the namespace's GPU quota, so tasks beyond the
    quota wait in Airflow (state `scheduled`, no pod, no KubernetesPodOperator timeout running)
    instead of being refused by the API server's ResourceQuota admission, which KPO does not retry
    (a 403 is not in cncf-kubernetes' TRANSIENT_STATUS_CODES). `include_deferred`: a deferred KPO
    task still has its pod and its GPUs, so it must keep its slots (Airflow counts deferred tasks
    against a pool only when this is true: models/pool.py `Pool.occupied_slots`). `slots`: the
    namespace's GPU quota when it is not `gpu_quota` (with Kueue: plus the borrowing limit)."""
    slots = deployment.gpu_quota if slots is None else slots
    return {
        "name": deployment.airflow_pool,
        "slots": slots,
        "include_deferred": True,
        "description": (
            f"GPU tasks of Astro deployment {deployment.name}: {slots} slots = "
            f"the GPU quota (requests.nvidia.com/gpu) of namespace {deployment.namespace}; "
            "pool_slots = GPUs per task (managed by Pulumi, make airflow-pool)"
        ),
    }


def dag_variables(
    connection_id: str, namespace: str, gpu_scheduling: dict[str, Any], pool: str
) -> dict[str, str]:
    """Airflow Variables from the environment (AIRFLOW_VAR_*): what DAGs need to target the
    cluster, read with Variable.get(...) (the env-var backend answers before the metastore)."""
    return {
        "AIRFLOW_VAR_GKE_GPU_CONN_ID": connection_id,
        "AIRFLOW_VAR_GKE_GPU_NAMESPACE": namespace,
        "AIRFLOW_VAR_GKE_GPU_POOL": pool,
        "AIRFLOW_VAR_GKE_GPU_SCHEDULING": json.dumps(gpu_scheduling, sort_keys=True),
    }
