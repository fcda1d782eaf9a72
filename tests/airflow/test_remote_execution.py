"""Astro Remote Execution with the agent in this cluster (prod's batch-remote): a real
KubernetesPodOperator with `in_cluster=True` through the real KubernetesHook, whose Kubernetes
client reads the service-account token and CA files and KUBERNETES_SERVICE_HOST/PORT; the agent's
environment from `make agent-values`' tool; RBAC exact for the agent's service account; and
isolation between the remote and a hosted deployment on one cluster, both ways."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.google.cloud.secrets.secret_manager import CloudSecretManagerBackend
from fake_secret_manager import FakeSecretManager, accessors
from scenarios import REMOTE
from stack_data import agent_env_values


@pytest.fixture(scope="session")
def remote(kpo: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: kpo[name] for name in REMOTE}


def agent_user(r: dict[str, Any]) -> str:
    agent = r["deployment"]["agent"]
    return f"system:serviceaccount:{agent['namespace']}:{agent['service_accounts'][0]}"


def escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


@pytest.mark.parametrize("name", ["remote", "remote-sync"])
def test_in_cluster_task_runs_as_the_agents_service_account(
    remote: dict[str, dict[str, Any]], name: str
) -> None:
    r = remote[name]
    assert r["state"] == "success"
    assert r["xcoms"]["return_value"] == {"answer": 42}
    # Read and killed through the agent's own execs (kube_runtime.py ran the containers).
    assert [c[:1] for c in r["exec_commands"]] == [["/bin/sh"], ["/bin/sh"]]
    assert [p["exits"] for p in r["pods"]] == [{"base": 0, "airflow-xcom-sidecar": 0}]
    assert r["deployment"]["agent"]["namespace"] == "astro-agent-batch"
    user = "system:serviceaccount:astro-agent-batch:astro-agent-worker"
    assert agent_user(r) == user
    assert {(c["user"], c["via"], c["status"]) for c in r["calls"]} == {
        (user, "serviceaccount", 200)
    }
    # No kubeconfig, plugin, gcloud or Google token anywhere on this path.
    assert r["connection_extra"] == {"in_cluster": True, "namespace": "airflow-batch"}
    assert r["exec"] is None
    assert r["google"] == []
    # The hook's client: the in-cluster host and the service account's CA file, nothing pinned
    # by the stack.
    assert r["hook"]["host"].startswith("https://127.0.0.1:")
    assert r["hook"]["ca"] == r["ca_pem"]
    assert r["hook"]["namespace"] == "airflow-batch"
    # The task does not say in_cluster (as the guide): the connection does, and KPO records it.
    assert r["hook"]["in_cluster"] is True
    pod = r["pod"]
    assert pod["metadata"]["labels"]["airflow_kpo_in_cluster"] == "True"
    assert pod["metadata"]["namespace"] == "airflow-batch"
    assert pod["spec"]["nodeSelector"] == {"cloud.google.com/compute-class": "l4-any"}
    assert r["pod_deleted"] is (name == "remote")


def test_agent_rbac_is_exact(remote: dict[str, dict[str, Any]]) -> None:
    """Every request of the agent's runs maps to a rule of its Role, and every rule is used: a
    deferrable task watches events, a sync one lists them, a kept pod is patched."""
    granted = {
        (verb, resource)
        for rule in remote["remote"]["role_rules"]
        for verb in rule["verbs"]
        for resource in rule["resources"]
    }
    observed: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name in ("remote", "remote-sync"):
        for verb, resource, namespace in remote[name]["checks"]:
            if namespace:
                observed[(verb, resource)].add(name)
    assert set(observed) == granted, set(observed) ^ granted


@pytest.mark.parametrize(
    ("name", "other"),
    [("remote-into-hosted", "airflow-ml-training"), ("hosted-into-remote", "airflow-batch")],
)
def test_a_remote_and_a_hosted_deployment_cannot_launch_into_each_other(
    remote: dict[str, dict[str, Any]], name: str, other: str
) -> None:
    """The agent's service account into ml-training's namespace; ml-training's launcher into the
    agent's task namespace: the real API server's RBAC refuses both, with its message."""
    r = remote[name]
    d = r["deployment"]
    user = agent_user(r) if d["execution"] == "remote" else d["launcher_email"]
    assert r["target_namespace"] == other
    assert r["state"] == "failed"
    assert r["pod"] is None
    refused = [c for c in r["calls"] if not c["allowed"]]
    assert refused and {(c["user"], c["denied_by"], c["namespace"]) for c in refused} == {
        (user, "rbac", other)
    }
    # The real API server decided (its audit log): the agent's token is the TokenRequest API's,
    # which its ServiceAccount authenticator names by JWT ID; the launcher's is Google's.
    assert r["real"] is True
    via = "serviceaccount" if d["execution"] == "remote" else r["astro_identity"]
    assert {c["via"] for c in refused} == {via}
    message = (
        f'pods is forbidden: User "{user}" cannot list resource "pods" in API group "" in '
        f'the namespace "{other}"'
    )
    assert escaped(message) in r["log"]


def test_the_agent_reads_its_connection_and_no_other(
    export: Any, fake_adc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real backend with the agent's environment, as the worker's Workload Identity
    principal: its own connection resolves; a hosted deployment's is refused (None)."""
    data = export("prod")
    d = data["outputs"]["airflow"]["batch-remote"]
    env = agent_env_values(data["outputs"], "prod", "batch-remote", tmp_path)
    principal = next(
        m["member"]
        for m in data["secret_iam_members"]
        if m["member"].endswith("/ns/astro-agent-batch/sa/astro-agent-worker")
    )
    readers = accessors(data["secret_iam_members"])
    fake = FakeSecretManager("acme-ml-prod", data["secrets"], readers, principal).install(
        monkeypatch
    )
    assert env["AIRFLOW__SECRETS__BACKEND"] == (
        "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
    )
    backend = CloudSecretManagerBackend(**json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"]))
    conn = backend.get_connection(d["connection_id"])
    assert conn is not None and conn.conn_type == "kubernetes"
    assert conn.extra_dejson == {"in_cluster": True, "namespace": "airflow-batch"}
    # ml-training's (hosted) connection exists; the agent's principal is refused it.
    assert "airflow-connections-gke_gpu" in data["secrets"]
    assert backend.get_connection("gke_gpu") is None
    assert [c["principal"] for c in fake.calls] == [principal, principal]


def test_an_external_agent_goes_the_hosted_way_as_its_google_service_account(
    remote: dict[str, dict[str, Any]],
) -> None:
    """Its environment from `make agent-values`; gcloud signed in as the agent's Google service
    account mints the launcher's token (it holds Token Creator on it); the DNS endpoint's IAM gate
    and RBAC let the launcher in, in its namespace only."""
    r = remote["remote-external"]
    d = r["deployment"]
    agent = "astro-agent-batch@acme-agents.iam.gserviceaccount.com"
    assert (d["execution"], d["agent"]["placement"], d["auth_mode"]) == (
        "remote",
        "external",
        "impersonation",
    )
    assert r["astro_identity"] == agent
    assert r["state"] == "success"
    assert r["xcoms"]["return_value"] == {"answer": 42}
    launcher = d["launcher_email"]
    assert {(c["user"], c["via"], c["status"]) for c in r["calls"]} == {(launcher, agent, 200)}
    assert {(g["endpoint"], g["caller"], g["status"]) for g in r["google"]} == {
        ("token", agent, 200),
        ("generateAccessToken", agent, 200),
    }
    assert r["exec"]["args"] == ["--impersonate_service_account", launcher]
    assert r["connection_extra"]["in_cluster"] is False
    assert r["pod"]["metadata"]["namespace"] == "airflow-analytics"
