"""Violation cases for policies/astro_gke_policies/gke.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from typing import Any

from tests.policy_pack.mutations import (
    CLUSTER,
    DELETE,
    Case,
    edit,
    set_path,
)


def _open_to_the_world(wire: dict[str, Any]) -> None:
    wire["controlPlaneEndpointsConfig"]["ipEndpointsConfig"]["enabled"] = True
    wire["masterAuthorizedNetworksConfig"] = {
        "cidrBlocks": [{"cidrBlock": "0.0.0.0/0", "displayName": "all"}]
    }


CASES: list[Case] = [
    (
        "gke-private-nodes",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("privateClusterConfig", "enablePrivateNodes", value=False)),
        "enablePrivateNodes",
        {},
    ),
    (
        "gke-control-plane-not-public",
        "dev",
        "mandatory",
        edit(CLUSTER, None, _open_to_the_world),
        "0.0.0.0/0 opens the control plane to the internet",
        {},
    ),
    (
        "gke-workload-identity",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("workloadIdentityConfig", value=DELETE)),
        "workloadPool",
        {},
    ),
    (
        "gke-shielded-nodes",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("enableShieldedNodes", value=False)),
        "enableShieldedNodes",
        {},
    ),
    (
        "gke-network-policy",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("datapathProvider", value="LEGACY_DATAPATH")),
        "Dataplane V2",
        {},
    ),
    (
        "gke-release-channel",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("releaseChannel", "channel", value="UNSPECIFIED")),
        "releaseChannel",
        {},
    ),
    (
        "gke-no-client-certificate",
        "dev",
        "mandatory",
        edit(
            CLUSTER,
            None,
            set_path("masterAuth", "clientCertificateConfig", "issueClientCertificate", value=True),
        ),
        "issueClientCertificate",
        {},
    ),
    (
        "gke-legacy-abac-disabled",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("enableLegacyAbac", value=True)),
        "enableLegacyAbac",
        {},
    ),
    (
        "gke-logging-monitoring",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("loggingService", value="none")),
        "loggingService",
        {},
    ),
    (
        "gke-vpc-native",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("networkingMode", value="ROUTES")),
        "VPC-native",
        {},
    ),
    (
        "gke-labels",
        "dev",
        "advisory",
        edit(CLUSTER, None, set_path("resourceLabels", value={})),
        "resourceLabels",
        {},
    ),
    (
        "gke-deletion-protection-prod",
        "prod",
        "mandatory",
        edit(CLUSTER, None, set_path("deletionProtection", value=False)),
        "stack prod is production",
        {},
    ),
    (
        "gke-allowed-region",
        "dev",
        "mandatory",
        lambda regs: regs,
        "outside the allowed regions europe-west4",
        {"allowedRegions": ["europe-west4"]},
    ),
    (
        "gke-intranode-visibility-prod",
        "prod",
        "mandatory",
        edit(CLUSTER, None, set_path("enableIntranodeVisibility", value=False)),
        "stack prod is production: enableIntranodeVisibility must be true",
        {},
    ),
    (
        "gke-binary-authorization-prod",
        "prod",
        "mandatory",
        edit(CLUSTER, None, set_path("binaryAuthorization", "evaluationMode", value="DISABLED")),
        "must enforce the project policy, not DISABLED",
        {},
    ),
]
