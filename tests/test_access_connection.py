"""The Airflow access path, the connection secret: its id, labels and replication, the payload
(secret in state, a Kubernetes connection without credentials, the kubeconfig per endpoint and
mode), and the deployer's Kubernetes provider."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from offline import runner
from offline.mocks import PLACEHOLDER_CA_PEM
from tests.airflow_access_common import (
    LAUNCHER_DEV,
    LAUNCHER_TRAINING,
    SECRET,
    SECRET_VERSION,
    payload,
)

# --- The connection secret ---------------------------------------------------------------------


def test_secret_id_matches_the_backend_pattern(dev: runner.Run, prod: runner.Run) -> None:
    for run in (dev, prod):
        for secret in run.of_type(SECRET):
            secret_id = secret.inputs["secretId"]
            assert re.fullmatch(r"^[a-zA-Z0-9-_]*$", secret_id) and "--" not in secret_id
    assert dev.one(SECRET).inputs["secretId"] == "airflow-connections-gke_gpu"
    assert {s.inputs["secretId"] for s in prod.of_type(SECRET)} == {
        "airflow-connections-gke_gpu",
        "airflow-connections-gke_gpu_reporting",
        "airflow-connections-gke_gpu_batch",
    }


def test_secret_labels_and_replication(dev: runner.Run, prod: runner.Run) -> None:
    secret = dev.one(SECRET)
    assert secret.inputs["labels"] == {
        "team": "data-platform",
        "cost-center": "ml-dev",
        "environment": "dev",
        "managed-by": "pulumi",
        "airflow-deployment": "analytics",
        "purpose": "airflow-connection",
    }
    assert secret.inputs["replication"] == {"auto": {}}
    for s in prod.of_type(SECRET):
        assert s.inputs["replication"] == {
            "userManaged": {"replicas": [{"location": "us-central1"}, {"location": "us-east1"}]}
        }


def test_payload_is_secret_in_state(dev: runner.Run, prod: runner.Run) -> None:
    for run in (dev, prod):
        for version in run.of_type(SECRET_VERSION):
            assert version.secret_inputs == {"secretData"}


def test_payload_is_a_kubernetes_connection_without_credentials(dev: runner.Run) -> None:
    conn = payload(dev, "analytics")
    assert set(conn) == {"conn_type", "description", "extra"}  # no conn_id, login or password
    assert conn["conn_type"] == "kubernetes"
    assert conn["extra"]["namespace"] == "airflow-analytics"
    assert conn["extra"]["in_cluster"] is False
    text = json.dumps(conn)
    for forbidden in ("token", "client-key", "client-certificate", "password", "username"):
        assert forbidden not in text


def test_kubeconfig_structure_dns_mode(dev: runner.Run) -> None:
    kc = payload(dev, "analytics")["extra"]["kube_config"]
    endpoint = dev.outputs["cluster_endpoint"]
    assert kc == {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        # DNS endpoint: publicly trusted certificate, so no CA is pinned (gcloud does the same).
        "clusters": [{"name": "astro-gpu-dev", "cluster": {"server": f"https://{endpoint}"}}],
        "users": [
            {
                "name": "astro-gpu-dev",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "args": ["--impersonate_service_account", LAUNCHER_DEV],
                        "installHint": kc["users"][0]["user"]["exec"]["installHint"],
                        "provideClusterInfo": False,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [
            {
                "name": "astro-gpu-dev",
                "context": {
                    "cluster": "astro-gpu-dev",
                    "user": "astro-gpu-dev",
                    "namespace": "airflow-analytics",
                },
            }
        ],
        "current-context": "astro-gpu-dev",
    }
    assert "gke-gcloud-auth-plugin" in kc["users"][0]["user"]["exec"]["installHint"]


def test_exec_args_per_mode(prod: runner.Run) -> None:
    training = payload(prod, "ml-training")["extra"]["kube_config"]["users"][0]["user"]["exec"]
    reporting = payload(prod, "reporting")["extra"]["kube_config"]["users"][0]["user"]["exec"]
    assert training["args"] == ["--impersonate_service_account", LAUNCHER_TRAINING]
    assert reporting["args"] == ["--use_application_default_credentials"]


def test_ca_passed_through_unchanged_on_the_ip_endpoint(
    run_with: Callable[..., runner.Run],
) -> None:
    def authorized_networks(c: dict[str, Any]) -> None:
        c["cluster"]["control_plane"] = {
            "access": "authorized_networks",
            "authorized_networks": [{"cidr_block": "198.51.100.7/32", "display_name": "astro"}],
        }

    run = run_with(authorized_networks)
    cluster = run.one("gcp:container/cluster:Cluster")
    ca = cluster.outputs["masterAuth"]["clusterCaCertificate"]
    kc = payload(run, "analytics")["extra"]["kube_config"]
    assert kc["clusters"] == [
        {
            "name": "astro-gpu-dev",
            "cluster": {"server": "https://203.0.113.10", "certificate-authority-data": ca},
        }
    ]
    # Exactly GKE's value: base64 of the PEM once, not base64 of base64.
    assert (
        base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        == PLACEHOLDER_CA_PEM
    )


def test_deployer_provider_uses_adc_and_the_cluster_endpoint(dev: runner.Run) -> None:
    provider = dev.one("pulumi:providers:kubernetes")
    kc = json.loads(provider.inputs["kubeconfig"])
    assert kc["clusters"][0]["cluster"] == {"server": f"https://{dev.outputs['cluster_endpoint']}"}
    assert kc["users"][0]["user"]["exec"]["args"] == ["--use_application_default_credentials"]
    assert "namespace" not in kc["contexts"][0]["context"]
