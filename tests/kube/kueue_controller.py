"""The real Kueue controller (`kueue`, built by `make kube-bin` from sigs.k8s.io/kueue at the
release tools/kubebin/go.mod pins) on loopback against a tests/kube ControlPlane.

Kueue's internal cert manager runs as in the cluster: it reads its Secret, writes the serving
certificate into its cert dir and injects its CA into the webhook configurations (caBundle).
What differs, and why: in GKE the chart runs Kueue as a pod behind the Service
`kueue-webhook-service`, and the cert manager makes a CA and a certificate for that Service's name.
Here Kueue is a process on 127.0.0.1 and the API server calls it by `url: https://127.0.0.1:<port>`,
so the test seeds the Secret with a CA and a certificate valid for the Service's name AND for
127.0.0.1 (the cert manager keeps a valid pair: open-policy-agent/cert-controller rotator.go). The
webhook configurations are Kueue's own (the module's config/components/webhook/manifests.yaml),
with the URL instead of the Service; the pod webhooks take the Configuration's
managedJobsNamespaceSelector, as the chart's templates do. Everything else of the Configuration is
the stack's (components/gke/kueue.py `manager_config`)."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from offline import kueue_chart
from tests.kube.controlplane import BIN, ControlPlane, free_port

KUEUE_MODULE = "sigs.k8s.io/kueue"
POD_WEBHOOKS = ("mpod.kb.io", "vpod.kb.io")
# Kueue's defaults (apis/config/v1beta2/defaults.go, pkg/util/cert/cert.go).
DEFAULT_NAMESPACE = "kueue-system"
SERVICE = "kueue-webhook-service"
SECRET = "kueue-webhook-server-cert"
CA_NAME = "kueue-ca"
CONVERTED = {
    f"{plural}.kueue.x-k8s.io"
    for plural in ("localqueues", "clusterqueues", "workloads", "cohorts", "multikueueclusters")
}


def module_dir() -> Path:
    """The pinned Kueue module's directory in the Go module cache (its CRDs and webhooks)."""
    found = kueue_chart.module_dir()
    if found is None:
        raise RuntimeError(f"{KUEUE_MODULE} is not in the Go module cache: run `make kube-bin`")
    return found


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def seed_secret(pki: Path, namespace: str) -> dict[str, Any]:
    """Kueue's cert Secret with a CA (named `kueue-ca`, as the cert manager names its own) and a
    serving certificate for the webhook Service's name and 127.0.0.1. Valid for a year: the cert
    manager replaces a pair that expires within its lookahead (90 days)."""
    pki.mkdir(exist_ok=True)
    days = "365"
    # RSA in PKCS#1: the cert manager parses its CA key with x509.ParsePKCS1PrivateKey.
    _openssl("genrsa", "-traditional", "-out", "ca.key", "2048", cwd=pki)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", f"/O=kueue/CN={CA_NAME}",
        "-addext", f"subjectAltName=DNS:{CA_NAME}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,digitalSignature", "-days", days, "-out", "ca.crt",
        cwd=pki,
    )  # fmt: skip
    _openssl("genrsa", "-traditional", "-out", "tls.key", "2048", cwd=pki)
    _openssl(
        "req", "-new", "-key", "tls.key", "-subj", f"/CN={SERVICE}", "-out", "tls.csr", cwd=pki
    )
    (pki / "tls.ext").write_text(
        f"extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{SERVICE}.{namespace}.svc,IP:127.0.0.1\n"
    )
    _openssl(
        "x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", days, "-sha256", "-extfile", "tls.ext", "-out", "tls.crt",
        cwd=pki,
    )  # fmt: skip
    data = {
        name: base64.b64encode((pki / name).read_bytes()).decode()
        for name in ("ca.crt", "ca.key", "tls.crt", "tls.key")
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": namespace},
        "data": data,
    }


def with_conversion(crd: dict[str, Any], port: int) -> dict[str, Any]:
    """The conversion webhook the chart gives the CRDs Kueue serves in two versions (charts/kueue/
    templates/crd; the cert manager injects its CA into exactly these)."""
    if crd["metadata"]["name"] not in CONVERTED:
        return crd
    crd = copy.deepcopy(crd)
    crd["spec"]["conversion"] = {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {"url": f"https://127.0.0.1:{port}/convert"},
            "conversionReviewVersions": ["v1"],
        },
    }
    return crd


def webhook_configurations(
    module: Path, port: int, namespace_selector: dict[str, Any]
) -> list[dict[str, Any]]:
    """Kueue's own webhook configurations, pointed at the loopback process; no caBundle (Kueue's
    cert manager injects it)."""
    out = []
    for doc in _yaml_docs(module / "config" / "components" / "webhook" / "manifests.yaml"):
        doc = copy.deepcopy(doc)
        doc["metadata"]["name"] = f"kueue-{doc['metadata']['name']}"
        for hook in doc.get("webhooks", []):
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}"}
            if hook["name"] in POD_WEBHOOKS:
                hook["namespaceSelector"] = namespace_selector
        out.append(doc)
    return out


def start(cp: ControlPlane, manager_config: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """CRDs, the webhook registration, then the controller; returns the Configuration it runs."""
    module = module_dir()
    port, health = free_port(), free_port()
    crds = [
        with_conversion(doc, port)
        for path in sorted((module / "config" / "components" / "crd" / "bases").glob("*.yaml"))
        for doc in _yaml_docs(path)
    ]
    cp.apply(crds, manager="kueue-test")
    cp.kubectl(  # one kubectl for them all
        "wait", "--for=condition=Established", "--timeout=60s",
        *(f"crd/{crd['metadata']['name']}" for crd in crds),
    )  # fmt: skip
    cert_dir = cp.workdir / "kueue-certs"
    cert_dir.mkdir(exist_ok=True)
    namespace = manager_config.get("namespace", DEFAULT_NAMESPACE)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    secret = seed_secret(cp.workdir / "kueue-pki", namespace)
    cp.apply([ns, secret], manager="kueue-test")
    # The kubelet's part: the chart mounts this Secret at the cert dir.
    for name, value in secret["data"].items():
        (cert_dir / name).write_bytes(base64.b64decode(value))
    config = copy.deepcopy(manager_config)
    config.update(
        webhook={"port": port, "host": "127.0.0.1", "certDir": str(cert_dir)},
        health={"healthProbeBindAddress": f"127.0.0.1:{health}"},
        metrics={"bindAddress": "0"},
        leaderElection={"leaderElect": False},
    )
    path = cp.workdir / "kueue-config.json"
    path.write_text(json.dumps(config))
    cp.apply(
        webhook_configurations(module, port, config["managedJobsNamespaceSelector"]),
        manager="kueue-test",
    )
    cp._spawn(  # noqa: SLF001 (its process joins the control plane's, stopped with them)
        "kueue",
        f"--config={path}",
        f"--kubeconfig={cp.admin_kubeconfig}",
        "--feature-gates=VisibilityOnDemand=false",
    )
    deadline = time.time() + timeout
    while True:
        cp._check_alive()  # noqa: SLF001
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=5) as r:
                if r.status == 200:
                    return config
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.time() > deadline:
            raise TimeoutError(f"kueue not ready in {timeout}s: {cp.workdir}/kueue.log")
        time.sleep(0.5)


def has_binary() -> bool:
    return (BIN / "kueue").is_file()
