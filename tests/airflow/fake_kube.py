"""A recording fake Kubernetes API server on 127.0.0.1 for the contract suite.

It serves TLS with a certificate issued by a trustme CA (the CA the mocked GKE cluster reports),
accepts only the bearer token the stub `gke-gcloud-auth-plugin` hands out, and emulates what
KubernetesPodOperator touches: pod create/get/list/patch/delete with a Pending -> Running ->
Succeeded lifecycle, container logs, events (list and watch), and the exec websocket (channel
protocol v4) that `do_xcom_push` uses. Every request is recorded as the RBAC check it would need:
(verb, resource, subresource, namespace).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trustme
from aiohttp import WSMsgType, web

SIDECAR = "airflow-xcom-sidecar"
PENDING_SECONDS = 0.6
STDOUT, STDERR, ERROR = 1, 2, 3


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    authorized: bool
    allowed: bool = True

    @property
    def checks(self) -> list[tuple[str, str, str]]:
        """The RBAC checks the API server makes: exec over a websocket arrives as GET and, on
        Kubernetes >= 1.35, is authorized as create too (kubernetes/kubernetes#134577)."""
        if self.subresource == "exec":
            return [("get", "pods/exec", self.namespace), ("create", "pods/exec", self.namespace)]
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return [(self.verb, resource, self.namespace)]


@dataclass
class FakePod:
    manifest: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    reads: int = 0
    sidecar_killed: bool = False
    deleted: bool = False

    @property
    def has_sidecar(self) -> bool:
        return any(c["name"] == SIDECAR for c in self.manifest["spec"]["containers"])


@dataclass
class FakeKube:
    ca: trustme.CA
    token: str
    # (apiGroups, resources, verbs) rules of the namespaced Role bound to the caller, and its
    # namespace: requests they do not allow get 403, as RBAC would answer.
    role_rules: list[dict[str, list[str]]] = field(default_factory=list)
    role_namespace: str = ""
    xcom_value: str = '{"answer": 42}'
    log_lines: tuple[str, ...] = ("hello from the GPU pod", "done")
    calls: list[Call] = field(default_factory=list)
    pods: dict[tuple[str, str], FakePod] = field(default_factory=dict)
    exec_commands: list[list[str]] = field(default_factory=list)
    stdin_received: list[str] = field(default_factory=list)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake API server did not start")
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/version", self._version)
        app.router.add_get("/api", self._api_versions)
        app.router.add_get("/apis", self._api_groups)
        app.router.add_get("/api/v1", self._api_resources)
        app.router.add_get("/api/v1/namespaces/{ns}/pods", self._list_pods)
        app.router.add_post("/api/v1/namespaces/{ns}/pods", self._create_pod)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", self._get_pod)
        app.router.add_patch("/api/v1/namespaces/{ns}/pods/{name}", self._patch_pod)
        app.router.add_delete("/api/v1/namespaces/{ns}/pods/{name}", self._delete_pod)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", self._logs)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/exec", self._exec)
        app.router.add_post("/api/v1/namespaces/{ns}/pods/{name}/exec", self._exec)
        app.router.add_get("/api/v1/namespaces/{ns}/events", self._events)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    # --- recording and auth -------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        authorized = request.headers.get("Authorization") == f"Bearer {self.token}"
        call = self._rbac_view(request, authorized)
        allowed = not call.namespace or all(self.allows(*check) for check in call.checks)
        call = Call(**{**call.__dict__, "allowed": allowed})
        self.calls.append(call)
        if not authorized:
            return self._status(401, "Unauthorized", "missing or wrong bearer token")
        if not allowed:
            return self._status(403, "Forbidden", f"{call.checks} is not allowed by the Role")
        return await handler(request)

    def allows(self, verb: str, resource: str, namespace: str) -> bool:
        if namespace != self.role_namespace:
            return False
        return any(
            "" in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
            for r in self.role_rules
        )

    @staticmethod
    def _rbac_view(request: web.Request, authorized: bool) -> Call:
        parts = [p for p in request.path.split("/") if p]
        namespace = resource = subresource = ""
        name = ""
        if len(parts) >= 4 and parts[:3] == ["api", "v1", "namespaces"]:
            namespace = parts[3]
            resource = parts[4] if len(parts) > 4 else "namespaces"
            name = parts[5] if len(parts) > 5 else ""
            subresource = parts[6] if len(parts) > 6 else ""
        elif len(parts) >= 3 and parts[:2] == ["api", "v1"]:
            resource = parts[2]
        verb = {
            "POST": "create",
            "PATCH": "patch",
            "PUT": "update",
            "DELETE": "delete",
        }.get(request.method, "get")
        if request.method == "GET" and resource and not name:
            verb = "watch" if _true(request.query.get("watch")) else "list"
        return Call(
            request.method,
            request.path,
            request.query_string,
            verb,
            resource,
            subresource,
            namespace,
            authorized,
        )

    @staticmethod
    def _status(code: int, reason: str, message: str) -> web.Response:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": reason,
            "message": message,
            "code": code,
        }
        return web.json_response(body, status=code)

    # --- discovery (kubectl) ---------------------------------------------------------------

    async def _version(self, _: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "33", "gitVersion": "v1.33.4-gke.0"})

    async def _api_versions(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
                ],
            }
        )

    async def _api_groups(self, _: web.Request) -> web.Response:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def _api_resources(self, _: web.Request) -> web.Response:
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        return web.json_response(
            {
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": [
                    {
                        "name": "pods",
                        "singularName": "pod",
                        "namespaced": True,
                        "kind": "Pod",
                        "verbs": verbs,
                        "shortNames": ["po"],
                    },
                    {
                        "name": "pods/log",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "Pod",
                        "verbs": ["get"],
                    },
                    {
                        "name": "pods/exec",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "PodExecOptions",
                        "verbs": ["create", "get"],
                    },
                    {
                        "name": "events",
                        "singularName": "event",
                        "namespaced": True,
                        "kind": "Event",
                        "verbs": ["list", "watch", "get"],
                        "shortNames": ["ev"],
                    },
                ],
            }
        )

    # --- pods ------------------------------------------------------------------------------

    def _pending(self, pod: FakePod) -> bool:
        # Pending for the first read and for PENDING_SECONDS, as a pod waiting for a GPU node is.
        return pod.reads < 2 or time.monotonic() - pod.created < PENDING_SECONDS

    def _pod_view(self, pod: FakePod) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        pending = self._pending(pod)
        base_done = not pending and pod.reads >= 4
        running = {"running": {"startedAt": now}}
        terminated = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": now,
                "finishedAt": now,
            }
        }
        statuses = []
        for c in pod.manifest["spec"]["containers"]:
            if pending:
                state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
            elif c["name"] == SIDECAR:
                state = terminated if pod.sidecar_killed else running
            else:
                state = terminated if base_done else running
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
        if pending:
            phase = "Pending"
        elif base_done and (not pod.has_sidecar or pod.sidecar_killed):
            phase = "Succeeded"
        else:
            phase = "Running"
        view = json.loads(json.dumps(pod.manifest))
        view["status"] = {"phase": phase, "containerStatuses": statuses, "startTime": now}
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
        pod = FakePod(manifest)
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

        def matches(pod: FakePod) -> bool:
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
            if pns == ns and not p.deleted and matches(p)
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

    async def _events(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info["ns"]
        event = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": "ev-1", "namespace": ns},
            "involvedObject": {
                "kind": "Pod",
                "namespace": ns,
                "name": request.query.get("fieldSelector", "").split("=")[-1],
            },
            "reason": "Scheduled",
            "message": "Successfully assigned pod to a GPU node",
            "type": "Normal",
            "lastTimestamp": "2026-01-01T00:00:00Z",
            "count": 1,
        }
        if _true(request.query.get("watch")):
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await response.write((json.dumps({"type": "ADDED", "object": event}) + "\n").encode())
            await response.write_eof()
            return response
        return web.json_response(
            {
                "kind": "EventList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": [event],
            }
        )

    # --- exec (websocket, channel protocol v4) ---------------------------------------------

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        pod = self._find(request)
        command = request.query.getall("command", [])
        self.exec_commands.append(command)
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        if pod is None or request.query.get("container") != SIDECAR:
            await ws.send_bytes(
                bytes([ERROR])
                + json.dumps({"status": "Failure", "message": "no such container"}).encode()
            )
            await ws.close()
            return ws
        if command[:2] == ["/bin/sh", "-c"] and "return.json" in command[2]:
            await ws.send_bytes(bytes([STDOUT]) + self.xcom_value.encode())
        elif _true(request.query.get("stdin")):
            async for message in ws:
                if message.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                    data = (
                        message.data if isinstance(message.data, bytes) else message.data.encode()
                    )
                    if data[:1] == bytes([0]):
                        self.stdin_received.append(data[1:].decode())
                        if "kill -2" in data[1:].decode():
                            pod.sidecar_killed = True
                        break
        await ws.send_bytes(
            bytes([ERROR]) + json.dumps({"metadata": {}, "status": "Success"}).encode()
        )
        await ws.close()
        return ws
