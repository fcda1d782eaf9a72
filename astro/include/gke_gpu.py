"""Everything a KubernetesPodOperator task on the GKE GPU pools needs, in one call. Copy this file
to your Astro project's `include/`:

    from include.gke_gpu import gpu_task
    KubernetesPodOperator(task_id="train", image="…", cmds=[…], **gpu_task("l4-spot", gpus=1))

`gpu_task` reads the deployment's Variables (`make astro-env` / `make agent-values` set them) and
returns the connection and namespace, the pool's node selector and tolerations, the GPU request,
both timeouts, retries and their delay, the Airflow `pool` and `pool_slots`, and the callbacks
below. `from_hint` does the same from a hint you already hold.

Fan-out: the deployment's Airflow pool (`gke_gpu_pool`, made by `make airflow-pool`) has as many
slots as the namespace's GPU quota, and a task takes `pool_slots` = its GPUs, so tasks beyond the
quota wait in Airflow (state `scheduled`, no pod yet, no KPO timeout running) instead of being
refused by the API server, which KubernetesPodOperator does not retry (403 is not transient to
cncf-kubernetes). ExplainQuota turns a refusal that still happens (a task outside the pool, GPU pods
started some other way) into an error that names the quota and the pool, not a bare 403.

CheckAuthPlugin: when the connection's kubeconfig runs `gke-gcloud-auth-plugin` and the image
lacks it, the Kubernetes Python client only logs "No such file or directory" and sends its
requests without a token, so the task fails later with a bare 401. This fails the task before its
first request, with the kubeconfig's install hint, and without retries (a missing binary does not
come back on a retry).

ExplainDisruption names why Kubernetes ended a task's pod, in the task log.

When a Spot VM is preempted, the kubelet's graceful node shutdown ends the pod and marks it Failed;
KubernetesPodOperator then fails the task with "Pod ... returned a failure." and a dump of the pod,
where the cause sits in `status.conditions` among dozens of fields. This callback reads the
pod's `DisruptionTarget` condition (set by Kubernetes whenever it, not the container, ends a pod;
"Pod disruption conditions", kubernetes.io/docs/concepts/workloads/pods/disruptions) and the
kubelet's node-shutdown status, and logs one error line that says what happened and whether the
task's retries will cover it. A pod that ended on its own (exit code) gets no such line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback
from airflow.sdk import Variable
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

# The reasons of the DisruptionTarget condition (k8s.io/api core/v1 types.go, PodReason*).
CAUSES = {
    "TerminationByKubelet": (
        "GPU node lost: the node the pod ran on was shut down (on a Spot pool: the Spot VM was "
        "preempted by Compute Engine)"
    ),
    "DeletionByPodGC": (
        "GPU node lost: the node the pod ran on no longer exists (a preempted or deleted VM) and "
        "Kubernetes removed the pod"
    ),
    "DeletionByTaintManager": (
        "GPU node lost: the node was tainted NoExecute (not ready, or shutting down) and "
        "Kubernetes removed the pod"
    ),
    "EvictionByEvictionAPI": (
        "pod evicted: a node drain (upgrade, repair or scale-down) evicted it through the "
        "Eviction API"
    ),
    "PreemptionByScheduler": "pod preempted: the scheduler made room for a higher-priority pod",
}
# What the kubelet writes without the condition (pkg/kubelet/nodeshutdown, nodeShutdownReason).
NODE_SHUTDOWN_REASON = "Terminated"
NODE_SHUTDOWN_MARK = "node shutdown"


def disruption(pod: Any) -> str | None:
    """Why Kubernetes ended the pod, in words, or None when nothing outside the pod did."""
    status = getattr(pod, "status", None)
    if status is None:
        return None
    for condition in status.conditions or []:
        if condition.type == "DisruptionTarget" and condition.status == "True":
            cause = CAUSES.get(condition.reason or "", f"pod disrupted ({condition.reason})")
            detail = (condition.message or status.message or "").rstrip(".")
            return f"{cause}: {detail}" if detail else cause
    if status.reason == NODE_SHUTDOWN_REASON and NODE_SHUTDOWN_MARK in (status.message or ""):
        return f"{CAUSES['TerminationByKubelet']}: {status.message.rstrip('.')}"
    return None


class ExplainDisruption(KubernetesPodOperatorCallback):
    """Logs the cause when Kubernetes, not the task's code, ended the pod."""

    @staticmethod
    def on_pod_completion(*, pod: Any, operator: Any, context: Any, **kwargs: Any) -> None:
        cause = disruption(pod)
        if cause is None:
            return
        ti = context["ti"]
        left = operator.retries - (ti.try_number - 1)
        then = (
            f"Airflow retries it ({left} of {operator.retries} retries left); the retry waits "
            "for a new node"
            if left > 0
            else "no retries left: give the task the pool's `retries` from gke_gpu_scheduling"
        )
        operator.log.error(
            "%s. Pod %s/%s. Not a failure of the task's code: %s.",
            cause,
            pod.metadata.namespace,
            pod.metadata.name,
            then,
        )


def missing_plugins(extras: dict[str, Any]) -> list[str]:
    """For each exec plugin the connection's kubeconfig runs that is not on PATH: its command and
    install hint (`users[].user.exec`, client.authentication.k8s.io)."""
    kube_config = extras.get("kube_config") or {}
    if isinstance(kube_config, str):
        kube_config = json.loads(kube_config)
    missing = []
    for user in kube_config.get("users") or []:
        plugin = (user.get("user") or {}).get("exec")
        if plugin and shutil.which(plugin["command"]) is None:
            hint = plugin.get("installHint") or ""
            missing.append(f"{plugin['command']} is not on PATH. {hint}".strip())
    return missing


class CheckAuthPlugin(KubernetesPodOperatorCallback):
    """Fails the task, with the install hint, when its kubeconfig's auth plugin is missing."""

    @staticmethod
    def on_sync_client_creation(*, operator: Any, **kwargs: Any) -> None:
        missing = missing_plugins(operator.hook.conn_extras)
        if missing:
            raise AirflowFailException(
                f"connection {operator.kubernetes_conn_id!r}: " + " ".join(missing)
            )


# What the API server's ResourceQuota admission says when it refuses a pod (403 Forbidden:
# `pods "<name>" is forbidden: exceeded quota: <quota>, requested: …, used: …, limited: …`,
# k8s.io/apiserver admission/plugin/resourcequota/controller.go).
QUOTA_MARK = "exceeded quota"


class GpuQuotaExceeded(AirflowException):
    """The namespace's GPU quota refused the pod. Retried like any failure (the GPUs may be free
    by then), unlike the bare 403 no one could read."""


def quota_refusal(error: BaseException) -> str | None:
    """The admission plugin's `exceeded quota: …` text when `error` is its refusal, else None."""
    if not isinstance(error, ApiException) or error.status != 403:
        return None
    try:
        body = json.loads(error.body or "{}")
    except ValueError:
        return None
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    if body.get("reason") != "Forbidden" or QUOTA_MARK not in message:
        return None
    return message[message.index(QUOTA_MARK) :]


def explain_quota(refusal: str, operator: Any) -> str:
    return (
        f"GPU quota: Kubernetes refused the pod in namespace {operator.namespace} ({refusal}). "
        f"This task ran in Airflow pool {operator.pool!r} with pool_slots={operator.pool_slots}; "
        "GPU tasks wait for a GPU only when they all run in the deployment's GPU pool (Variable "
        "gke_gpu_pool, as many slots as the quota: make airflow-pool) with pool_slots = their "
        "GPUs (gpu_task does both). A task outside that pool, or GPU pods started another way in "
        "the namespace, can still exceed the quota."
    )


class ExplainQuota(KubernetesPodOperatorCallback):
    """Fails the try with the quota and the pool named when the quota refuses the pod."""

    @staticmethod
    def on_sync_client_creation(*, client: Any, operator: Any, **kwargs: Any) -> None:
        # The operator creates its pod through this client (sync and deferrable alike:
        # PodManager.create_pod -> client.create_namespaced_pod).
        create = client.create_namespaced_pod
        if getattr(create, "explains_quota", False):
            return

        def create_namespaced_pod(*args: Any, **kw: Any) -> Any:
            try:
                return create(*args, **kw)
            except ApiException as error:
                refusal = quota_refusal(error)
                if refusal is None:
                    raise
                raise GpuQuotaExceeded(explain_quota(refusal, operator)) from error

        create_namespaced_pod.explains_quota = True  # type: ignore[attr-defined]
        client.create_namespaced_pod = create_namespaced_pod


CALLBACKS = (CheckAuthPlugin, ExplainDisruption, ExplainQuota)


def from_hint(
    hint: Mapping[str, Any],
    *,
    pool: str,
    gpus: int = 1,
    conn_id: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """Every KubernetesPodOperator argument a GPU task needs, from one `gke_gpu_scheduling` hint:
    where it runs (selector, tolerations), what it asks for (`gpus` of the hint's resource), how
    long it waits for a node (both timeouts) and how it retries, which Airflow pool it waits in
    and how many slots it takes there (GPUs x `pool_slots_per_gpu`), and the callbacks."""
    most = int(hint["gpus_per_node"])
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 1 <= gpus <= most:
        raise ValueError(
            f"gpus must be a whole number from 1 to {most} (this hint's gpus_per_node)"
        )
    kwargs: dict[str, Any] = {
        "node_selector": dict(hint["node_selector"]),
        "tolerations": [k8s.V1Toleration(**t) for t in hint["tolerations"]],
        # Extended resources are requested through limits (the request defaults to the limit).
        "container_resources": k8s.V1ResourceRequirements(
            limits={hint["resource_name"]: str(gpus)}
        ),
        "schedule_timeout_seconds": hint["schedule_timeout_seconds"],
        "startup_timeout_seconds": hint["startup_timeout_seconds"],
        "retries": hint["retries"],
        "retry_delay": timedelta(seconds=hint["retry_delay_seconds"]),
        "pool": pool,
        "pool_slots": gpus * int(hint["pool_slots_per_gpu"]),
        "callbacks": list(CALLBACKS),
    }
    if hint.get("labels"):
        # Kueue on: the queue label (`kueue.x-k8s.io/queue-name`) that queues the pod.
        kwargs["labels"] = dict(hint["labels"])
    if conn_id is not None:
        kwargs["kubernetes_conn_id"] = conn_id
    if namespace is not None:
        kwargs["namespace"] = namespace
    return kwargs


def gpu_task(hint: str, *, gpus: int = 1) -> dict[str, Any]:
    """`from_hint` on the deployment's own Variables: hint `hint` of `gke_gpu_scheduling` (a GPU
    pool or class name), pool `gke_gpu_pool`, connection `gke_gpu_conn_id`, namespace
    `gke_gpu_namespace`."""
    scheduling = Variable.get("gke_gpu_scheduling", deserialize_json=True)
    if hint not in scheduling:
        known = ", ".join(sorted(scheduling))
        raise ValueError(f"no GPU pool or class {hint!r} in gke_gpu_scheduling; known: {known}")
    return from_hint(
        scheduling[hint],
        pool=Variable.get("gke_gpu_pool"),
        gpus=gpus,
        conn_id=Variable.get("gke_gpu_conn_id"),
        namespace=Variable.get("gke_gpu_namespace"),
    )
