"""Callbacks for KubernetesPodOperator tasks on the GKE GPU pools. Copy this file to your Astro
project's `include/` and pass them:

    from include.gke_gpu import CheckAuthPlugin, ExplainDisruption
    KubernetesPodOperator(..., callbacks=[CheckAuthPlugin, ExplainDisruption])

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
from typing import Any

from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback
from airflow.sdk.exceptions import AirflowFailException

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
