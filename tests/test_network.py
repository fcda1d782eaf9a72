"""The stack-created network (default) and the existing-network mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from offline import runner
from tests.conftest import CLUSTER


def test_created_network_exact(dev: runner.Run) -> None:
    vpc = dev.one("gcp:compute/network:Network")
    assert vpc.inputs == {
        "name": "astro-gpu-dev",
        "project": "acme-ml-dev",
        "autoCreateSubnetworks": False,
        "routingMode": "REGIONAL",
        "description": "GKE GPU cluster network (managed by Pulumi)",
    }
    subnet = dev.one("gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs == {
        "name": "astro-gpu-dev-nodes",
        "project": "acme-ml-dev",
        "region": "us-central1",
        "network": "projects/acme-ml-dev/global/networks/astro-gpu-dev",
        "ipCidrRange": "10.10.0.0/20",
        "privateIpGoogleAccess": True,
        "secondaryIpRanges": [
            {"rangeName": "pods", "ipCidrRange": "10.16.0.0/14"},
            {"rangeName": "services", "ipCidrRange": "10.20.0.0/20"},
        ],
        "logConfig": {
            "aggregationInterval": "INTERVAL_10_MIN",
            "flowSampling": 0.5,
            "metadata": "INCLUDE_ALL_METADATA",
        },
    }


def test_cloud_nat_for_private_nodes_only_on_this_subnet(dev: runner.Run) -> None:
    router = dev.one("gcp:compute/router:Router")
    assert router.inputs["region"] == "us-central1"
    nat = dev.one("gcp:compute/routerNat:RouterNat")
    assert nat.inputs == {
        "name": "astro-gpu-dev-nat",
        "project": "acme-ml-dev",
        "region": "us-central1",
        "router": "astro-gpu-dev-router",
        "natIpAllocateOption": "AUTO_ONLY",
        "sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
        "subnetworks": [
            {
                "name": "projects/acme-ml-dev/regions/us-central1/subnetworks/astro-gpu-dev-nodes",
                "sourceIpRangesToNats": ["ALL_IP_RANGES"],
            }
        ],
        "logConfig": {"enable": True, "filter": "ERRORS_ONLY"},
    }


def test_existing_network_creates_no_network_resources(run_with: Callable[..., runner.Run]) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["network"] = {
            "mode": "existing",
            "network": "projects/acme-host/global/networks/shared",
            "subnetwork": "projects/acme-host/regions/us-central1/subnetworks/gke-gpu",
            "pods_range_name": "gke-pods",
            "services_range_name": "gke-services",
        }

    run = run_with(mutate)
    assert [r for r in run.registrations if r.type.startswith("gcp:compute/")] == []
    assert run.of_type("astro-gke-gpu:network:Network") == []
    i = run.one(CLUSTER).inputs
    assert i["network"] == "projects/acme-host/global/networks/shared"
    assert i["subnetwork"] == "projects/acme-host/regions/us-central1/subnetworks/gke-gpu"
    assert i["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "gke-pods",
        "servicesSecondaryRangeName": "gke-services",
    }


def test_flow_logs_can_be_turned_off(run_with: Callable[..., runner.Run]) -> None:
    run = run_with(lambda c: c["network"].update(flow_logs=False))
    assert "logConfig" not in run.one("gcp:compute/subnetwork:Subnetwork").inputs
