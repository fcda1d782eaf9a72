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

It emulates what KubernetesPodOperator touches: pod create/get/list/patch/delete with a Pending ->
Running -> Succeeded lifecycle, container logs, events (list and watch), and the exec websocket
(channel protocol v4) that `do_xcom_push` uses. Every request is recorded as the RBAC check it
would need: (verb, resource, subresource, namespace), with the caller and the answer.
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
from fake_google import Minted, TokenRegistry

SIDECAR = "airflow-xcom-sidecar"
CONNECT = "container.clusters.connect"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
# Discovery is open to every authenticated user (the system:discovery ClusterRole).
DISCOVERY = ("/version", "/api", "/apis", "/api/v1")
PENDING_SECONDS = 0.6
# A pod waiting for a GPU node stays Pending for minutes, and KubernetesPodOperator reads its events
# meanwhile. Here a pod stays Pending until its events were read, whatever the auth plugin's latency
# (the deferrable trigger runs it again for each API client), up to this long.
PENDING_MAX_SECONDS = 15.0
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
    name: str
    user: str | None = None  # the Kubernetes username the token maps to; None: 401
    via: str = ""  # who minted the token: "oauth" (the identity's own key) or its impersonator
    token: str = ""  # the bearer token, when it was one the fake Google endpoints minted
    status: int = 200  # what the auth chain answered (200: passed to the handler)
    denied_by: str = ""  # "authentication", "iam" (DNS endpoint gate) or "rbac"
    message: str = ""

    @property
    def authorized(self) -> bool:
        return self.user is not None

    @property
    def allowed(self) -> bool:
        return self.status == 200

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
    events_read: bool = False
    sidecar_killed: bool = False
    deleted: bool = False

    @property
    def has_sidecar(self) -> bool:
        return any(c["name"] == SIDECAR for c in self.manifest["spec"]["containers"])


@dataclass
class Access:
    """What GKE authorizes with, derived from the stack's registrations."""

    registry: TokenRegistry
    # (namespace, username) -> the rules of every Role bound to that user there
    rbac: dict[tuple[str, str], list[dict[str, list[str]]]]
    # members holding container.clusters.connect on the project; None: IP endpoint, no gate
    connect_members: set[str] | None
    cluster: str  # projects/<p>/locations/<l>/clusters/<c>

    @classmethod
    def from_export(
        cls, data: dict[str, Any], registry: TokenRegistry, *, dns_endpoint: bool
    ) -> Access:
        rules = {(r["namespace"], r["name"]): r["rules"] for r in data["rbac_roles"]}
        rbac: dict[tuple[str, str], list[dict[str, list[str]]]] = {}
        for binding in data["role_bindings"]:
            ref = binding["role_ref"]
            if ref["kind"] != "Role":
                raise NotImplementedError(f"RoleBinding to a {ref['kind']}: not emulated")
            for subject in binding["subjects"]:
                if subject["kind"] == "User":
                    key = (binding["namespace"], subject["name"])
                    rbac.setdefault(key, []).extend(rules[(binding["namespace"], ref["name"])])
        c = data["cluster"]
        connect = None
        if dns_endpoint:
            # Only the stack's custom roles are known here; the predefined roles it grants (node
            # service account roles) hold no container.clusters.* permission.
            connect = {
                m["member"]
                for m in data["project_iam_members"]
                if m["project"] == c["project"]
                and CONNECT in data["custom_roles"].get(m["role"], [])
            }
        return cls(
            registry,
            rbac,
            connect,
            f"projects/{c['project']}/locations/{c['location']}/clusters/{c['name']}",
        )

    def token(self, authorization: str | None) -> Minted | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        return self.registry.lookup(authorization.removeprefix("Bearer "))

    @staticmethod
    def username(minted: Minted) -> str:
        if EMAIL_SCOPE in minted.scopes:
            return minted.identity
        return str(int.from_bytes(minted.identity.encode()[:8], "big"))  # stands for the unique id

    def allows(self, user: str, verb: str, resource: str, namespace: str) -> bool:
        return any(
            "" in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
            for r in self.rbac.get((namespace, user), [])
        )


@dataclass
class FakeKube:
    ca: trustme.CA
    access: Access | None = None  # set once the stack (which needs this server's address) ran
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
        call = self._rbac_view(request)
        call = Call(**{**call.__dict__, **self._authorize(call, request)})
        self.calls.append(call)
        if call.denied_by == "authentication":
            return self._status(401, "Unauthorized", call.message)
        if call.denied_by == "iam":
            return web.json_response(
                {"error": {"code": 403, "message": call.message, "status": "PERMISSION_DENIED"}},
                status=403,
            )
        if call.denied_by == "rbac":
            return self._status(403, "Forbidden", call.message)
        return await handler(request)

    def _authorize(self, call: Call, request: web.Request) -> dict[str, Any]:
        assert self.access is not None, "FakeKube.access is not set"
        minted = self.access.token(request.headers.get("Authorization"))
        if minted is None:
            return {"status": 401, "denied_by": "authentication", "message": "Unauthorized"}
        user = self.access.username(minted)
        result = self._decide(call, request.path, user)
        return {"user": user, "via": minted.via, "token": minted.token, **result}

    def _decide(self, call: Call, path: str, user: str) -> dict[str, Any]:
        assert self.access is not None
        gate = self.access.connect_members
        if gate is not None and f"serviceAccount:{user}" not in gate:
            # The exact body Google's front end sends is not documented; GKE's API words IAM
            # denials like this.
            message = f'Required "{CONNECT}" permission(s) for "{self.access.cluster}".'
            return {"status": 403, "denied_by": "iam", "message": message}
        if not call.resource:  # a non-resource URL
            if path in DISCOVERY:
                return {}
            message = f'forbidden: User "{user}" cannot {call.verb} path "{path}"'
            return {"status": 403, "denied_by": "rbac", "message": message}
        for verb, resource, namespace in call.checks:
            if not self.access.allows(user, verb, resource, namespace):
                # The API server's wording (GKE appends which IAM permission would also do).
                name = f' "{call.name}"' if call.name else ""
                scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
                message = (
                    f'{call.resource}{name} is forbidden: User "{user}" cannot {verb} resource '
                    f'"{resource}" in API group "" {scope}'
                )
                return {"status": 403, "denied_by": "rbac", "message": message}
        return {}

    @staticmethod
    def _rbac_view(request: web.Request) -> Call:
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
            name,
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
        age = time.monotonic() - pod.created
        if age >= PENDING_MAX_SECONDS:
            return False
        return pod.reads < 2 or age < PENDING_SECONDS or not pod.events_read

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
        involved = request.query.get("fieldSelector", "").split("=")[-1]
        if (ns, involved) in self.pods:
            self.pods[(ns, involved)].events_read = True
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
