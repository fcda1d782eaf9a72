"""Pods in the fake Kubernetes API server (`fake_kube`): create, get, list, patch, delete, logs
and events, and what happens to a task's pod: placement, starting, running, done (`PodHandlers`
is mixed into `FakeKube`). A GPU task's cold start, Spot preemption and drain are on the real
control plane (test_lifecycle.py, kube_gke.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from fake_kube_auth import _true

SIDECAR = "airflow-xcom-sidecar"
PENDING_SECONDS = 0.6
# A pod waiting for a GPU node stays Pending for minutes, and KubernetesPodOperator reads its events
# meanwhile. Here a pod stays Pending until its events were read, whatever the auth plugin's latency
# (the deferrable trigger runs it again for each API client), up to this long.
PENDING_MAX_SECONDS = 15.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakePod:
    manifest: dict[str, Any]
    index: int = 0  # creation order in this run
    pool: dict[str, Any] | None = None  # where the scheduler puts it; None: unschedulable
    created: float = field(default_factory=time.monotonic)
    reads: int = 0
    events_read: bool = False
    sidecar_killed: bool = False
    deleted: bool = False

    @property
    def node_name(self) -> str:
        return f"gke-{self.pool['name'] if self.pool else 'none'}-node-0"

    @property
    def has_sidecar(self) -> bool:
        return any(c["name"] == SIDECAR for c in self.manifest["spec"]["containers"])


class PodHandlers:
    # --- pods ------------------------------------------------------------------------------

    def _stage(self, pod: FakePod) -> str:
        """unschedulable | starting | running | done."""
        if pod.pool is None:
            return "unschedulable"
        if self._pending(pod, time.monotonic() - pod.created):
            return "starting"
        return "running" if pod.reads < 4 else "done"

    @staticmethod
    def _pending(pod: FakePod, age: float) -> bool:
        """KubernetesPodOperator sees the pod Pending at least twice and reads its events."""
        if age >= PENDING_MAX_SECONDS:
            return False
        return pod.reads < 2 or age < PENDING_SECONDS or not pod.events_read

    def _pod_view(self, pod: FakePod) -> dict[str, Any]:
        now = _now()
        stage = self._stage(pod)
        pending = stage in ("unschedulable", "starting")
        running = {"running": {"startedAt": now}}

        def terminated(code: int, reason: str) -> dict[str, Any]:
            return {
                "terminated": {
                    "exitCode": code,
                    "reason": reason,
                    "startedAt": now,
                    "finishedAt": now,
                }
            }

        statuses = []
        for c in pod.manifest["spec"]["containers"]:
            if pending:
                state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
            elif c["name"] == SIDECAR:
                state = terminated(0, "Completed") if pod.sidecar_killed else running
            else:
                state = terminated(0, "Completed") if stage == "done" else running
            statuses.append(
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": "running" in state,
                    "restartCount": 0,
                    "started": "running" in state,
                    "state": state,
                }
            )
        status: dict[str, Any] = {"containerStatuses": statuses, "startTime": now}
        if stage == "unschedulable":
            status["phase"] = "Pending"
            assert self.scheduler is not None
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": self.scheduler.unschedulable_message(pod.manifest["spec"]),
                }
            ]
            del status["containerStatuses"]
        else:
            if pending:
                phase = "Pending"
            elif stage == "done" and (not pod.has_sidecar or pod.sidecar_killed):
                phase = "Succeeded"
            else:
                phase = "Running"
            status["phase"] = phase
            status["conditions"] = [{"type": "PodScheduled", "status": "True"}]
        view = json.loads(json.dumps(pod.manifest))
        if pod.pool is not None and stage != "unschedulable":
            view["spec"]["nodeName"] = pod.node_name
        view["status"] = status
        return view

    def _find(self, request: web.Request) -> FakePod | None:
        return self.pods.get((request.match_info["ns"], request.match_info["name"]))

    async def _create_pod(self, request: web.Request) -> web.Response:
        manifest = await request.json()
        ns = request.match_info["ns"]
        manifest.setdefault("metadata", {}).update(
            namespace=ns,
            uid=f"uid-{len(self.pods)}",
            resourceVersion="1",
            creationTimestamp="2026-01-01T00:00:00Z",
        )
        manifest["metadata"].setdefault("labels", {})
        if self.scheduler is None:
            pool: dict[str, Any] | None = {"name": "any"}
        else:
            fitting = self.scheduler.fits(manifest["spec"])
            pool = fitting[0] if fitting else None
        pod = FakePod(manifest, index=len(self.pods), pool=pool)
        self.pods[(ns, manifest["metadata"]["name"])] = pod
        return web.json_response(self._pod_view(pod), status=201)

    async def _get_pod(self, request: web.Request) -> web.Response:
        pod = self._find(request)
        if pod is None or pod.deleted:
            return self._status(404, "NotFound", f'pods "{request.match_info["name"]}" not found')
        pod.reads += 1
        return web.json_response(self._pod_view(pod))

    async def _list_pods(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        wanted = {}
        for term in filter(None, request.query.get("labelSelector", "").split(",")):
            if "!=" in term:
                key, value = term.split("!=")
                wanted[key] = ("!=", value)
            elif "=" in term:
                key, value = term.split("=", 1)
                wanted[key.rstrip("=")] = ("=", value)
            else:
                wanted[term.lstrip("!")] = ("absent" if term.startswith("!") else "present", "")

        def selected(pod: FakePod) -> bool:
            labels = pod.manifest["metadata"].get("labels", {})
            for key, (op, value) in wanted.items():
                if op == "=" and labels.get(key) != value:
                    return False
                if op == "!=" and labels.get(key) == value:
                    return False
                if op == "absent" and key in labels:
                    return False
                if op == "present" and key not in labels:
                    return False
            return True

        items = [
            self._pod_view(p)
            for (pns, _), p in self.pods.items()
            if pns == ns and not p.deleted and selected(p)
        ]
        return web.json_response(
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": items,
            }
        )

    async def _patch_pod(self, request: web.Request) -> web.Response:
        pod = self._find(request)
        if pod is None or pod.deleted:
            return self._status(404, "NotFound", "pod not found")
        patch = await request.json()
        labels = (patch.get("metadata") or {}).get("labels") or {}
        pod.manifest["metadata"]["labels"].update(labels)
        return web.json_response(self._pod_view(pod))

    async def _delete_pod(self, request: web.Request) -> web.Response:
        pod = self._find(request)
        if pod is None or pod.deleted:
            return self._status(404, "NotFound", "pod not found")
        pod.deleted = True
        return web.json_response(self._pod_view(pod))

    async def _logs(self, request: web.Request) -> web.Response:
        if self._find(request) is None:
            return self._status(404, "NotFound", "pod not found")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
        timestamps = _true(request.query.get("timestamps"))
        lines = [f"{now} {line}" if timestamps else line for line in self.log_lines]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    def _pod_events(self, ns: str, pod_name: str) -> list[dict[str, Any]]:
        """What the scheduler, the cluster autoscaler and the kubelet record on the pod."""
        pod = self.pods.get((ns, pod_name))

        def event(reason: str, message: str, source: str, kind: str = "Normal") -> dict[str, Any]:
            return {
                "kind": "Event",
                "apiVersion": "v1",
                "metadata": {"name": f"{pod_name}.{reason}", "namespace": ns, "uid": reason},
                "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod_name},
                "reason": reason,
                "message": message,
                "source": {"component": source},
                "type": kind,
                "lastTimestamp": _now(),
                "count": 1,
            }

        if pod is None:
            return []
        stage = self._stage(pod)
        spec = pod.manifest["spec"]
        events = []
        if stage == "unschedulable":
            assert self.scheduler is not None
            events.append(
                event(
                    "FailedScheduling",
                    self.scheduler.unschedulable_message(spec),
                    "default-scheduler",
                    "Warning",
                )
            )
        if stage == "unschedulable":
            # cluster-autoscaler processors/status/eventing_scale_up_processor.go
            events.append(
                event(
                    "NotTriggerScaleUp",
                    self.scheduler.no_scale_up_message(spec),
                    "cluster-autoscaler",
                )
            )
            return events
        events.append(
            event(
                "Scheduled",
                f"Successfully assigned {ns}/{pod_name} to {pod.node_name}",
                "default-scheduler",
            )
        )
        return events

    async def _events(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info["ns"]
        involved = request.query.get("fieldSelector", "").split("=")[-1]
        if (ns, involved) in self.pods:
            self.pods[(ns, involved)].events_read = True
        events = self._pod_events(ns, involved)
        if _true(request.query.get("watch")):
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for item in events:
                await response.write(
                    (json.dumps({"type": "ADDED", "object": item}) + "\n").encode()
                )
            await response.write_eof()
            return response
        return web.json_response(
            {
                "kind": "EventList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": events,
            }
        )
