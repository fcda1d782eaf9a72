"""The network: VPC, subnet, router, Cloud NAT and firewall (terraform-provider-google)."""

from __future__ import annotations

from typing import Any

from offline.forcenew_tables.fields import UB, Field, R, U

# google/services/compute/resource_compute_network.go @ 017d2f58149ba6a5cd786ac9e6bd81ea308e9290
NETWORK: dict[str, Field] = {
    "name": R,
    "project": R,
    "autoCreateSubnetworks": R,
    "description": R,
    "internalIpv6Range": R,
    "networkProfile": R,
    "routingMode": U,
    "mtu": U,
    "enableUlaInternalIpv6": U,
    "deleteDefaultRoutesOnCreate": U,
    "networkFirewallPolicyEnforcementOrder": U,
}


def _cidr_shrinks(old: Any, new: Any) -> bool:
    """resource_compute_subnetwork.go `IsShrinkageIpCidr` (customdiff.ForceNewIfChange on
    ip_cidr_range): an expansion is an update, anything else replaces."""
    import ipaddress

    try:
        o, n = ipaddress.ip_network(str(old)), ipaddress.ip_network(str(new))
    except ValueError:
        return True
    return not (o.version == n.version and o.subnet_of(n))  # type: ignore[arg-type]


# google/services/compute/resource_compute_subnetwork.go @ 0110d02a6c9d687b9b1c9f51c0d0497e319eea4d
SUBNETWORK: dict[str, Field] = {
    "name": R,
    "project": R,
    "network": R,
    "region": R,
    "description": R,
    "purpose": R,
    "ipCidrRange": Field(False, when=_cidr_shrinks, note="replaced unless the range only grows"),
    "privateIpGoogleAccess": U,
    "privateIpv6GoogleAccess": U,
    "stackType": U,
    "role": U,
    "secondaryIpRanges": U,
    "logConfig": UB,
    "logConfig.aggregationInterval": U,
    "logConfig.flowSampling": U,
    "logConfig.metadata": U,
    "logConfig.metadataFields": U,
    "logConfig.filterExpr": U,
}

# google/services/compute/resource_compute_router.go @ 07fc8657afe854e6679f9e01de04f96955a1f910
ROUTER: dict[str, Field] = {
    "name": R,
    "project": R,
    "network": R,
    "region": R,
    "encryptedInterconnectRouter": R,
    "description": U,
    "bgp": U,
}

# google/services/compute/resource_compute_router_nat.go @ 054ced1c7461e561866ecb24de20aacc27cc6901
ROUTER_NAT: dict[str, Field] = {
    "name": R,
    "project": R,
    "router": R,
    "region": R,
    "endpointTypes": R,
    "natIpAllocateOption": U,
    "sourceSubnetworkIpRangesToNat": U,
    "subnetworks": U,
    "natIps": U,
    "drainNatIps": U,
    "minPortsPerVm": U,
    "maxPortsPerVm": U,
    "enableDynamicPortAllocation": U,
    "enableEndpointIndependentMapping": U,
    "icmpIdleTimeoutSec": U,
    "tcpEstablishedIdleTimeoutSec": U,
    "tcpTransitoryIdleTimeoutSec": U,
    "tcpTimeWaitTimeoutSec": U,
    "udpIdleTimeoutSec": U,
    "autoNetworkTier": U,
    "rules": U,
    "logConfig": UB,
    "logConfig.enable": U,
    "logConfig.filter": U,
}

# google/services/compute/resource_compute_firewall.go @ 07fc8657afe854e6679f9e01de04f96955a1f910
FIREWALL: dict[str, Field] = {
    "name": R,
    "project": R,
    "direction": R,
    "params": R,
    "network": U,
    "allows": U,
    "denies": U,
    "description": U,
    "destinationRanges": U,
    "disabled": U,
    "priority": U,
    "sourceRanges": U,
    "sourceServiceAccounts": U,
    "sourceTags": U,
    "targetServiceAccounts": U,
    "targetTags": U,
    "logConfig": UB,
    "logConfig.metadata": U,
}
