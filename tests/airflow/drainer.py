"""A node drain during a KubernetesPodOperator run (kpo_run.py --drain), on the session's real
API server."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

# KPO labels every pod it creates so (operators/pod.py); the namespace's budget selects them.
KPO_LABEL = ("kubernetes_pod_operator", "True")


class Drainer(threading.Thread):
    """A node drain, as GKE's upgrade sends it, as cluster admin (GKE's control plane is not
    limited by RBAC): once the task's pod runs, evict it through the Eviction API, which the
    namespace's PodDisruptionBudget refuses; then a bystander pod the budget does not select,
    which is evicted. It evicts once the real disruption controller's status counts the running
    task, as a drain of a node whose task has run a while finds it. The bystander runs on the
    task's pool (its selector and tolerations, no GPU)."""

    def __init__(self, run: Any, hint: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.real, self.hint = run, hint  # kube_real.RealRun after setup; the pool's hint
        self.results: list[dict[str, Any]] = []
        self.start()

    def run(self) -> None:
        from kubernetes import client, config

        api = client.CoreV1Api(config.new_client_from_config(str(self.real.kube.admin)))
        deadline = time.monotonic() + 60
        while (name := self._running_task()) is None:
            if time.monotonic() > deadline:
                self.results.append({"error": "no running pod to drain"})
                return
            time.sleep(0.1)
        ns = self.real.pods.namespace
        self.results.append({**self._evict(api, ns, name), "phase": "Running"})
        bystander = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "bystander", "labels": {"app": "bystander"}},
            "spec": {
                "containers": [{"name": "c", "image": "busybox"}],
                "nodeSelector": self.hint["node_selector"],
                "tolerations": self.hint["tolerations"],
            },
        }
        api.create_namespaced_pod(ns, bystander)
        self.results.append(self._evict(api, ns, "bystander"))

    def _running_task(self) -> str | None:
        pods = self.real.pods
        for name, pod in list(pods.last.items()):
            labels = pod["metadata"].get("labels", {})
            if (
                name not in pods.deleted
                and labels.get(KPO_LABEL[0]) == KPO_LABEL[1]
                and pod.get("status", {}).get("phase") == "Running"
                and self._budget_counts(pods.namespace)
            ):
                return str(name)
        return None

    def _budget_counts(self, namespace: str) -> bool:
        budgets = json.loads(self.real.kube.kubectl("get", "pdb", "-n", namespace, "-o", "json"))
        return any(
            b.get("status", {}).get("currentHealthy", 0) >= 1
            and b["status"].get("observedGeneration") == b["metadata"]["generation"]
            for b in budgets["items"]
        )

    @staticmethod
    def _evict(api: Any, ns: str, name: str) -> dict[str, Any]:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))
        try:
            api.create_namespaced_pod_eviction(name, ns, body)
            return {"pod": name, "status": 201}
        except ApiException as error:
            return {"pod": name, "status": error.status, "body": json.loads(error.body)}
