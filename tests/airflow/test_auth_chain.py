"""The real auth chain refuses what the stack does not grant, and each refusal reads as a user would
see it: in the task's log (a real KubernetesPodOperator run, dag.test()) and in kubectl's output.
Also the plugin alone, with the fake Google and the session's real API server behind the DNS
endpoint's IAM gate: its cost per call, and 401 for unknown or expired tokens.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fake_google
import pytest
import trustme
from kube_real import FrontProxy, RunKube
from scenarios import FAILURES

PLUGIN = "gke-gcloud-auth-plugin"


@pytest.fixture(scope="session")
def failed(kpo: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: kpo[name] for name in FAILURES}


def escaped(text: str) -> str:
    """`text` as it appears inside a JSON response body quoted in the task log."""
    return json.dumps(text)[1:-1]


def test_nothing_tried_to_leave_loopback(kpo: dict[str, dict[str, Any]]) -> None:
    """Every run's HTTP(S) proxy is the fake Google server: a request for any other host (Google's
    real endpoints, a metadata server, an update check) would be logged there as unexpected."""
    assert {
        name: [g for g in r["google"] if g["endpoint"] == "unexpected"] for name, r in kpo.items()
    } == {name: [] for name in kpo}


def assert_anonymous_refused(r: dict[str, Any]) -> None:
    """Every request went without a token: the real API server's answer to system:anonymous."""
    namespace = r["deployment"]["namespace"]
    assert r["calls"]
    assert {(c["user"], c["status"], c["denied_by"], c["namespace"]) for c in r["calls"]} == {
        ("system:anonymous", 403, "rbac", namespace)
    }
    message = (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
        f'in the namespace "{namespace}"'
    )
    assert "kubernetes.client.exceptions.ForbiddenException: (403)\nReason: Forbidden" in r["log"]
    assert escaped(message) in r["log"]


def test_astro_identity_without_token_creator(failed: dict[str, dict[str, Any]]) -> None:
    r = failed["no-token-creator"]
    launcher, astro = r["deployment"]["launcher_email"], r["astro_identity"]
    assert r["state"] == "failed"
    assert r["pod"] is None
    # IAM Credentials refused every attempt, in Google's words; gcloud passed them on.
    assert {(g["endpoint"], g["caller"], g.get("target"), g["status"]) for g in r["google"]} == {
        ("token", astro, None, 200),
        ("generateAccessToken", astro, launcher, 403),
    }
    gcloud_says = (
        f"ERROR: (gcloud.config.config-helper) PERMISSION_DENIED: Failed to impersonate "
        f"[{launcher}]. Make sure the account that's trying to impersonate it has access to the "
        f'service account itself and the "roles/iam.serviceAccountTokenCreator" role. '
        f"{fake_google.DENIED_MESSAGE} This command is authenticated as {astro}"
    )
    assert gcloud_says in r["log"]
    assert gcloud_says in r["kubectl"]["stderr"]
    assert r["kubectl"]["returncode"] == 1
    assert r["kubectl"]["stderr"].endswith(
        "Unable to connect to the server: getting credentials: exec: executable "
        f"{PLUGIN} failed with exit code 1\n"
    )
    # Finding: the Python client only logs the plugin's failure and sends its requests without a
    # token. The real API server takes a request without a token as system:anonymous (anonymous
    # authentication is on by default, on GKE too) and RBAC refuses it: the task's exception.
    assert_anonymous_refused(r)


def test_one_deployment_cannot_launch_into_anothers_namespace(
    failed: dict[str, dict[str, Any]],
) -> None:
    r = failed["other-namespace"]
    launcher, other = r["deployment"]["launcher_email"], r["target_namespace"]
    assert other != r["deployment"]["namespace"]
    assert r["state"] == "failed"
    assert r["pod"] is None
    # The token is good and the DNS endpoint's IAM gate lets the launcher through; RBAC refuses.
    refused = [c for c in r["calls"] if not c["allowed"]]
    assert refused and {(c["user"], c["denied_by"], c["namespace"]) for c in refused} == {
        (launcher, "rbac", other)
    }
    assert all(c["user"] == launcher for c in r["calls"])
    assert not [c for c in r["calls"] if c["namespace"] == other and c["allowed"]]
    message = (
        f'pods is forbidden: User "{launcher}" cannot list resource "pods" in API group "" in '
        f'the namespace "{other}"'
    )
    assert "kubernetes.client.exceptions.ForbiddenException: (403)\nReason: Forbidden" in r["log"]
    assert escaped(message) in r["log"]
    assert r["kubectl"]["returncode"] == 1
    assert r["kubectl"]["stderr"] == f"Error from server (Forbidden): {message}\n"


def test_dns_endpoint_refuses_an_identity_without_the_launcher_role(
    failed: dict[str, dict[str, Any]],
) -> None:
    r = failed["no-launcher-role"]
    launcher, c = r["deployment"]["launcher_email"], r["cluster"]
    assert r["state"] == "failed"
    assert r["pod"] is None
    # Impersonation still works (Token Creator is intact): the refusal is the endpoint's IAM gate,
    # before RBAC (which would have allowed the launcher in its own namespace).
    assert {g["status"] for g in r["google"] if g["endpoint"] == "generateAccessToken"} == {200}
    assert {(c["user"], c["status"], c["denied_by"]) for c in r["calls"]} == {
        (launcher, 403, "iam")
    }
    message = (
        f'Required "container.clusters.connect" permission(s) for '
        f'"projects/{c["project"]}/locations/{c["location"]}/clusters/{c["name"]}".'
    )
    assert "kubernetes.client.exceptions.ForbiddenException: (403)\nReason: Forbidden" in r["log"]
    assert escaped(message) in r["log"]
    # kubectl shows the status only: the front end's body is not a Kubernetes Status.
    assert r["kubectl"]["returncode"] == 1
    assert r["kubectl"]["stderr"].endswith("\nError from server (Forbidden): unknown\n")


def test_plugin_missing_from_path(failed: dict[str, dict[str, Any]]) -> None:
    """With the guide's callbacks (astro/include/gke_gpu.py): the task fails before its first
    request, with the kubeconfig's install hint, and is not retried; kubectl says the same."""
    r = failed["no-plugin"]
    assert r["state"] == "failed"
    assert r["tries"] == {"1": "failed"}
    assert r["pod"] is None
    # The plugin never ran: nothing asked for a launcher token, nothing reached the API server.
    assert not [g for g in r["google"] if g["endpoint"] == "generateAccessToken"]
    assert r["calls"] == []
    hint = r["exec"]["installHint"]
    assert hint.startswith(f"{PLUGIN} is required")
    assert (
        f"AirflowFailException: connection 'gke_gpu': {PLUGIN} is not on PATH. {hint}" in r["log"]
    )
    # kubectl stops before any request, with the same install hint.
    assert r["kubectl"]["returncode"] == 1
    assert (
        f"getting credentials: exec: executable {PLUGIN} not found\n\nIt looks like you are "
        "trying to use a client-go credential plugin that is not installed."
    ) in r["kubectl"]["stderr"]
    assert r["kubectl"]["stderr"].endswith(f"\n{hint}\n")


def test_plugin_missing_without_the_callback(failed: dict[str, dict[str, Any]]) -> None:
    """Why the callback exists. Finding: the Python client ignores installHint, logs the missing
    file and goes out without a token; nothing unauthenticated got through (every request: 401),
    and that is the task's error."""
    r = failed["no-plugin-bare"]
    assert r["state"] == "failed"
    assert r["pod"] is None
    assert not [g for g in r["google"] if g["endpoint"] == "generateAccessToken"]
    assert f"[Errno 2] No such file or directory: '{PLUGIN}'" in r["log"]
    assert r["exec"]["installHint"] not in r["log"]
    assert_anonymous_refused(r)


# --- the plugin alone, with the fake Google and the real API server ------------------------------

LIFETIME = 2.0  # seconds: short enough to see a token expire
# kube-apiserver keeps a successful token review for 10 s, whatever the webhook says
# (TokenSuccessCacheTTL, k8s.io/kubernetes pkg/kubeapiserver/options/authentication.go).
REVIEW_CACHE = 10.0


class Chain:
    """The fake Google for dev and the session's control plane (dev's objects applied), behind
    the DNS endpoint's IAM gate (kube_real.FrontProxy), with short-lived tokens. The real plugin
    runs as the analytics deployment's Astro identity, with gcloud signed in as it."""

    def __init__(self, data: dict[str, Any], workdir: Path) -> None:
        analytics = data["outputs"]["airflow"]["analytics"]
        self.launcher = analytics["launcher_email"]
        self.namespace = analytics["namespace"]
        self.astro = data["astro_identities"]["analytics"]
        self.registry = fake_google.TokenRegistry(lifetime=LIFETIME)
        self.google = fake_google.FakeGoogle.from_export(data, self.registry)
        self.google.start()
        self.kube = RunKube("auth-chain")
        with self.kube.stack_lock(data["stack"]):
            self.kube.apply_stack(data)  # the launcher's Role and RoleBinding
        ca = trustme.CA()
        self.proxy = FrontProxy(
            self.kube.address, self.kube.ca, ca.issue_cert("127.0.0.1"), self.kube.user_agent
        )
        self.address = self.proxy.start()
        self.proxy.gate(data)
        self.env = fake_google.worker_env(self.google, self.astro, workdir)
        fake_google.activate_gcloud(self.env)
        self.context = ssl.create_default_context()
        ca.configure_trust(self.context)

    def stop(self) -> None:
        self.proxy.stop()
        self.google.stop()

    def plugin(self, *args: str) -> tuple[str, float]:
        """The token the plugin hands out, and how long the call took."""
        started = time.monotonic()
        done = subprocess.run(
            [PLUGIN, *args], env={**os.environ, **self.env}, capture_output=True, text=True
        )
        took = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        credential = json.loads(done.stdout)
        assert credential["kind"] == "ExecCredential"
        assert credential["apiVersion"] == "client.authentication.k8s.io/v1beta1"
        return credential["status"]["token"], took

    def identity(self, token: str) -> str:
        minted = self.registry.lookup(token)
        assert minted is not None
        return minted.identity

    def list_pods(self, token: str) -> int:
        request = urllib.request.Request(
            f"https://{self.address}/api/v1/namespaces/{self.namespace}/pods",
            headers={"Authorization": f"Bearer {token}", "User-Agent": self.kube.user_agent},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def calls(self) -> list[tuple[str | None, int, str]]:
        """Who each request was, its status and what refused it: the IAM gate's refusals and
        the API server's audit log, in order."""
        time.sleep(0.5)  # the audit log's last lines
        calls = self.kube.calls({}) + self.proxy.refusals()
        return [
            (c["user"], c["status"], c["denied_by"]) for c in sorted(calls, key=lambda c: c["at"])
        ]


@pytest.fixture
def chain(tmp_path: Path, export: Any, control_plane: Any) -> Iterator[Chain]:
    chain = Chain(export("dev"), tmp_path)
    yield chain
    chain.stop()


IMPERSONATE = "--impersonate_service_account"
ADC = "--use_application_default_credentials"


def test_plugin_cost_per_call(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    """Each real plugin run hands out a token the fakes know as the right identity. Impersonation
    runs gcloud each time (the plugin caches next to ~/.kube/config, and there is none here)."""
    times: dict[str, list[float]] = {"impersonation": [], "adc": []}
    for _ in range(3):
        token, took = chain.plugin(IMPERSONATE, chain.launcher)
        assert chain.identity(token) == chain.launcher
        times["impersonation"].append(took)
        token, took = chain.plugin(ADC)
        assert chain.identity(token) == chain.astro
        times["adc"].append(took)
    with capsys.disabled():
        print(
            "\ngke-gcloud-auth-plugin seconds per call: "
            + ", ".join(f"{m} {sum(t) / len(t):.2f} (max {max(t):.2f})" for m, t in times.items())
        )
    # Generous: a network timeout (a metadata server or a Google host lookup) would show here.
    assert max(times["impersonation"] + times["adc"]) < 10


def test_api_server_authenticates_and_gates_every_token(chain: Chain) -> None:
    launcher_token, _ = chain.plugin(IMPERSONATE, chain.launcher)
    astro_token, _ = chain.plugin(ADC)
    reviewed = time.monotonic()
    assert chain.list_pods(launcher_token) == 200
    # The Astro identity's own token is valid but holds no launcher role: the DNS endpoint's gate.
    assert chain.list_pods(astro_token) == 403
    assert chain.list_pods("ya29.never-minted") == 401
    time.sleep(LIFETIME + 0.5)
    # Expired, but the API server still has its review: accepted until the cache lets it go.
    assert chain.list_pods(launcher_token) == 200
    time.sleep(max(0.0, reviewed + REVIEW_CACHE + 1.0 - time.monotonic()))
    assert chain.list_pods(launcher_token) == 401  # expired
    assert chain.calls() == [
        (chain.launcher, 200, ""),
        (chain.astro, 403, "iam"),
        (None, 401, "authentication"),
        (chain.launcher, 200, ""),
        (None, 401, "authentication"),
    ]


def test_plugin_reuses_its_token_when_it_can_cache(chain: Chain) -> None:
    """The plugin caches next to ~/.kube/config, only when that directory exists: then repeated
    runs (the deferrable trigger runs it for each API call) skip gcloud and IAM Credentials, until
    10 s before the token expires."""
    chain.registry.lifetime = 3600
    (Path(chain.env["HOME"]) / ".kube").mkdir()
    tokens = {chain.plugin(IMPERSONATE, chain.launcher)[0] for _ in range(3)}
    assert len(tokens) == 1
    assert [g["endpoint"] for g in chain.google.requests].count("generateAccessToken") == 1
    assert (Path(chain.env["HOME"]) / ".kube" / "gke_gcloud_auth_plugin_cache").exists()
