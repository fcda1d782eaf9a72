"""The Eviction API of the fake Kubernetes API server (`fake_kube`), what a node drain sends:
refused while a PodDisruptionBudget the stack registered allows no disruption (`Evictions` is
mixed into `FakeKube`, whose pods and budgets it reads)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from fake_kube_scheduler import matches

# The Eviction API's refusal (pkg/registry/core/pod/storage/eviction.go): 429 with this message.
PDB_REFUSAL = "Cannot evict pod as it would violate the pod's disruption budget."


class Evictions:
    # --- evictions (what a node drain sends) -------------------------------------------------

    def disruptions_allowed(self, budget: dict[str, Any], ns: str) -> tuple[int, int, int]:
        """(allowed, desired healthy, current healthy), as the disruption controller computes them
        (kubernetes/kubernetes pkg/controller/disruption/disruption.go): with maxUnavailable, the
        expected count comes from the pods' controllers and bare pods (KubernetesPodOperator's
        have no controller) are skipped as unmanaged, so the expected count is 0 and no
        disruption is allowed; with an integer minAvailable, every selected pod counts."""
        spec = budget["spec"]
        selected = [
            p
            for (pns, _), p in self.pods.items()
            if pns == ns
            and not p.deleted
            and matches(spec["selector"], p.manifest["metadata"].get("labels", {}))
        ]
        healthy = sum(1 for p in selected if self._pod_view(p)["status"]["phase"] == "Running")
        if "maxUnavailable" in spec:
            if isinstance(spec["maxUnavailable"], str):
                raise NotImplementedError("percentage budgets: not emulated")
            managed = [p for p in selected if p.manifest["metadata"].get("ownerReferences")]
            expected = len(managed)
            desired = max(expected - int(spec["maxUnavailable"]), 0)
        else:
            if isinstance(spec["minAvailable"], str):
                raise NotImplementedError("percentage budgets: not emulated")
            expected = len(selected)
            desired = int(spec["minAvailable"])
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        return allowed, desired, healthy

    async def _evict(self, request: web.Request) -> web.Response:
        pod = self._find(request)
        ns, name = request.match_info["ns"], request.match_info["name"]
        if pod is None or pod.deleted:
            return self._status(404, "NotFound", f'pods "{name}" not found')
        labels = pod.manifest["metadata"].get("labels", {})
        phase = self._pod_view(pod)["status"]["phase"]
        budgets = [
            b
            for b in self.budgets
            if b["namespace"] == ns and matches(b["spec"]["selector"], labels)
        ]
        record = {
            "pod": name,
            "namespace": ns,
            "phase": phase,
            "budgets": [b["name"] for b in budgets],
        }
        # canIgnorePDB (pkg/registry/core/pod/storage/eviction.go): pods not running are evicted.
        if phase not in ("Succeeded", "Failed", "Pending") and budgets:
            if len(budgets) > 1:
                return self._status(500, "InternalError", "more than one PodDisruptionBudget")
            allowed, desired, healthy = self.disruptions_allowed(budgets[0], ns)
            if allowed <= 0:
                self.evictions.append({**record, "status": 429})
                body = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "TooManyRequests",
                    "message": PDB_REFUSAL,
                    "code": 429,
                    "details": {
                        "causes": [
                            {
                                "reason": "DisruptionBudget",
                                "message": f"The disruption budget {budgets[0]['name']} needs "
                                f"{desired} healthy pods and has {healthy} currently",
                            }
                        ]
                    },
                }
                return web.json_response(body, status=429)
        pod.deleted = True
        self.evictions.append({**record, "status": 201})
        return web.json_response(
            {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}, status=201
        )
