"""Config validation, network and control plane access: CIDRs, an existing network, authorized
networks. Each test asserts the path and the rule in the message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.config_common import (
    assert_problem,
    problems,
)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("subnet_cidr", "10.10.0.1/20", "Input is not a valid IPv4 network"),
        ("subnet_cidr", "not-a-cidr", "Input is not a valid IPv4 network"),
        ("pods_cidr", "8.8.0.0/16", "must be a private range"),
        ("services_cidr", "10.10.4.0/24", "overlaps subnet_cidr 10.10.0.0/20"),
        ("pods_cidr", "10.8.0.0/14", "overlaps subnet_cidr 10.10.0.0/20"),
    ],
)
def test_network_cidrs(field: str, value: str, fragment: str) -> None:
    found = problems(lambda c: c["network"].update({field: value}))
    assert_problem(found, f"network.{field}", fragment)


def test_existing_network_must_be_in_cluster_region() -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["network"] = {
            "mode": "existing",
            "network": "projects/acme-host/global/networks/shared",
            "subnetwork": "projects/acme-host/regions/europe-west4/subnetworks/gke",
            "pods_range_name": "pods",
            "services_range_name": "services",
        }

    assert_problem(
        problems(mutate), "network.subnetwork", "differs from the cluster's region us-central1"
    )


def test_network_mode_must_be_known() -> None:
    found = problems(lambda c: c["network"].update(mode="borrow"))
    assert_problem(
        found, "network", "does not match any of the expected tags: 'create', 'existing'"
    )


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "128.0.0.0/1", "10.0.0.0/7"])
def test_authorized_networks_never_the_world(cidr: str) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["cluster"]["control_plane"] = {
            "access": "authorized_networks",
            "authorized_networks": [{"cidr_block": cidr, "display_name": "astro"}],
        }

    found = problems(mutate)
    assert_problem(
        found,
        "cluster.control_plane.authorized_networks[0].cidr_block",
        "0.0.0.0/0 (the internet) is never allowed",
    )


def test_authorized_networks_required_for_that_mode_and_refused_for_dns() -> None:
    found = problems(lambda c: c["cluster"].update(control_plane={"access": "authorized_networks"}))
    assert_problem(
        found, "cluster.control_plane.authorized_networks", "required (at least one range)"
    )

    def dns_with_networks(c: dict[str, Any]) -> None:
        c["cluster"]["control_plane"] = {
            "access": "dns",
            "authorized_networks": [{"cidr_block": "198.51.100.7/32", "display_name": "astro"}],
        }

    assert_problem(
        problems(dns_with_networks),
        "cluster.control_plane.authorized_networks",
        "only used with access",
    )
