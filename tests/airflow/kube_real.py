"""The contract suite on the real Kubernetes control plane (tests/kube/controlplane.py): one per
session (`start_control_plane`, conftest.py), and each KubernetesPodOperator run's view of it
(`RunKube`, kpo_run.py, another process: it finds the control plane through `ENV`).

A run applies the stack's own Kubernetes objects server-side (`offline.export`'s `manifests`),
creates kwok nodes for the stack's GPU pools, and reads back what the real API server saw: its
audit log (user, verb, resource, subresource, namespace, status, RBAC decision) and its pods (a
watch). Runs of one stack share its namespaces and nodes: alone, or with runs that apply the same
objects (stack_lock.py); each deletes its own pods at the end.

What stays fake is Google's: the DNS-based endpoint's IAM gate (`container.clusters.connect`) is
Google's front end, before the API server. `FrontProxy` is that front end on loopback: it checks
the caller's grant from the stack's IAM members and forwards the request, unchanged, to the real
API server. The IP endpoint goes to the API server directly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "kube"))
import controlplane  # noqa: E402
import kube_runtime  # noqa: E402
import stack_lock  # noqa: E402
from kube_kubelet import KubeletFront, pipe  # noqa: E402

CONNECT = "container.clusters.connect"
# The webhook adds the SHA-256 of the bearer token to the user's extra (a test marker, not GKE's):
# the audit log then says which minted token each request carried.
TOKEN_EXTRA = "contract.test/token-sha256"
# The API server's ServiceAccount authenticator names a service-account token by its JWT ID in the
# user's extra, "JTI=<jti>" (CredentialIDForJTI, k8s.io/apiserver/pkg/authentication/token/jwt):
# the audit log's key to the token a run asked the TokenRequest API for.
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
# The audience of a run's service-account token: the issuer, which is the API server's audience
# when --api-audiences is unset (kube-apiserver's reference, --api-audiences); controlplane.py
# sets --service-account-issuer, so no flag is added.
SA_AUDIENCE = "https://kubernetes.default.svc"
# Built-in API groups this control plane serves; custom resources (ComputeClass,
# ClusterPodMonitoring) have no CRD here and are not applied.
BUILT_IN = ("v1", "rbac.authorization.k8s.io/v1", "policy/v1", "networking.k8s.io/v1", "apps/v1")
# Kueue's objects, once the session runs Kueue (kube_kueue.py sets KUEUE_ENV).
KUEUE_API = "kueue.x-k8s.io/v1beta2"
KUEUE_ENV = "CONTRACT_KUEUE"
# Runs that share a stack (stack_lock.py): at most this many at once, each with room for its GPU pod
# on every pool (dev's namespace quota holds 2 GPUs, and prod's batch namespace's).
SHARE = 2
# The label the contract DAG puts on its pod (kpo_run.py): the run's name.
RUN_LABEL = "contract-run"
# Every KubernetesPodOperator container's log, in the CRI format the kubelet (here kwok) reads.
TASK_LOG = ("hello from the GPU pod", "done")
ENV = {
    "url": "CONTRACT_KUBE_URL",
    "ca": "CONTRACT_KUBE_CA",
    "admin": "CONTRACT_KUBE_ADMIN",
    "tokeninfo": "CONTRACT_TOKENINFO",
    "audit": "CONTRACT_KUBE_AUDIT",
    "locks": "CONTRACT_KUBE_LOCKS",
    "kubelet": "CONTRACT_KWOK_PORT",
    "runtime": "CONTRACT_POD_RUNTIME",
}


# --- the session's control plane (conftest.py) ------------------------------------------------


def kwok_extras(workdir: Path) -> str:
    """kwok's ClusterLogs: every container's log is TASK_LOG (kwok serves it as the kubelet)."""
    log = workdir / "task.log"
    stamp = "2026-01-01T00:00:00.000000000Z"
    log.write_text("".join(f"{stamp} stdout F {line}\n" for line in TASK_LOG))
    return json.dumps(
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "ClusterLogs",
            "metadata": {"name": "task-logs"},
            "spec": {
                "selector": {},
                "logs": [{"containers": [], "logsFile": str(log), "follow": False}],
            },
        }
    )


def start_control_plane(workdir: Path) -> controlplane.ControlPlane:
    """One control plane with an audit log, kwok's logs, and the token's hash in the user's
    extra; fails with `make kube-bin`'s name when its binaries are missing."""
    missing = controlplane.missing_binaries()
    if not (controlplane.BIN / "crds" / "kwok").is_dir():
        missing.append("kwok's Exec CRD")
    if missing:
        raise RuntimeError(f"{', '.join(missing)} missing in {controlplane.BIN}: run make kube-bin")
    stages = workdir / "stages"
    stages.mkdir(parents=True)
    for stage in controlplane.STAGES.glob("*.yaml"):
        shutil.copy(stage, stages / stage.name)
    (stages / "zz-kwok-extras.yaml").write_text(kwok_extras(workdir))
    controlplane.STAGES = stages
    # kwok in the sandbox where a pod's exec finds its own /airflow (kube_runtime.py).
    sandbox = kube_runtime.sandbox(workdir / "sandbox")
    cp = controlplane.ControlPlane(
        workdir=workdir / "cp",
        audit=True,
        kwok_prefix=sandbox,
        kwok_crds={"Exec": controlplane.BIN / "crds" / "kwok" / "kwok.x-k8s.io_execs.yaml"},
    ).start()
    cp.webhook.extra = lambda token: {TOKEN_EXTRA: [hashlib.sha256(token.encode()).hexdigest()]}
    (workdir / "locks").mkdir()
    # kwok serves the kubelet API (logs, exec); the nodes' kubelet port is KubeletFront's.
    kwok_args = [str(a) for a in cp.procs["kwok"].args]  # type: ignore[union-attr]
    server = next(a for a in kwok_args if a.startswith("--server-address="))
    cert = cp.pki.issue("kubelet-front", "/CN=kubelet-front", ("IP:127.0.0.1",))
    front = KubeletFront(int(server.rpartition(":")[2]), cp.url, cp.ssl_context(), cert)
    cp.kubelet_front = front  # type: ignore[attr-defined]
    runtime = kube_runtime.PodRuntime(cp.url, cp.ssl_context(), sandbox)
    cp.pod_runtime = runtime  # type: ignore[attr-defined]
    os.environ.update(
        {
            ENV["url"]: cp.url,
            ENV["ca"]: str(cp.pki.ca),
            ENV["admin"]: str(cp.admin_kubeconfig),
            ENV["tokeninfo"]: str(cp.tokeninfo.dir),
            ENV["audit"]: str(cp.audit_log),
            ENV["locks"]: str(workdir / "locks"),
            ENV["kubelet"]: str(front.port),
            ENV["runtime"]: str(runtime.workdir),
        }
    )
    return cp


def tokeninfo() -> controlplane.Tokeninfo | None:
    """Where the fake Google records the tokens it mints (None: no control plane)."""
    path = os.environ.get(ENV["tokeninfo"])
    return controlplane.Tokeninfo(Path(path)) if path else None


def numeric_id(identity: str) -> str:
    """A Google identity's unique numeric id, as tokeninfo's `sub` (made up, stable)."""
    return str(int.from_bytes(identity.encode()[:8], "big"))


# --- a run's view of it (kpo_run.py) -----------------------------------------------------------


def _integral(value: Any) -> Any:
    """Pulumi's numbers are floats (mocks keep them so); the provider sends 0.0 as 0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


@dataclass
class Pods:
    """Every pod of one namespace as a watch (as cluster admin) saw it: its last state, and each
    event's time, scheduling gates, node and phase."""

    url: str
    namespace: str
    context: ssl.SSLContext
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def start(self) -> None:
        ready = threading.Event()
        threading.Thread(target=self._watch, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _watch(self, ready: threading.Event) -> None:
        url = f"{self.url}/api/v1/namespaces/{self.namespace}/pods?watch=1&timeoutSeconds=900"
        with urllib.request.urlopen(url, context=self.context, timeout=900) as response:
            ready.set()
            for line in response:
                event = json.loads(line)
                pod = event["object"]
                name = pod["metadata"]["name"]
                self.history.setdefault(name, []).append(
                    {
                        "at": time.time(),
                        "type": event["type"],
                        "gates": [g["name"] for g in pod["spec"].get("schedulingGates", [])],
                        "node": pod["spec"].get("nodeName"),
                        "phase": pod.get("status", {}).get("phase"),
                    }
                )
                if event["type"] == "DELETED":
                    self.deleted.add(name)
                else:
                    self.last[name] = pod
                if pod["metadata"].get("deletionTimestamp"):
                    self.deleted.add(name)


class RunKube:
    """One run against the session's control plane: `kubectl` as admin, the stack's objects and
    nodes, its pods and the audit log's record of its requests (those with its user agent)."""

    def __init__(self, run: str) -> None:
        missing = [v for v in ENV.values() if v not in os.environ]
        if missing:
            raise RuntimeError(f"no control plane: {', '.join(missing)} unset (conftest.py)")
        self.url = os.environ[ENV["url"]]
        self.address = self.url.removeprefix("https://")
        self.ca = Path(os.environ[ENV["ca"]])
        self.admin = Path(os.environ[ENV["admin"]])
        self.audit = Path(os.environ[ENV["audit"]])
        self.locks = Path(os.environ[ENV["locks"]])
        self.kubelet_port = int(os.environ[ENV["kubelet"]])
        self.user_agent = f"contract-run/{run}"
        self.audit_offset = self.audit.stat().st_size if self.audit.exists() else 0
        self.watches: list[Pods] = []
        self.lock_waited = 0.0  # seconds the run waited for its stack (stack_lock.py)

    def context(self) -> ssl.SSLContext:
        config = json.loads(self.admin.read_text())["users"][0]["user"]
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(config["client-certificate"], config["client-key"])
        return context

    def kubectl(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            ["kubectl", f"--kubeconfig={self.admin}", *args],
            input=input, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done.stdout

    @contextlib.contextmanager
    def stack_lock(self, stack: str, share: str | None = None, capacity: int = 1) -> Iterator[None]:
        """The stack's namespaces and nodes: alone, or shared with runs applying the same objects
        (stack_lock.py)."""
        with stack_lock.stack_lock(self.locks / f"{stack}.lock", share, capacity) as waited:
            self.lock_waited = round(waited, 2)
            yield

    def stack_objects(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The stack's built-in objects (and Kueue's, when the session runs it), as applied."""
        served = (*BUILT_IN, KUEUE_API) if os.environ.get(KUEUE_ENV) else BUILT_IN
        return [_integral(o) for o in data["manifests"] if o["apiVersion"] in served]

    def apply_stack(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The stack's built-in objects, server-side, as pulumi-kubernetes applies them (one
        apply at a time: runs sharing the stack apply the same objects)."""
        objects = self.stack_objects(data)
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        with (self.locks / f"{data['stack']}.apply").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.kubectl(
                "apply", "--server-side", "--force-conflicts", "--field-manager=pulumi-kubernetes",
                "-f", "-", input=doc,
            )  # fmt: skip
        return objects

    @staticmethod
    def node_prefix(data: dict[str, Any], pool: dict[str, Any]) -> str:
        return f"gke-{data['cluster']['name']}-{pool['labels'].get('gpu-pool', 'gpu')}-"

    def pool_node(self, data: dict[str, Any], pool: dict[str, Any], index: int) -> dict[str, Any]:
        """A kwok node of `pool`, labelled and tainted as the pool (GKE adds the nodepool label
        and the nvidia.com/gpu taint; the export has both): {name: labels}."""
        name = f"{self.node_prefix(data, pool)}{index}"
        labels = {
            controlplane.KWOK_LABEL: "fake",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            **pool["labels"],
        }
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {controlplane.KWOK_LABEL: "fake"},
            },
            "spec": {"taints": pool["taints"]},
            "status": {
                "allocatable": (r := {
                    "cpu": "8", "memory": "32Gi", "pods": "110",
                    "nvidia.com/gpu": str(pool["gpus"]),
                }),
                "capacity": r,
                # Both types, or kwok's node-initialize Stage rewrites the list; the hostname is
                # the loopback IP too: the API server (which prefers it) would look a name up
                # in DNS.
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": "127.0.0.1"},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            },
        }  # fmt: skip
        done = subprocess.run(
            ["kubectl", f"--kubeconfig={self.admin}", "create", "-f", "-"],
            input=json.dumps(node), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode and "AlreadyExists" not in done.stderr:
            raise RuntimeError(f"node {name}: {done.stderr}")
        return {name: labels}

    def gpu_nodes(self, data: dict[str, Any], per_pool: int = 1, room: int = 0) -> list[str]:
        """`per_pool` kwok nodes for each GPU pool the stack registered (or as many as hold `room`
        GPUs at once), once Ready."""
        names = [
            name
            for pool in data["node_pools"]
            if pool["gpus"]
            for index in range(max(per_pool, -(-room // pool["gpus"])))
            for name in self.pool_node(data, pool, index)
        ]
        deadline = time.time() + 60
        for name in names:  # Ready, and the not-ready taint lifted (node-lifecycle controller)
            while True:
                node = json.loads(self.kubectl("get", "node", name, "-o", "json"))
                taints = {t["key"] for t in node["spec"].get("taints", [])}
                ready = any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in node.get("status", {}).get("conditions", [])
                )
                if ready and "node.kubernetes.io/not-ready" not in taints:
                    break
                if time.time() > deadline:
                    raise TimeoutError(f"node {name} not ready: {node.get('status')}")
                time.sleep(0.3)
        return names

    def watch(self, namespace: str) -> Pods:
        pods = Pods(self.url, namespace, self.context())
        pods.start()
        self.watches.append(pods)
        return pods

    def cleanup(self, namespaces: set[str], selector: str | None = None) -> None:
        """Delete the namespaces' pods: all of them, or those `selector` selects (a run sharing
        the stack deletes only its own)."""
        which = ["-l", selector] if selector else ["--all"]
        for namespace in sorted(namespaces):
            self.kubectl(
                "delete", "pods", *which, "-n", namespace, "--grace-period=0", "--force",
                "--wait=true", "--timeout=60s",
            )  # fmt: skip

    def calls(self, minted: dict[str, Any]) -> list[dict[str, Any]]:
        """This run's requests as the API server's audit log has them (its user agent), each with
        the RBAC checks it needed; `minted`: this run's tokens by SHA-256, or a service-account
        token's "JTI=<jti>" -> (token, via)."""
        with self.audit.open("rb") as log:
            log.seek(self.audit_offset)
            lines = log.read().splitlines()
        calls = []
        for line in lines:
            event = json.loads(line)
            # A request's record is its ResponseComplete event; a failed authentication has only
            # a ResponseStarted one (authn_audit.go, WithFailedAuthenticationAudit).
            code = event.get("responseStatus", {}).get("code")
            if event["stage"] != "ResponseComplete" and not (
                event["stage"] == "ResponseStarted" and code == 401
            ):
                continue
            agent = event.get("userAgent")
            # An exec's websocket client sends no user agent: its token says whose it is.
            if agent == self.user_agent or (agent is None and token_key(event) in minted):
                calls.append(audit_call(event, minted))
        return calls


def token_key(event: dict[str, Any]) -> str:
    """The audit event's key to the token it carried: its SHA-256 (our webhook's marker), or a
    service-account token's "JTI=<jti>"."""
    extra = event.get("user", {}).get("extra", {})
    return str((extra.get(TOKEN_EXTRA) or extra.get(CREDENTIAL_ID) or [""])[0])


def audit_call(event: dict[str, Any], minted: dict[str, Any]) -> dict[str, Any]:
    ref = event.get("objectRef", {})
    user = event.get("user", {})
    username = user.get("username") or None
    code = event.get("responseStatus", {}).get("code", 0)
    decision = event.get("annotations", {}).get("authorization.k8s.io/decision")
    token, via = minted.get(token_key(event), ("", ""))
    namespace = ref.get("namespace", "")
    resource = ref.get("resource", "")
    subresource = ref.get("subresource", "")
    verb = event["verb"]
    if subresource == "exec":
        # A websocket exec arrives as GET; since Kubernetes 1.35 it is authorized as create too
        # (kubernetes/kubernetes#134577).
        checks = [["get", "pods/exec", namespace], ["create", "pods/exec", namespace]]
    else:
        full = f"{resource}/{subresource}" if subresource else resource
        checks = [[verb, full, namespace]] if resource else [[verb, "", ""]]
    if code == 401:
        denied_by = "authentication"
    elif decision == "forbid":
        denied_by = "rbac"
    else:
        denied_by = ""
    received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
    return {
        "at": received.timestamp(),
        "method": verb,
        "path": event.get("requestURI", ""),
        "verb": verb,
        "resource": resource,
        "subresource": subresource,
        "namespace": namespace,
        "name": ref.get("name", ""),
        "user": None if code == 401 else username,
        "via": via,
        "token": token,
        "status": 200 if decision == "allow" and code < 400 else code,
        "code": code,
        "denied_by": denied_by,
        "message": "",
        "authorized": code != 401,
        "allowed": decision == "allow",
        "checks": checks,
    }


# --- the DNS-based endpoint's Google front end -----------------------------------------------


def connect_members(data: dict[str, Any]) -> set[str]:
    """Members holding container.clusters.connect on the cluster's project through the stack's
    custom roles (the predefined roles it grants hold no container.clusters.* permission)."""
    project = data["cluster"]["project"]
    return {
        m["member"]
        for m in data["project_iam_members"]
        if m["project"] == project and CONNECT in data["custom_roles"].get(m["role"], [])
    }


@dataclass
class FrontProxy:
    """Google's front end of the DNS-based endpoint on loopback: TLS with a "publicly trusted"
    certificate, the IAM gate per request, then the request as it came to the real API server
    (one request per connection, or the upgraded stream of an exec)."""

    upstream: str  # host:port of the API server
    upstream_ca: Path
    cert: Any  # trustme.LeafCert
    user_agent: str
    members: set[str] = field(default_factory=set)  # set once the stack ran
    cluster: str = ""
    refused: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> str:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("front proxy did not start")
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        context.set_alpn_protocols(["http/1.1"])
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=context)
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    def gate(self, data: dict[str, Any]) -> None:
        """The IAM gate, from the project grants (as the run leaves them)."""
        c = data["cluster"]
        self.members = connect_members(data)
        self.cluster = f"projects/{c['project']}/locations/{c['location']}/clusters/{c['name']}"

    def refusals(self) -> list[dict[str, Any]]:
        """Its refusals, as calls (`audit_call`'s shape)."""
        return [
            {
                "at": refused["at"], "user": refused["user"], "via": "", "token": "",
                "status": 403, "code": 403, "denied_by": "iam", "message": self.message(),
                "authorized": True, "allowed": False, "path": refused["path"],
                "method": refused["method"], "verb": "", "resource": "", "subresource": "",
                "namespace": "", "name": "", "checks": [],
            }
            for refused in self.refused
        ]  # fmt: skip

    def message(self) -> str:
        # The exact body Google's front end sends is not documented; GKE's API words IAM
        # denials like this.
        return f'Required "{CONNECT}" permission(s) for "{self.cluster}".'

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        scheme, _, token = headers.get("authorization", "").partition(" ")
        info = None
        store = tokeninfo()
        if scheme.lower() == "bearer" and store is not None:
            info = store.lookup(token.strip())
        if info is not None:
            email = controlplane.EMAIL_SCOPE in info["scope"].split()
            user = info["email"] if email else info["sub"]
            if f"serviceAccount:{user}" not in self.members:
                if headers.get("user-agent") == self.user_agent:
                    method, path = lines[0].split(" ")[:2]
                    self.refused.append(
                        {"user": user, "method": method, "path": path, "at": time.time()}
                    )
                body = json.dumps(
                    {
                        "error": {
                            "code": 403,
                            "message": self.message(),
                            "status": "PERMISSION_DENIED",
                        }
                    }
                ).encode()
                writer.write(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                writer.close()
                return
        # No token, or one Google does not know: the API server answers for itself.
        if "upgrade" not in headers.get("connection", "").lower():
            kept = [
                line for line in lines[1:] if line and not line.lower().startswith("connection:")
            ]
            head = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        context = ssl.create_default_context(cafile=str(self.upstream_ca))
        context.set_alpn_protocols(["http/1.1"])
        host, port = self.upstream.split(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port), ssl=context)
        up_writer.write(head)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


# --- one KubernetesPodOperator run, as kpo_run.py drives it ------------------------------------


def identify(user_agent: str) -> None:
    """Every Kubernetes API client of this process sends `user_agent` (the audit log's key to
    this run's requests; it changes nothing the API server decides)."""
    import kubernetes.client
    import kubernetes_asyncio.client

    for cls in (kubernetes.client.ApiClient, kubernetes_asyncio.client.ApiClient):
        init = cls.__init__

        def patched(self: Any, *args: Any, _init: Any = init, **kwargs: Any) -> None:
            _init(self, *args, **kwargs)
            self.user_agent = user_agent

        cls.__init__ = patched  # type: ignore[method-assign]


class RealRun:
    """kpo_run.py's real Kubernetes: `endpoint` before the stack runs, `setup` with its export
    (under the stack's lock, released by `finish`), `result` for result.json."""

    def __init__(self, name: str, trust: Any) -> None:
        self.kube = RunKube(name)
        self.name = name
        self.selector: str | None = None  # its own pods', when it shares the stack
        self.proxy: FrontProxy | None = None
        self.trust = trust  # the "public" CA of the DNS endpoint's certificate (trustme)
        self.stack = contextlib.ExitStack()
        self.namespaces: set[str] = set()
        self.hold: Any = None
        self.gke: Any = None  # kube_gke.GkeNodes, for a run whose pools start at zero
        self.service_tokens: dict[str, tuple[str, str]] = {}  # "JTI=<jti>" -> (token, via)
        identify(self.kube.user_agent)

    def service_account_token(self, namespace: str, name: str) -> str:
        """A token for the service account from the real TokenRequest API, as the kubelet asks for
        a pod's projected token (`kubectl create token`, as cluster admin), for one hour."""
        token = self.kube.kubectl(
            "create", "token", name, "-n", namespace, f"--audience={SA_AUDIENCE}",
            "--duration=1h",
        ).strip()  # fmt: skip
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.service_tokens[f"JTI={claims['jti']}"] = (token, "serviceaccount")
        return token

    def endpoint(self, dns: bool) -> str:
        if not dns:
            return self.kube.address
        cert = self.trust.issue_cert("127.0.0.1", "localhost")
        self.proxy = FrontProxy(self.kube.address, self.kube.ca, cert, self.kube.user_agent)
        return self.proxy.start()

    def gate(self, data: dict[str, Any]) -> None:
        """The DNS endpoint's IAM gate, from the project grants (as the run leaves them)."""
        if self.proxy is not None:
            self.proxy.gate(data)

    def setup(
        self,
        data: dict[str, Any],
        namespace: str,
        gke: dict[str, Any] | None = None,
        alone: bool = False,
    ) -> None:
        """`gke`: the GPU pools start at zero, and kube_gke.GkeNodes (given these arguments)
        scales them up; else nodes for SHARE pods on each GPU pool. The run holds the stack
        alone when it changes its nodes or quota (`gke`, `alone`); else it shares it with runs
        that apply the same objects (stack_lock.py)."""
        share = None
        if gke is None and not alone:
            objects = json.dumps(self.kube.stack_objects(data), sort_keys=True)
            share = hashlib.sha256(objects.encode()).hexdigest()
        self.stack.enter_context(self.kube.stack_lock(data["stack"], share, SHARE))
        self.selector = f"{RUN_LABEL}={self.name}" if share else None
        self.kube.apply_stack(data)
        self.namespaces = {d["namespace"] for d in data["outputs"]["airflow"].values()}
        self.pods = self.kube.watch(namespace)
        if gke is None:
            self.kube.gpu_nodes(data, room=SHARE)
        else:
            from kube_gke import GkeNodes

            self.gke = GkeNodes(self.kube, data, self.pods, **gke)
            self.gke.scale_to_zero()
            self.gke.start()
        # What the namespace's LimitRange adds to a container without cpu/memory (LimitRanger).
        self.limit_defaults = {
            key: value
            for o in data["manifests"]
            if o["kind"] == "LimitRange" and o["metadata"]["namespace"] == namespace
            for limit in o["spec"]["limits"]
            if limit["type"] == "Container"
            for key, value in limit.get("default", {}).items()
        }

    def kueue_hold(
        self, data: dict[str, Any], hint: dict[str, Any], seconds: float, borrow: bool = False
    ) -> None:
        """The cohort's GPUs all admitted to other workloads; the task's queue freed once its
        pod has waited `seconds` in Kueue. `borrow`: only the task's own queue full, so Kueue
        admits it on GPUs the others lend (kube_kueue.KueueHold)."""
        from kube_kueue import KueueHold

        self.hold = KueueHold(
            self.kube, self.pods, data, self.pods.namespace, hint, seconds, borrow
        )
        self.hold.fill()
        self.hold.start()

    def result(self, registry: Any) -> dict[str, Any]:
        if self.hold is not None:
            self.hold.stop()
        gke = self.gke.stop() if self.gke is not None else None
        minted = {
            hashlib.sha256(m.token.encode()).hexdigest(): (m.token, m.via) for m in registry.all()
        } | self.service_tokens
        time.sleep(0.5)  # the watch's last events
        calls = self.kube.calls(minted) + (self.proxy.refusals() if self.proxy else [])
        from kube_kueue import HOLD_PREFIX

        # The labels of the node a from-zero run's pod ran on: one GKE's stand-in added (the
        # stack's other nodes are gone, and no other stack's node takes its pods).
        labels = gke["nodes"] if gke else {}
        pods = [
            {
                "manifest": pod,
                "placed_on": pod["spec"].get("nodeName"),
                "node_labels": labels.get(pod["spec"].get("nodeName") or ""),
                "deleted": name in self.pods.deleted,
                "history": self.pods.history.get(name, []),
                # Each container's last state, as the kubelet (kwok, kube_runtime.py) reported it.
                "containers": {
                    c["name"]: c["state"]
                    for c in pod.get("status", {}).get("containerStatuses", [])
                },
            }
            for name, pod in self.pods.last.items()
            if not name.startswith(HOLD_PREFIX)
            # a run sharing the stack sees the others' pods in the namespace too
            and pod["metadata"].get("labels", {}).get(RUN_LABEL) == self.name
        ]
        names = {p["manifest"]["metadata"]["name"] for p in pods}
        # How the containers that kube_runtime.py ran (those of XCom pods) ended.
        keys = [f"{self.pods.namespace}/{name}" for name in sorted(names)]
        ended = kube_runtime.exits(Path(os.environ[ENV["runtime"]]), keys)
        for pod in pods:
            pod["exits"] = ended.get(f"{self.pods.namespace}/{pod['manifest']['metadata']['name']}")
        events = json.loads(
            self.kube.kubectl("get", "events", "-n", self.pods.namespace, "-o", "json")
        )
        return {
            "calls": calls,
            "checks": [check for c in calls for check in c["checks"]],
            # The events on the run's pods: the real scheduler's, and GKE's stand-in's (kube_gke).
            "events": [
                {
                    "pod": e["involvedObject"]["name"],
                    "reason": e["reason"],
                    "message": e["message"],
                    "component": (e.get("source") or {}).get("component")
                    or e.get("reportingComponent"),
                }
                for e in events["items"]
                if e["involvedObject"].get("kind") == "Pod" and e["involvedObject"]["name"] in names
            ],
            # Each exec's command, as the API server received it (an exec's stdin is not logged).
            "exec_commands": [
                parse_qs(urlsplit(c["path"]).query).get("command", [])
                for c in calls
                if c["subresource"] == "exec"
            ],
            "pod": pods[0]["manifest"] if pods else None,
            "pod_deleted": pods[0]["deleted"] if pods else None,
            "pods": pods,
            # Each eviction the API server answered (the drain's), from its audit log.
            "evictions": [
                {
                    "pod": c["name"],
                    "namespace": c["namespace"],
                    "user": c["user"],
                    "code": c["code"],
                }
                for c in calls
                if c["subresource"] == "eviction"
            ],
            "gke": gke,
            "ca_pem": self.kube.ca.read_text(),
            "real": True,
            "limit_defaults": self.limit_defaults,
            "kueue": self.hold.result() if self.hold is not None else None,
        }

    def finish(self) -> None:
        try:
            if self.namespaces:
                self.kube.cleanup(self.namespaces, self.selector)
        finally:
            self.stack.close()
            if self.proxy is not None:
                self.proxy.stop()
