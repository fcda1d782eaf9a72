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
and what happens to a GPU task's pod (`Lifecycle`):
- a scheduler that places a pod only on a node pool the stack registered whose labels match its
  node selector and whose taints it tolerates (else it stays Pending, unschedulable, for ever);
- a scale-from-zero cold start: Pending and unschedulable with the cluster autoscaler's
  `TriggeredScaleUp` event, then scheduled with its image pulling, then running;
- spot preemption the way the kubelet's graceful node shutdown ends a pod;
- the Eviction API a node drain uses, refused while a PodDisruptionBudget the stack registered
  allows no disruption (computed the way the disruption controller does);
- ResourceQuota admission from the quotas the stack registered: a pod that would take the
  namespace's non-terminated pods past `requests.nvidia.com/gpu` (or `pods`) is refused with the
  plugin's 403 Forbidden "exceeded quota" (`gpu_peak` records the most GPUs held at once).
Every request is recorded as the RBAC check it would need: (verb, resource, subresource,
namespace), with the caller and the answer.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterable
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
SA_PREFIX = "system:serviceaccount:"
# What the kubelet's graceful node shutdown writes on the pods it ends (a Spot VM's preemption
# notice starts it on GKE): kubernetes/kubernetes pkg/kubelet/nodeshutdown/
# nodeshutdown_manager_linux.go, nodeShutdownReason / nodeShutdownMessage, and the DisruptionTarget
# condition with reason TerminationByKubelet.
SHUTDOWN_REASON = "Terminated"
SHUTDOWN_MESSAGE = "Pod was terminated in response to imminent node shutdown."
# The Eviction API's refusal (pkg/registry/core/pod/storage/eviction.go): 429 with this message.
PDB_REFUSAL = "Cannot evict pod as it would violate the pod's disruption budget."
# The ResourceQuota admission plugin's refusal (kubernetes/kubernetes staging/src/k8s.io/apiserver/
# pkg/admission/plugin/resourcequota/controller.go, checkRequest), wrapped by admission.NewForbidden
# (`<resource> "<name>" is forbidden: <err>`, apimachinery errors.NewForbidden): 403, Forbidden.
QUOTA_REFUSAL = "exceeded quota: {name}, requested: {requested}, used: {used}, limited: {limited}"
GPU = "nvidia.com/gpu"
TERMINAL = ("Succeeded", "Failed")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Lifecycle:
    """What happens to the pods of one run (seconds from a pod's creation)."""

    cold_start: float = 0.0  # Pending, unschedulable, while the autoscaler adds a GPU node
    image_pull: float = 0.0  # then scheduled, its image pulling
    run: float = 0.0  # then running at least this long
    preempt_first: int = 0  # the first N pods end as a preempted Spot node ends them
    # then keep running while this says so: a GPU job that outlasts what a test waits for
    hold: Callable[[], bool] | None = None


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    """Kubernetes' toleration matching (k8s.io/api core/v1 toleration.go ToleratesTaint)."""
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == taint["key"]:
                return True
        elif t.get("key") == taint["key"] and t.get("value", "") == taint["value"]:
            return True
    return False


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector's matchLabels (matchExpressions are not used by the stack)."""
    if selector.get("matchExpressions"):
        raise NotImplementedError("matchExpressions: not emulated")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


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


def _tally(reasons: Iterable[tuple[str, int]]) -> str:
    """`<count> <reason>` per reason, sorted, joined as the scheduler and autoscaler join them."""
    counts: dict[str, int] = {}
    for reason, count in reasons:
        counts[reason] = counts.get(reason, 0) + count
    return ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))


@dataclass
class Scheduler:
    """Where a pod can run: the node pools the stack registered (`offline.export` node_pools); a
    pod that selects a ComputeClass goes to the first pool of the class's priorities that fits."""

    pools: list[dict[str, Any]]
    classes: dict[str, list[str]] = field(default_factory=dict)

    def fits(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """The pools a new node of which would take the pod, class priority first."""
        fitting = [pool for pool in self.pools if self.refusal(pool, spec) is None]
        selector = spec.get("nodeSelector") or {}
        order = self.classes.get(selector.get("cloud.google.com/compute-class", ""))
        if order:
            fitting.sort(key=lambda pool: order.index(pool["name"]))
        return fitting

    @staticmethod
    def refusal(pool: dict[str, Any], spec: dict[str, Any]) -> str | None:
        """Why a node of `pool` cannot take the pod (the scheduler's plugin wording), or None."""
        if not matches({"matchLabels": spec.get("nodeSelector") or {}}, pool["labels"]):
            return "node(s) didn't match Pod's node affinity/selector"
        for taint in pool["taints"]:
            if taint["effect"] in ("NoSchedule", "NoExecute") and not tolerates(
                spec.get("tolerations") or [], taint
            ):
                return f"node(s) had untolerated taint {{{taint['key']}: {taint['value']}}}"
        gpus = sum(
            int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
            for c in spec.get("containers", [])
        )
        if pool["max_nodes"] == 0 or gpus > pool["gpus"]:
            return "Insufficient nvidia.com/gpu"
        return None

    def unschedulable_message(self, spec: dict[str, Any]) -> str:
        """The scheduler's FailedScheduling wording (pkg/scheduler/framework/types.go
        NoNodeAvailableMsg) over the nodes that exist now: each pool's minimum (GPU pools at zero
        have none), each node with the reason it is refused (a fitting GPU node that exists is
        busy: Insufficient nvidia.com/gpu)."""
        nodes = sum(pool["min_nodes"] for pool in self.pools)
        detail = _tally(
            (self.refusal(pool, spec) or "Insufficient nvidia.com/gpu", pool["min_nodes"])
            for pool in self.pools
            if pool["min_nodes"]
        )
        return f"0/{nodes} nodes are available: {detail}."

    def no_scale_up_message(self, spec: dict[str, Any]) -> str:
        """The cluster autoscaler's NotTriggerScaleUp wording (processors/status/
        eventing_scale_up_processor.go, ReasonsMessage): per node group, why a new node of it
        would not fit the pod either."""
        refusals = (self.refusal(pool, spec) for pool in self.pools)
        detail = _tally((reason, 1) for reason in refusals if reason)
        return f"pod didn't trigger scale-up: {detail}"


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
    (the API server's bearertoken authenticator lower-cases it; the Python client's in-cluster
    loader sends `bearer`)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


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
    at: float = field(default_factory=time.time)

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
    index: int = 0  # creation order in this run
    pool: dict[str, Any] | None = None  # where the scheduler puts it; None: unschedulable
    created: float = field(default_factory=time.monotonic)
    reads: int = 0
    events_read: bool = False
    sidecar_killed: bool = False
    deleted: bool = False
    always_running: bool = False  # a long-lived bystander (a pod that is not a task's)

    @property
    def node_name(self) -> str:
        return f"gke-{self.pool['name'] if self.pool else 'none'}-node-0"

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
    # tokens the API server issued itself (service accounts, the control plane) -> username
    issued: dict[str, str] = field(default_factory=dict)
    # usernames RBAC does not restrict (GKE's own control plane, which drains nodes)
    admins: set[str] = field(default_factory=set)

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
                    user = subject["name"]
                elif subject["kind"] == "ServiceAccount":
                    user = f"{SA_PREFIX}{subject['namespace']}:{subject['name']}"
                else:
                    raise NotImplementedError(f"RoleBinding subject {subject['kind']}")
                key = (binding["namespace"], user)
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
        token = bearer(authorization)
        return self.registry.lookup(token) if token else None

    @staticmethod
    def username(minted: Minted) -> str:
        if EMAIL_SCOPE in minted.scopes:
            return minted.identity
        return str(int.from_bytes(minted.identity.encode()[:8], "big"))  # stands for the unique id

    def issue(self, username: str, *, admin: bool = False) -> str:
        token = f"issued-{secrets.token_urlsafe(24)}"
        self.issued[token] = username
        if admin:
            self.admins.add(username)
        return token

    def allows(self, user: str, verb: str, resource: str, namespace: str) -> bool:
        if user in self.admins:
            return True
        return any(
            "" in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
            for r in self.rbac.get((namespace, user), [])
        )


@dataclass
class FakeKube:
    ca: trustme.CA
    access: Access | None = None  # set once the stack (which needs this server's address) ran
    scheduler: Scheduler | None = None  # None: every pod fits (runs that test no placement)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    budgets: list[dict[str, Any]] = field(default_factory=list)  # PodDisruptionBudgets
    quotas: list[dict[str, Any]] = field(default_factory=list)  # ResourceQuotas (offline.export)
    # per namespace: the most `requests.nvidia.com/gpu` its admitted, non-terminated pods held at once
    gpu_peak: dict[str, int] = field(default_factory=dict)
    refusals: list[dict[str, Any]] = field(default_factory=list)  # quota admission's 403s
    evictions: list[dict[str, Any]] = field(default_factory=list)
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
        app.router.add_post("/api/v1/namespaces/{ns}/pods/{name}/eviction", self._evict)
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
        token = bearer(request.headers.get("Authorization"))
        if token in self.access.issued:
            # In-cluster: the internal endpoint, no Google front end, no IAM gate.
            user = self.access.issued[token]
            rbac = self._decide(call, request.path, user, iam_gate=False)
            return {"user": user, "via": "serviceaccount", "token": token, **rbac}
        minted = self.access.token(request.headers.get("Authorization"))
        if minted is None:
            return {"status": 401, "denied_by": "authentication", "message": "Unauthorized"}
        user = self.access.username(minted)
        result = self._decide(call, request.path, user)
        return {"user": user, "via": minted.via, "token": minted.token, **result}

    def _decide(self, call: Call, path: str, user: str, iam_gate: bool = True) -> dict[str, Any]:
        assert self.access is not None
        gate = self.access.connect_members if iam_gate else None
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

    def _stage(self, pod: FakePod) -> str:
        """unschedulable | scaling-up | pulling | starting | running | done | preempted."""
        life, age = self.lifecycle, time.monotonic() - pod.created
        if pod.pool is None:
            return "unschedulable"
        if pod.always_running:
            return "running"
        if age < life.cold_start:
            return "scaling-up"
        if age < life.cold_start + life.image_pull:
            return "pulling"
        if self._pending(pod, age - life.cold_start - life.image_pull):
            return "starting"
        if age < life.cold_start + life.image_pull + life.run or pod.reads < 4:
            return "running"
        if life.hold is not None and life.hold():
            return "running"
        return "preempted" if pod.index < life.preempt_first else "done"

    @staticmethod
    def _pending(pod: FakePod, age: float) -> bool:
        """KubernetesPodOperator sees the pod Pending at least twice and reads its events."""
        if age >= PENDING_MAX_SECONDS:
            return False
        return pod.reads < 2 or age < PENDING_SECONDS or not pod.events_read

    def _pod_view(self, pod: FakePod) -> dict[str, Any]:
        now = _now()
        stage = self._stage(pod)
        pending = stage in ("unschedulable", "scaling-up", "pulling", "starting")
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
            elif stage == "preempted":
                state = terminated(143, "Error")  # SIGTERM from the node's shutdown
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
        if stage in ("unschedulable", "scaling-up"):
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
        elif stage == "preempted":
            status |= {
                "phase": "Failed",
                "reason": SHUTDOWN_REASON,
                "message": SHUTDOWN_MESSAGE,
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "TerminationByKubelet",
                        "message": SHUTDOWN_MESSAGE,
                    }
                ],
            }
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
        if pod.pool is not None and stage not in ("unschedulable", "scaling-up"):
            view["spec"]["nodeName"] = pod.node_name
        view["status"] = status
        return view

    def _find(self, request: web.Request) -> FakePod | None:
        return self.pods.get((request.match_info["ns"], request.match_info["name"]))

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

    async def _create_pod(self, request: web.Request) -> web.Response:
        manifest = await request.json()
        ns = request.match_info["ns"]
        refused = self.admit(ns, manifest.get("metadata", {}).get("name", ""), manifest["spec"])
        if refused is not None:
            return refused
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
        if stage == "unschedulable" or self.lifecycle.cold_start > 0:
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
        if self.lifecycle.cold_start > 0 and pod.pool is not None:
            # The same file; the group as nodegroupset/nodegroup_set_processor.go prints it.
            group = f"{{{pod.pool['name']} 0->1 (max: {pod.pool['max_nodes']})}}"
            events.append(
                event(
                    "TriggeredScaleUp", f"pod triggered scale-up: [{group}]", "cluster-autoscaler"
                )
            )
        if stage != "scaling-up":
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
