"""A recording fake Kubernetes API server on 127.0.0.1 for the contract suite.

It serves TLS with a certificate issued by a trustme CA (the CA the mocked GKE cluster reports) and
authorizes every request the way GKE does, in this order, from the stack's own registrations
(`offline.export`), never re-typed:

1. the bearer token must be one the fake Google endpoints minted and not expired (else 401); GKE
   names the caller by its email only when the token carries the userinfo.email scope, otherwise by
   its numeric id, which no RoleBinding names (the plugin asks for that scope for this reason:
   kubernetes/cloud-provider-gcp, cmd/gke-gcloud-auth-plugin `defaultScopes`);
2. on the DNS-based endpoint only, the caller must hold `container.clusters.connect` through the
   project's IAM grants (else 403): the Google front end checks it before the API server sees the
   request. The IP endpoint has no such gate;
3. Kubernetes RBAC from the stack's Roles and RoleBindings (else 403 with the API server's message).

In-cluster clients (Remote Execution agents) present a service-account token the server issued
(`issue_service_account_token`); they reach the cluster's internal endpoint, with no IAM gate, and
RBAC names them `system:serviceaccount:<namespace>:<name>`.

It emulates what KubernetesPodOperator touches: pod create/get/list/patch/delete, container logs,
events (list and watch), and the exec websocket (channel protocol v4) that `do_xcom_push` uses;
and where a pod can run: a scheduler that places a pod only on a node pool the stack registered
whose labels match its node selector and whose taints it tolerates (else it stays Pending,
unschedulable, for ever). A GPU task's cold start, Spot preemption and drain, ResourceQuota
admission and the Eviction API are the real control plane's (test_lifecycle.py,
test_gpu_fanout.py, on kube_real.py).
Every request is recorded as the RBAC check it would need: (verb, resource, subresource,
namespace), with the caller and the answer.

It is split by concern: placement (`fake_kube_scheduler`), authentication and RBAC
(`fake_kube_auth`) and pods and their lifecycle (`fake_kube_pods`); this module is the HTTP
server that puts them together.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from dataclasses import dataclass, field

import trustme
from aiohttp import WSMsgType, web
from fake_kube_auth import SA_PREFIX, Access, AuthChain, Call, _true
from fake_kube_pods import SIDECAR, FakePod, PodHandlers
from fake_kube_scheduler import Scheduler

__all__ = ["SA_PREFIX", "Access", "FakeKube", "Scheduler"]

STDOUT, STDERR, ERROR = 1, 2, 3


@dataclass
class FakeKube(AuthChain, PodHandlers):
    ca: trustme.CA
    access: Access | None = None  # set once the stack (which needs this server's address) ran
    scheduler: Scheduler | None = None  # None: every pod fits (runs that test no placement)
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
