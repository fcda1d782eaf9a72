"""ResourceQuota admission for the fake Kubernetes API server (`fake_kube`): what a pod counts
against its namespace's quotas and the admission plugin's refusal (mixed into `FakeKube`, whose
pods, quotas, refusals and gpu_peak it reads and records)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

# The ResourceQuota admission plugin's refusal (kubernetes/kubernetes staging/src/k8s.io/apiserver/
# pkg/admission/plugin/resourcequota/controller.go, checkRequest), wrapped by admission.NewForbidden
# (`<resource> "<name>" is forbidden: <err>`, apimachinery errors.NewForbidden): 403, Forbidden.
QUOTA_REFUSAL = "exceeded quota: {name}, requested: {requested}, used: {used}, limited: {limited}"
GPU = "nvidia.com/gpu"
TERMINAL = ("Succeeded", "Failed")


def pod_usage(spec: dict[str, Any]) -> dict[str, int]:
    """What one pod counts against a quota, for the integer resources the stack limits: `pods`, and
    `requests.nvidia.com/gpu` (an extended resource's request defaults to its limit and may not
    differ from it: pkg/apis/core/validation; the pod evaluator sums the containers' requests)."""
    gpus = 0
    for c in spec.get("containers", []):
        resources = c.get("resources") or {}
        asked = (resources.get("requests") or {}).get(GPU, (resources.get("limits") or {}).get(GPU))
        gpus += int(asked or 0)
    return {"pods": 1, f"requests.{GPU}": gpus}


def pretty(items: dict[str, int]) -> str:
    """The plugin's prettyPrint: `name=quantity`, names sorted, comma-joined."""
    return ",".join(f"{key}={items[key]}" for key in sorted(items))


class QuotaAdmission:
    def usage(self, ns: str) -> dict[str, int]:
        """What the namespace's pods count against its quota now: every pod not deleted and not in
        a terminal phase (the pod evaluator skips Succeeded and Failed pods: pkg/quota/v1/evaluator/
        core/pods.go QuotaV1Pod), so a finished pod frees its share."""
        used: dict[str, int] = {}
        for (pns, _), pod in list(self.pods.items()):
            if pns != ns or pod.deleted or self._pod_view(pod)["status"]["phase"] in TERMINAL:
                continue
            for key, value in pod_usage(pod.manifest["spec"]).items():
                used[key] = used.get(key, 0) + value
        return used

    def admit(self, ns: str, name: str, spec: dict[str, Any]) -> web.Response | None:
        """ResourceQuota admission: the first quota of the namespace the pod would exceed refuses
        it, naming only the exceeded resources (None: admitted)."""
        requested = pod_usage(spec)
        used = self.usage(ns)
        for quota in self.quotas:
            if quota["namespace"] != ns:
                continue
            hard = {
                key: int(value)
                for key, value in quota["spec"]["hard"].items()
                if key in requested  # cpu and memory are not emulated: no test comes near them
            }
            exceeded = sorted(
                key
                for key, limit in hard.items()
                if requested[key] and used.get(key, 0) + requested[key] > limit
            )
            if exceeded:
                message = QUOTA_REFUSAL.format(
                    name=quota["name"],
                    requested=pretty({k: requested[k] for k in exceeded}),
                    used=pretty({k: used.get(k, 0) for k in exceeded}),
                    limited=pretty({k: hard[k] for k in exceeded}),
                )
                self.refusals.append({"namespace": ns, "pod": name, "message": message})
                body = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f'pods "{name}" is forbidden: {message}',
                    "reason": "Forbidden",
                    "details": {"name": name, "kind": "pods"},
                    "code": 403,
                }
                return web.json_response(body, status=403)
        held = used.get(f"requests.{GPU}", 0) + requested[f"requests.{GPU}"]
        self.gpu_peak[ns] = max(self.gpu_peak.get(ns, 0), held)
        return None
