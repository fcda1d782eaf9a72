"""A real Kubernetes control plane on loopback, for the tests: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok, from the binaries `make kube-bin` builds out of
the Go modules pinned in tools/kubebin/go.mod. Standard library only (and the `openssl` CLI), so
both test venvs import it.

What is real: the API server's validation, server-side apply, admission (its default plugins:
NamespaceLifecycle, LimitRanger, ServiceAccount, PodSecurity, ResourceQuota, ...), RBAC
authorization, the Eviction API with PodDisruptionBudgets (the disruption controller), quota usage
(the resource-quota controller), service-account tokens, and the scheduler's placement by node
selector, affinity, taints and extended resources. kube-controller-manager runs only the controllers
those need, plus the node-lifecycle controller: the API server's TaintNodesByCondition admission
taints every new node not-ready, and that controller lifts the taint once the node is Ready.
kwok plays the kubelets: it keeps the nodes Ready and takes scheduled pods through the Stages in
tests/kube/stages (Running, then Succeeded).

What stays fake, because nothing real can run here: Google's side of authentication. GKE's API
server asks Google who a bearer token belongs to; here a webhook token authenticator
(`TokenWebhook`) asks `Tokeninfo`, a directory the loopback Google fakes write each minted token
into (what Google's tokeninfo endpoint would answer), and maps it the way GKE does: the username
is the identity's email when the token carries the userinfo.email scope, else its numeric id.
GKE's node auto-provisioning and cluster autoscaler are not here either: nodes exist because a
test creates them (`gpu_node`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("KUBE_BIN", ROOT / ".kube-bin"))
STAGES = Path(__file__).resolve().parent / "stages"
# CRDs from named sources: tests/kube/crds/ (each file names its repository and commit) and
# Kueue's, which `make kube-bin` copies out of the pinned sigs.k8s.io/kueue module.
CRD_DIRS = (Path(__file__).resolve().parent / "crds", BIN / "crds" / "kueue")
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
# Nodes kwok manages carry this label; nothing else does.
KWOK_LABEL = "kwok.x-k8s.io/node"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_binaries() -> list[str]:
    names = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
    return [n for n in names if not (BIN / n).is_file()]


# --- certificates ---------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class Pki:
    """A CA generated for this run, and the certificates it issues (ECDSA P-256)."""

    dir: Path

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _openssl(
            "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=self.dir
        )
        _openssl(
            "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2",
            "-subj", "/CN=test-cluster-ca", "-out", "ca.crt", cwd=self.dir,
        )  # fmt: skip

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    def issue(
        self, name: str, subject: str, sans: tuple[str, ...] = (), client: bool = False
    ) -> tuple[Path, Path]:
        _openssl(
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            f"{name}.key",
            cwd=self.dir,
        )
        ext = self.dir / f"{name}.ext"
        lines = [f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        _openssl(
            "req",
            "-new",
            "-key",
            f"{name}.key",
            "-subj",
            subject,
            "-out",
            f"{name}.csr",
            cwd=self.dir,
        )
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-sha256", "-extfile", ext.name, "-out", f"{name}.crt",
            cwd=self.dir,
        )  # fmt: skip
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"


# --- Google's side of authentication --------------------------------------------------------


@dataclass
class Tokeninfo:
    """What Google's tokeninfo endpoint knows: one JSON file per minted access token, named by the
    token's SHA-256, holding {"email", "sub", "scope", "exp"}. The loopback Google fakes (another
    process) write them; the webhook reads them."""

    dir: Path

    def path(self, token: str) -> Path:
        return self.dir / hashlib.sha256(token.encode()).hexdigest()

    def record(self, token: str, email: str, sub: str, scopes: tuple[str, ...], exp: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path(token).with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"email": email, "sub": sub, "scope": " ".join(scopes), "exp": exp})
        )
        tmp.replace(self.path(token))

    def lookup(self, token: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = json.loads(self.path(token).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return info if info["exp"] > time.time() else None


def serve_reviews(
    review: Callable[[dict[str, Any]], dict[str, Any]], cert: Path, key: Path
) -> ThreadingHTTPServer:
    """A loopback HTTPS webhook, as kube-apiserver calls one (TokenReview, SubjectAccessReview):
    each POSTed JSON review is answered with `review(...)`. Served on a thread until shutdown()."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps(review(asked)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class TokenWebhook:
    """The API server's webhook token authenticator (authentication.k8s.io/v1 TokenReview), GKE's
    mapping: username = email with the userinfo.email scope, else the numeric id (which no
    RoleBinding names); every Google identity is in system:authenticated. `extra(token)`, when
    set, gives the authenticated user's extra (the contract suite marks each token's hash)."""

    def __init__(self, tokeninfo: Tokeninfo, cert: Path, key: Path) -> None:
        self.tokeninfo = tokeninfo
        self.reviews: list[dict[str, Any]] = []
        self.extra: Callable[[str], dict[str, list[str]]] | None = None
        self.server = serve_reviews(self.review, cert, key)
        self.port = self.server.server_address[1]

    def review(self, review: dict[str, Any]) -> dict[str, Any]:
        info = self.tokeninfo.lookup(review["spec"]["token"])
        status: dict[str, Any] = {"authenticated": False}
        if info:
            email_scope = EMAIL_SCOPE in info["scope"].split()
            status = {
                "authenticated": True,
                "user": {
                    "username": info["email"] if email_scope else info["sub"],
                    "uid": info["sub"],
                    "groups": ["system:authenticated"],
                },
            }
            if self.extra is not None:
                status["user"]["extra"] = self.extra(review["spec"]["token"])
        self.reviews.append({"user": status.get("user", {}).get("username"), "at": time.time()})
        return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}

    def stop(self) -> None:
        self.server.shutdown()


# --- the control plane ----------------------------------------------------------------------


def kubeconfig(server: str, ca: Path, user: dict[str, Any], name: str = "test") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


@dataclass
class ControlPlane:
    """Start with `start()`, stop with `stop()`; `kubectl(...)` runs as cluster admin."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kube-")))
    audit: bool = False
    # Optional: a SubjectAccessReview server run as the API server's webhook authorizer after
    # RBAC (`--authorization-mode=RBAC,Webhook`), as GKE runs its IAM authorizer after RBAC.
    # Anything with `serve(cert, key) -> port` and `stop()`: tests/kube/gke_iam.py.
    authorizer_webhook: Any = None
    # Optional: what kwok runs under (a command prefix: tests/airflow/kube_runtime.py's sandbox,
    # where a pod's exec runs), and the kwok CRDs it serves (`--enable-crds`: kind -> CRD file).
    kwok_prefix: list[str] = field(default_factory=list)
    kwok_crds: dict[str, Path] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, timeout: float = 120) -> ControlPlane:
        missing = missing_binaries()
        if missing:
            raise RuntimeError(f"{', '.join(missing)} missing in {BIN}: run `make kube-bin` first")
        self.pki = Pki(self.workdir / "pki")
        self.tokeninfo = Tokeninfo(self.workdir / "tokeninfo")
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        serving = self.pki.issue(
            "apiserver", "/CN=kube-apiserver",
            ("IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default.svc"),
        )  # fmt: skip
        self.admin_cert = self.pki.issue("admin", "/O=system:masters/CN=test-admin", client=True)
        webhook_cert = self.pki.issue("webhook", "/CN=token-webhook", ("IP:127.0.0.1",))
        self.webhook = TokenWebhook(self.tokeninfo, *webhook_cert)
        sa_key = self.workdir / "sa.key"
        _openssl(
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sa.key",
            cwd=self.workdir,
        )
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        admin_user = {
            "client-certificate": str(self.admin_cert[0]),
            "client-key": str(self.admin_cert[1]),
        }
        self.admin_kubeconfig.write_text(json.dumps(kubeconfig(self.url, self.pki.ca, admin_user)))
        webhook_kubeconfig = self.workdir / "webhook.kubeconfig"
        webhook_kubeconfig.write_text(
            json.dumps(kubeconfig(f"https://127.0.0.1:{self.webhook.port}/", self.pki.ca, {}))
        )

        authorization = self._authorizer_webhook_flags()

        etcd_port, peer_port = free_port(), free_port()
        # etcd's data on tmpfs when there is one: fsync is most of its cost.
        shm = Path("/dev/shm")
        data = Path(tempfile.mkdtemp(prefix="etcd-", dir=shm if shm.is_dir() else None))
        self._spawn(
            "etcd",
            f"--data-dir={data}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync",
            "--log-level=error",
        )
        self.etcd_data = data
        audit = []
        if self.audit:
            policy = self.workdir / "audit-policy.json"
            policy.write_text(json.dumps({
                "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                # ResponseStarted kept: a failed authentication (401) is logged at that stage
                # only (k8s.io/apiserver pkg/endpoints/filters/authn_audit.go).
                "omitStages": ["RequestReceived"],
                "rules": [{"level": "Metadata"}],
            }))  # fmt: skip
            self.audit_log = self.workdir / "audit.log"
            audit = [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-mode=blocking",
            ]
        self._spawn(
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--tls-cert-file={serving[0]}",
            f"--tls-private-key-file={serving[1]}",
            f"--client-ca-file={self.pki.ca}",
            *authorization,
            f"--authentication-token-webhook-config-file={webhook_kubeconfig}",
            "--authentication-token-webhook-version=v1",
            # The webhook's own cache is off. The API server still keeps a successful token
            # review for 10 s (TokenSuccessCacheTTL in pkg/kubeapiserver/options, not a flag):
            # a token that expires is refused at most 10 s late, here as on any kube-apiserver.
            "--authentication-token-webhook-cache-ttl=0s",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={sa_key}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            f"--kubelet-client-certificate={self.admin_cert[0]}",
            f"--kubelet-client-key={self.admin_cert[1]}",
            "--profiling=false",
            # GKE's API server admits privileged containers (PodSecurity decides per namespace):
            # GKE's own DCGM exporter and the opt-in one run privileged in their namespace.
            "--allow-privileged=true",
            *audit,
        )
        self._wait_ready(timeout)
        self._admin_context = self.ssl_context()
        kcfg = f"--kubeconfig={self.admin_kubeconfig}"
        self._spawn(
            "kube-controller-manager",
            kcfg,
            "--controllers=serviceaccount-controller,serviceaccount-token-controller,"
            "resourcequota-controller,namespace-controller,garbage-collector-controller,"
            "disruption-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller",
            "--node-monitor-period=1s",
            f"--service-account-private-key-file={sa_key}",
            f"--root-ca-file={self.pki.ca}",
            "--leader-elect=false",
            "--secure-port=0",
            "--resource-quota-sync-period=5s",
        )
        # A pending pod is retried after a backoff that doubles from 1 s up to 10 s (the defaults:
        # k8s.io/kubernetes pkg/scheduler/apis/config/v1/defaults.go). The contract suite replays
        # a cold start at 1/100 of real time, where 10 s would be 1000 s: here it stays at the
        # floor, 1 s (validation: at least podInitialBackoffSeconds, which must be > 0).
        scheduler = self.workdir / "scheduler.json"
        scheduler.write_text(
            json.dumps(
                {
                    "apiVersion": "kubescheduler.config.k8s.io/v1",
                    "kind": "KubeSchedulerConfiguration",
                    "clientConnection": {"kubeconfig": str(self.admin_kubeconfig)},
                    "leaderElection": {"leaderElect": False},
                    "podInitialBackoffSeconds": 1,
                    "podMaxBackoffSeconds": 1,
                }
            )
        )
        self._spawn("kube-scheduler", f"--config={scheduler}", "--secure-port=0")
        config = self.workdir / "kwok.yaml"
        stages = [
            *(BIN / "kwok-stages").glob("node-*.yaml"),  # kwok's own, from its pinned module
            *STAGES.glob("*.yaml"),
        ]
        config.write_text("\n---\n".join(p.read_text() for p in sorted(stages)))
        crds = []
        if self.kwok_crds:
            for crd in self.kwok_crds.values():
                self.kubectl("apply", "--server-side", "-f", str(crd))
            files = [f"--filename={crd}" for crd in self.kwok_crds.values()]
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *files)
            crds = [f"--enable-crds={','.join(self.kwok_crds)}"]
        self._spawn(
            "kwok",
            *crds,
            kcfg,
            f"--config={config}",
            f"--manage-nodes-with-label-selector={KWOK_LABEL}=fake",
            "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{free_port()}",
        )
        self._wait_default_service_account(timeout)
        return self

    def _authorizer_webhook_flags(self) -> list[str]:
        if self.authorizer_webhook is None:
            return ["--authorization-mode=RBAC"]
        cert = self.pki.issue("authorizer", "/CN=authorizer-webhook", ("IP:127.0.0.1",))
        port = self.authorizer_webhook.serve(*cert)
        config = self.workdir / "authorizer.kubeconfig"
        # The webhook must be https (Kubernetes "Webhook Mode"); no cache, so a test that changes
        # a grant sees the change at once (defaults: 5 min allowed, 30 s refused).
        config.write_text(json.dumps(kubeconfig(f"https://127.0.0.1:{port}/", self.pki.ca, {})))
        return [
            "--authorization-mode=RBAC,Webhook",
            f"--authorization-webhook-config-file={config}",
            "--authorization-webhook-version=v1",
            "--authorization-webhook-cache-authorized-ttl=0s",
            "--authorization-webhook-cache-unauthorized-ttl=0s",
        ]

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        prefix = self.kwok_prefix if name == "kwok" else []
        self.procs[name] = subprocess.Popen(
            [*prefix, str(BIN / name), *args], stdout=log, stderr=subprocess.STDOUT
        )

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def _wait_ready(self, timeout: float) -> None:
        context = self.ssl_context()
        deadline = time.time() + timeout
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=context, timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.time() > deadline:
                raise TimeoutError(f"kube-apiserver not ready in {timeout}s: {self.workdir}")
            time.sleep(0.3)

    def _wait_default_service_account(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while self.kubectl(
            "get", "serviceaccount", "default", "-n", "default", check=False
        ).returncode:
            self._check_alive()
            if time.time() > deadline:
                raise TimeoutError("the service-account controller made no default account")
            time.sleep(0.3)

    def ssl_context(self, client: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        if client:
            context.load_cert_chain(*self.admin_cert)
        return context

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args],
            input=input, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if check and done.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done

    def apply(self, objects: list[dict[str, Any]], manager: str = "pulumi-kubernetes") -> None:
        """Server-side apply, as pulumi-kubernetes does (its default since v4)."""
        doc = {"apiVersion": "v1", "kind": "List", "items": objects}
        self.kubectl(
            "apply", "--server-side", f"--field-manager={manager}", "-f", "-", input=json.dumps(doc)
        )

    def install_crds(self, timeout: float = 60) -> list[str]:
        """Every CRD of CRD_DIRS, server-side, and wait until each is served."""
        files = sorted(p for d in CRD_DIRS for p in d.glob("*.yaml"))
        for path in files:
            self.kubectl("apply", "--server-side", "-f", str(path))
        names = self.kubectl("get", "crd", "-o", "name").stdout.split()
        self.kubectl("wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", *names)
        return names

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def gpu_node(
        self, name: str, pool: str, accelerator: str | None, gpus: int = 0, spot: bool = False,
        cpu: str = "8", memory: str = "32Gi", labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A kwok node labelled and tainted the way GKE labels a node of `pool`: every node has
        cloud.google.com/gke-nodepool; a GPU node also cloud.google.com/gke-accelerator, the
        nvidia.com/gpu=present:NoSchedule taint and allocatable nvidia.com/gpu; a spot node
        cloud.google.com/gke-spot=true (GKE docs: "About GPUs in GKE", "Spot VMs")."""
        node_labels = {
            KWOK_LABEL: "fake",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
            "cloud.google.com/gke-nodepool": pool,
            **({"cloud.google.com/gke-accelerator": accelerator} if accelerator else {}),
            **({"cloud.google.com/gke-spot": "true"} if spot else {}),
            **(labels or {}),
        }
        resources = {"cpu": cpu, "memory": memory, "pods": "110"}
        if gpus:
            resources["nvidia.com/gpu"] = str(gpus)
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": node_labels,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
            },
            "spec": {"taints": [GPU_TAINT] if accelerator else []},
            "status": {"allocatable": resources, "capacity": resources},
        }
        self.kubectl("create", "-f", "-", input=json.dumps(node))
        return node

    def can_i(
        self, user: str, verb: str, resource: str, namespace: str | None = None,
        groups: tuple[str, ...] = ("system:authenticated",),
    ) -> bool:  # fmt: skip
        """The real authorizer's answer for `user` in `groups`: a SubjectAccessReview, what
        `kubectl auth can-i --as` sends. `resource` may name a group and a subresource:
        `pods/exec`, `rolebindings.rbac.authorization.k8s.io`."""
        name, _, subresource = resource.partition("/")
        plural, _, group = name.partition(".")
        attributes = {"verb": verb, "resource": plural, "group": group, "subresource": subresource}
        if namespace:
            attributes["namespace"] = namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": list(groups), "resourceAttributes": attributes},
        }
        request = urllib.request.Request(
            f"{self.url}/apis/authorization.k8s.io/v1/subjectaccessreviews",
            data=json.dumps(review).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, context=self._admin_context, timeout=30) as r:
            return bool(json.load(r)["status"].get("allowed"))

    def stop(self) -> None:
        # Killed, not terminated: nothing of a test's control plane outlives it (etcd's data is
        # deleted below), and on SIGTERM etcd takes about 7 s to exit and kube-apiserver's
        # graceful shutdown outlasts a 30 s wait once etcd is gone (measured here).
        for proc in reversed(list(self.procs.values())):
            proc.kill()
        for proc in self.procs.values():
            proc.wait(10)
        if hasattr(self, "webhook"):
            self.webhook.stop()
        if self.authorizer_webhook is not None:
            self.authorizer_webhook.stop()
        if hasattr(self, "etcd_data"):
            shutil.rmtree(self.etcd_data, ignore_errors=True)
