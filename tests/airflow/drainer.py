"""A node drain during a KubernetesPodOperator run (kpo_run.py --drain)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class Drainer(threading.Thread):
    """A node drain, as GKE's upgrade sends it: once the task's pod runs, evict it through the
    Eviction API (refused while the namespace's PodDisruptionBudget allows no disruption), then a
    bystander pod the budget does not select (evicted). As GKE's control plane: RBAC does not
    limit it."""

    def __init__(self, kube: Any, address: str, ca_file: Path) -> None:
        super().__init__(daemon=True)
        self.kube, self.address, self.ca_file = kube, address, ca_file
        self.results: list[dict[str, Any]] = []
        self.start()

    def run(self) -> None:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = f"https://{self.address}"
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"BearerToken": self.kube.access.issue("gke-upgrade", admin=True)}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        api = client.CoreV1Api(client.ApiClient(configuration))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = [
                (ns, name)
                for (ns, name), pod in list(self.kube.pods.items())
                if not pod.deleted and self.kube._stage(pod) == "running"
            ]
            if running:
                break
            time.sleep(0.1)
        else:
            self.results.append({"error": "no running pod to drain"})
            return
        ns, name = running[0]
        self.results.append(self._evict(api, ns, name))
        bystander = client.V1Pod(
            metadata=client.V1ObjectMeta(name="bystander", labels={"app": "bystander"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
        )
        api.create_namespaced_pod(ns, bystander)
        self.kube.pods[(ns, "bystander")].always_running = True  # only the budget decides
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
