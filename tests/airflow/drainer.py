"""A node drain during a KubernetesPodOperator run (kpo_run.py --drain)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

# KPO labels every pod it creates so (operators/pod.py); the namespace's budget selects them.
KPO_LABEL = ("kubernetes_pod_operator", "True")


class Drainer(threading.Thread):
    """A node drain, as GKE's upgrade sends it: once the task's pod runs, evict it through the
    Eviction API (refused while the namespace's PodDisruptionBudget allows no disruption), then a
    bystander pod the budget does not select (evicted). As GKE's control plane: RBAC does not
    limit it. Subclasses say how to reach the API server and which pod runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.results: list[dict[str, Any]] = []
        self.start()

    def api(self) -> Any:
        raise NotImplementedError

    def running_task(self) -> tuple[str, str] | None:
        raise NotImplementedError

    def bystander_created(self, namespace: str) -> None:
        """What must happen once the bystander exists (nothing, on the real server)."""

    def bystander_spec(self) -> dict[str, Any]:
        return {"containers": [{"name": "c", "image": "busybox"}]}

    def run(self) -> None:
        api = self.api()
        deadline = time.monotonic() + 60
        while (running := self.running_task()) is None:
            if time.monotonic() > deadline:
                self.results.append({"error": "no running pod to drain"})
                return
            time.sleep(0.1)
        ns, name = running
        self.results.append({**self._evict(api, ns, name), "phase": "Running"})
        bystander = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "bystander", "labels": {"app": "bystander"}},
            "spec": self.bystander_spec(),
        }
        api.create_namespaced_pod(ns, bystander)
        self.bystander_created(ns)
        self.results.append(self._evict(api, ns, "bystander"))

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


class FakeDrainer(Drainer):
    """The drain on the fake API server (fake_kube), with a token its Access issues."""

    def __init__(self, kube: Any, address: str, ca_file: Path) -> None:
        self.kube, self.address, self.ca_file = kube, address, ca_file
        super().__init__()

    def api(self) -> Any:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = f"https://{self.address}"
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"BearerToken": self.kube.access.issue("gke-upgrade", admin=True)}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return client.CoreV1Api(client.ApiClient(configuration))

    def running_task(self) -> tuple[str, str] | None:
        running = [
            key
            for key, pod in list(self.kube.pods.items())
            if not pod.deleted and self.kube._stage(pod) == "running"
        ]
        return running[0] if running else None

    def bystander_created(self, namespace: str) -> None:
        self.kube.pods[(namespace, "bystander")].always_running = True  # only the budget decides


class RealDrainer(Drainer):
    """The drain on the session's real API server, as cluster admin: its Eviction API decides,
    from the budget's status that the real disruption controller (kube-controller-manager)
    keeps. It evicts once that status counts the running task, as a drain of a node whose task
    has run a while finds it; the bystander runs on the task's pool (its selector and
    tolerations, no GPU)."""

    def __init__(self, run: Any, hint: dict[str, Any]) -> None:
        self.real, self.hint = run, hint  # kube_real.RealRun after setup; the pool's hint
        super().__init__()

    def api(self) -> Any:
        from kubernetes import client, config

        return client.CoreV1Api(config.new_client_from_config(str(self.real.kube.admin)))

    def running_task(self) -> tuple[str, str] | None:
        pods = self.real.pods
        for name, pod in list(pods.last.items()):
            labels = pod["metadata"].get("labels", {})
            if (
                name not in pods.deleted
                and labels.get(KPO_LABEL[0]) == KPO_LABEL[1]
                and pod.get("status", {}).get("phase") == "Running"
                and self._budget_counts(pods.namespace)
            ):
                return pods.namespace, name
        return None

    def _budget_counts(self, namespace: str) -> bool:
        budgets = json.loads(self.real.kube.kubectl("get", "pdb", "-n", namespace, "-o", "json"))
        return any(
            b.get("status", {}).get("currentHealthy", 0) >= 1
            and b["status"].get("observedGeneration") == b["metadata"]["generation"]
            for b in budgets["items"]
        )

    def bystander_spec(self) -> dict[str, Any]:
        return {
            **super().bystander_spec(),
            "nodeSelector": self.hint["node_selector"],
            "tolerations": self.hint["tolerations"],
        }
