"""The GKE cluster's registered inputs, exactly, for both stacks and both access modes."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.config import load
from components.gke.cluster import GkeCluster, GkeClusterArgs
from components.gke.network import NetworkRef
from offline import runner
from offline.mocks import PLACEHOLDER_CA_PEM, PROJECT_NUMBER
from tests.conftest import CLUSTER, raw_platform

HARDENED_BASELINE: dict[str, Any] = {
    "removeDefaultNodePool": True,
    "initialNodeCount": 1.0,
    "networkingMode": "VPC_NATIVE",
    "ipAllocationPolicy": {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    },
    "privateClusterConfig": {"enablePrivateNodes": True},
    "enableShieldedNodes": True,
    "datapathProvider": "ADVANCED_DATAPATH",
    "masterAuth": {"clientCertificateConfig": {"issueClientCertificate": False}},
    "enableLegacyAbac": False,
    "loggingService": "logging.googleapis.com/kubernetes",
    "monitoringService": "monitoring.googleapis.com/kubernetes",
    "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
    # DCGM on every cluster with GPU pools (issue 20, docs/observability.md).
    "monitoringConfig": {
        "enableComponents": ["SYSTEM_COMPONENTS", "DCGM"],
        "managedPrometheus": {"enabled": True},
    },
    "costManagementConfig": {"enabled": True},
    # hardening (issue 15) and idle GPUs removed sooner (issue 13), in every stack
    "enableIntranodeVisibility": True,
    "clusterAutoscaling": {"autoscalingProfile": "OPTIMIZE_UTILIZATION"},
}

TRANSIENT_DEFAULT_POOL = {
    "imageType": "COS_CONTAINERD",
    "metadata": {"disable-legacy-endpoints": "true"},
    "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
    "shieldedInstanceConfig": {"enableIntegrityMonitoring": True, "enableSecureBoot": True},
    "workloadMetadataConfig": {"mode": "GKE_METADATA"},
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_hardened_baseline(stack: str, request: pytest.FixtureRequest) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    inputs = run.one(CLUSTER).inputs
    for key, expected in HARDENED_BASELINE.items():
        assert inputs[key] == expected, key
    # The transient default pool runs as the dedicated node account, hardened like the real pools.
    node_config = dict(inputs["nodeConfig"])
    assert (
        node_config.pop("serviceAccount")
        == f"astro-gpu-{stack}-nodes@acme-ml-{stack}.iam.gserviceaccount.com"
    )
    assert node_config == TRANSIENT_DEFAULT_POOL


def test_dev_cluster_exact_settings(dev: runner.Run) -> None:
    c = dev.one(CLUSTER)
    i = c.inputs
    assert (i["name"], i["project"], i["location"]) == (
        "astro-gpu-dev",
        "acme-ml-dev",
        "us-central1-a",
    )
    assert i["controlPlaneEndpointsConfig"] == {
        "dnsEndpointConfig": {"allowExternalTraffic": True},
        "ipEndpointsConfig": {"enabled": False},
    }
    assert "masterAuthorizedNetworksConfig" not in i
    assert i["workloadIdentityConfig"] == {"workloadPool": "acme-ml-dev.svc.id.goog"}
    assert i["releaseChannel"] == {"channel": "REGULAR"}
    assert i["maintenancePolicy"] == {
        "recurringWindow": {
            "startTime": "2025-01-04T03:00:00Z",
            "endTime": "2025-01-04T09:00:00Z",
            "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
        }
    }
    assert i["resourceLabels"] == {
        "team": "data-platform",
        "cost-center": "ml-dev",
        "environment": "dev",
        "managed-by": "pulumi",
    }
    assert i["deletionProtection"] is False
    assert c.protect is False
    assert i["binaryAuthorization"] == {"evaluationMode": "DISABLED"}
    assert "databaseEncryption" not in i
    assert i["network"].endswith("/projects/acme-ml-dev/global/networks/astro-gpu-dev")
    assert i["subnetwork"].endswith(
        "/projects/acme-ml-dev/regions/us-central1/subnetworks/astro-gpu-dev-nodes"
    )
    assert c.ignore_changes == ["nodeConfig", "initialNodeCount"]


def test_prod_cluster_is_protected_and_stricter(prod: runner.Run) -> None:
    c = prod.one(CLUSTER)
    i = c.inputs
    assert i["location"] == "us-central1"  # regional
    assert i["deletionProtection"] is True
    assert c.protect is True
    assert i["releaseChannel"] == {"channel": "STABLE"}
    assert i["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    key = "projects/acme-ml-prod/locations/us-central1/keyRings/gke/cryptoKeys/etcd-secrets"
    assert i["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key}


def test_prod_kms_grant_is_on_the_key_only_for_the_gke_agent(prod: runner.Run) -> None:
    grant = prod.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert grant.inputs == {
        "cryptoKeyId": "projects/acme-ml-prod/locations/us-central1/keyRings/gke/cryptoKeys/etcd-secrets",
        "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "member": f"serviceAccount:service-{PROJECT_NUMBER}@container-engine-robot.iam.gserviceaccount.com",
    }
    # The cluster is created only after the agent may use the key.
    assert grant.urn in prod.one(CLUSTER).dependencies


def test_dev_has_no_kms_grant(dev: runner.Run) -> None:
    assert dev.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") == []


def test_authorized_networks_mode(run_with: Callable[..., runner.Run]) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["cluster"]["control_plane"] = {
            "access": "authorized_networks",
            "authorized_networks": [
                {"cidr_block": "198.51.100.7/32", "display_name": "astro-egress-1"},
                {"cidr_block": "203.0.113.0/28", "display_name": "astro-egress-2"},
            ],
        }

    i = run_with(mutate).one(CLUSTER).inputs
    assert i["controlPlaneEndpointsConfig"] == {
        "dnsEndpointConfig": {"allowExternalTraffic": False},
        "ipEndpointsConfig": {"enabled": True},
    }
    assert i["masterAuthorizedNetworksConfig"] == {
        "gcpPublicCidrsAccessEnabled": False,
        "cidrBlocks": [
            {"cidrBlock": "198.51.100.7/32", "displayName": "astro-egress-1"},
            {"cidrBlock": "203.0.113.0/28", "displayName": "astro-egress-2"},
        ],
    }
    assert i["privateClusterConfig"] == {"enablePrivateNodes": True}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_nothing_forbidden_is_registered(stack: str, request: pytest.FixtureRequest) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    # The world range appears once: as the source of the explicit deny-all ingress rule.
    deny = run.one(
        "gcp:compute/firewall:Firewall", f"{run.outputs['cluster_name']}-deny-all-ingress"
    )
    assert deny.inputs["denies"] == [{"protocol": "all"}] and "allows" not in deny.inputs
    text = repr([r.inputs for r in run.registrations if r is not deny])
    assert "0.0.0.0/0" not in text
    assert "compute@developer.gserviceaccount.com" not in text
    assert "issueClientCertificate': True" not in text
    assert run.of_type("gcp:serviceaccount/key:Key") == []


@pytest.mark.usefixtures("unit_mocks")
@pulumi.runtime.test
def test_component_exposes_dns_endpoint_and_ca_unchanged() -> pulumi.Output[Any]:
    """The component on its own (the SDK's test pattern): endpoint and CA as the cluster reports them."""
    cfg = load(raw_platform("dev"))
    cluster = GkeCluster(
        "unit",
        GkeClusterArgs(
            project_id=cfg.project_id,
            location=cfg.location,
            config=cfg.cluster,
            network=NetworkRef("net", "subnet", "pods", "services"),
            node_service_account="nodes@acme-ml-dev.iam.gserviceaccount.com",
            labels=cfg.all_labels,
        ),
    )

    def check(values: list[str]) -> None:
        endpoint, ca, name = values
        assert endpoint.endswith(".us-central1.gke.goog") and endpoint.startswith("gke-")
        assert base64.b64decode(ca).decode() == PLACEHOLDER_CA_PEM  # passed through, not re-encoded
        assert name == "astro-gpu-dev"

    return pulumi.Output.all(cluster.endpoint, cluster.ca_certificate, cluster.name).apply(check)
