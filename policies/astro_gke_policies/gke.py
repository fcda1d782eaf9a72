"""GKE cluster policies, and what the node pool policies (nodes.py, capacity.py) share: the
resource types, the pack's defaults, the production-stack setting, node config accessors."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, ResourceValidationPolicy

from astro_gke_policies.define import ADVISORY, MANDATORY, Meta, of_type, resource_policy
from astro_gke_policies.props import config_value, get, items, stack_of, text

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
is_cluster = of_type(CLUSTER)
is_pool = of_type(NODE_POOL)
is_cluster_or_pool = of_type(CLUSTER, NODE_POOL)

# The pack is standalone, so the list ships in its package (accelerators.json, with its sources);
# the stack's catalog reads the same file (components/gke/catalog.py ACCELERATORS).
ACCELERATORS_FILE = "accelerators.json"
DEFAULT_ACCELERATORS: tuple[str, ...] = tuple(
    json.loads(resources.files("astro_gke_policies").joinpath(ACCELERATORS_FILE).read_text())[
        "accelerators"
    ]
)
DEFAULT_MAX_GPU_NODES = 16
DEFAULT_PROD_STACKS = ("prod", "production")


def string_list_schema(key: str, default: tuple[str, ...], description: str) -> PolicyConfigSchema:
    """A policy setting that is a list of strings, with its default (applied by the policies
    themselves: the SDK does not apply schema defaults)."""
    return PolicyConfigSchema(
        properties={
            key: {
                "type": "array",
                "items": {"type": "string"},
                "default": list(default),
                "description": description,
            }
        }
    )


PROD_STACKS_SCHEMA = string_list_schema(
    "prodStacks", DEFAULT_PROD_STACKS, "Stack names that count as production."
)


def is_prod(args: ResourceValidationArgs) -> bool:
    return stack_of(args.urn) in tuple(config_value(args, "prodStacks", DEFAULT_PROD_STACKS))


def node_configs(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The node configs a resource defines: a pool's, or a cluster's (its default pool)."""
    config = get(props, "nodeConfig")
    return [config] if isinstance(config, Mapping) else []


def gpu_accelerators(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        a for a in items(get(props, "nodeConfig", "guestAccelerators")) if isinstance(a, Mapping)
    ]


# --- Cluster ---------------------------------------------------------------------------------


def _private_nodes(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "privateClusterConfig", "enablePrivateNodes") is not True:
        yield "privateClusterConfig.enablePrivateNodes must be true: nodes get no external IP."


def _control_plane_not_public(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    blocks = items(get(props, "masterAuthorizedNetworksConfig", "cidrBlocks"))
    for block in blocks:
        cidr = text(block, "cidrBlock")
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            yield f"authorized network {cidr!r} is not a CIDR."
            continue
        if network.prefixlen == 0:
            yield f"authorized network {cidr} opens the control plane to the internet."
    if get(props, "masterAuthorizedNetworksConfig", "gcpPublicCidrsAccessEnabled") is True:
        yield "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled lets every Google Cloud IP in."
    ip_enabled = get(
        props, "controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled", default=True
    )
    if ip_enabled is not False and not blocks:
        yield "the IP endpoint is on without authorized networks: disable it (DNS endpoint) or list networks."


def _workload_identity(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not get(props, "workloadIdentityConfig", "workloadPool"):
        yield "workloadIdentityConfig.workloadPool must be set (<project>.svc.id.goog)."


def _shielded_nodes(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "enableShieldedNodes") is False:
        yield "enableShieldedNodes must not be false."


def _network_policy(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    dataplane_v2 = get(props, "datapathProvider") == "ADVANCED_DATAPATH"
    calico = get(props, "networkPolicy", "enabled") is True
    if not (dataplane_v2 or calico):
        yield "enable Dataplane V2 (datapathProvider ADVANCED_DATAPATH) so NetworkPolicies are enforced."


def _release_channel(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "releaseChannel", "channel") not in ("RAPID", "REGULAR", "STABLE", "EXTENDED"):
        yield "releaseChannel.channel must be RAPID, REGULAR, STABLE or EXTENDED."


def _no_client_certificate(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "masterAuth", "clientCertificateConfig", "issueClientCertificate") is True:
        yield "masterAuth.clientCertificateConfig.issueClientCertificate must be false."


def _legacy_abac_off(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "enableLegacyAbac") is True:
        yield "enableLegacyAbac must be false."


def _logging_monitoring(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for key in ("loggingService", "monitoringService"):
        if get(props, key) == "none":
            yield f"{key} must not be 'none'."
    if get(props, "loggingConfig") is not None and not items(
        get(props, "loggingConfig", "enableComponents")
    ):
        yield "loggingConfig.enableComponents must not be empty."


def _vpc_native(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if (
        get(props, "networkingMode", default="VPC_NATIVE") != "VPC_NATIVE"
        or get(props, "ipAllocationPolicy") is None
    ):
        yield "the cluster must be VPC-native (networkingMode VPC_NATIVE with an ipAllocationPolicy)."


def _labels(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not get(props, "resourceLabels"):
        yield "resourceLabels must not be empty (cost attribution, ownership)."


def _deletion_protection_prod(
    props: Mapping[str, Any], args: ResourceValidationArgs
) -> Iterator[str]:
    if is_prod(args) and get(props, "deletionProtection") is not True:
        yield f"stack {stack_of(args.urn)} is production: deletionProtection must be true."


def _intranode_visibility_prod(
    props: Mapping[str, Any], args: ResourceValidationArgs
) -> Iterator[str]:
    if is_prod(args) and get(props, "enableIntranodeVisibility") is not True:
        yield (
            f"stack {stack_of(args.urn)} is production: enableIntranodeVisibility must be true "
            "(pod-to-pod traffic on one node is otherwise invisible to flow logs and firewalls)."
        )


ENFORCING_BINAUTHZ = (
    "PROJECT_SINGLETON_POLICY_ENFORCE",
    "POLICY_BINDINGS_AND_PROJECT_SINGLETON_POLICY_ENFORCE",
)


def _binary_authorization_prod(
    props: Mapping[str, Any], args: ResourceValidationArgs
) -> Iterator[str]:
    mode = text(props, "binaryAuthorization", "evaluationMode")
    if is_prod(args) and mode not in ENFORCING_BINAUTHZ:
        yield (
            f"stack {stack_of(args.urn)} is production: binaryAuthorization.evaluationMode must "
            f"enforce the project policy, not {mode or 'unset'}."
        )


def _allowed_region(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    allowed = tuple(config_value(args, "allowedRegions", ()))
    if not allowed:
        return
    location = text(props, "location")
    region = location if location.count("-") == 1 else location.rsplit("-", 1)[0]
    if region not in allowed:
        yield f"location {location} is outside the allowed regions {', '.join(allowed)}."


def policies() -> list[ResourceValidationPolicy]:
    cluster_rules = [
        (
            Meta(
                "gke-private-nodes",
                "GKE nodes have no external IP addresses.",
                MANDATORY,
                "CIS GKE 5.6.5",
                "CKV_GCP_64",
            ),
            _private_nodes,
        ),
        (
            Meta(
                "gke-control-plane-not-public",
                "The control plane is not open to the internet: IP endpoint off, or authorized networks only.",
                MANDATORY,
                "CIS GKE 5.6.3",
                "CKV_GCP_20",
            ),
            _control_plane_not_public,
        ),
        (
            Meta(
                "gke-workload-identity",
                "Workload Identity is enabled on the cluster.",
                MANDATORY,
                "CIS GKE 5.2.2",
                "CKV_GCP_69",
            ),
            _workload_identity,
        ),
        (
            Meta(
                "gke-shielded-nodes",
                "Shielded GKE nodes are enabled.",
                MANDATORY,
                "CIS GKE 5.5.5",
                "CKV_GCP_71",
            ),
            _shielded_nodes,
        ),
        (
            Meta(
                "gke-network-policy",
                "NetworkPolicies are enforced (Dataplane V2 or Calico).",
                MANDATORY,
                "CIS GKE 5.6.7",
                "CKV_GCP_12",
            ),
            _network_policy,
        ),
        (
            Meta(
                "gke-release-channel",
                "The cluster is enrolled in a release channel.",
                MANDATORY,
                "CIS GKE 5.5.4",
                "CKV_GCP_70",
            ),
            _release_channel,
        ),
        (
            Meta(
                "gke-no-client-certificate",
                "Client certificate authentication is disabled.",
                MANDATORY,
                "CIS GKE 5.8.1",
                "CKV_GCP_13",
            ),
            _no_client_certificate,
        ),
        (
            Meta(
                "gke-legacy-abac-disabled",
                "Legacy ABAC authorization is disabled.",
                MANDATORY,
                "CIS GKE 5.8.3",
                "CKV_GCP_7",
            ),
            _legacy_abac_off,
        ),
        (
            Meta(
                "gke-logging-monitoring",
                "Cloud Logging and Cloud Monitoring are enabled.",
                MANDATORY,
                "CIS GKE 5.7.1",
                "CKV_GCP_1",
            ),
            _logging_monitoring,
        ),
        (
            Meta(
                "gke-vpc-native",
                "The cluster is VPC-native (alias IPs).",
                MANDATORY,
                "CIS GKE 5.6.2",
                "CKV_GCP_23",
            ),
            _vpc_native,
        ),
        (
            Meta(
                "gke-labels", "The cluster carries resource labels.", ADVISORY, None, "CKV_GCP_21"
            ),
            _labels,
        ),
        (
            Meta(
                "gke-deletion-protection-prod",
                "Production clusters have deletion protection on.",
                MANDATORY,
                config_schema=PROD_STACKS_SCHEMA,
            ),
            _deletion_protection_prod,
        ),
        (
            Meta(
                "gke-intranode-visibility-prod",
                "Production clusters route pod-to-pod traffic on one node through the VPC (intranode visibility).",
                MANDATORY,
                None,
                "CKV_GCP_61",
                config_schema=PROD_STACKS_SCHEMA,
            ),
            _intranode_visibility_prod,
        ),
        (
            Meta(
                "gke-binary-authorization-prod",
                "Production clusters enforce the project's Binary Authorization policy.",
                MANDATORY,
                None,
                "CKV_GCP_66",
                config_schema=PROD_STACKS_SCHEMA,
            ),
            _binary_authorization_prod,
        ),
        (
            Meta(
                "gke-allowed-region",
                "The cluster runs in an allowed region (no restriction unless configured).",
                MANDATORY,
                config_schema=string_list_schema(
                    "allowedRegions", (), "Allowed GCP regions; empty allows every region."
                ),
            ),
            _allowed_region,
        ),
    ]
    return [resource_policy(meta, is_cluster, check) for meta, check in cluster_rules]
