"""Typical creation times per resource type, for the deploy-time estimate in `make preview`.

These are typical values, not guarantees: the real time depends on region, quota and load. Each
entry says where the number comes from; "estimate" marks a single fast API call with no public
measurement at hand (seconds at most). Component resources take no time: the engine creates no
cloud object for them.
"""

from __future__ import annotations

from typing import NamedTuple


class Timing(NamedTuple):
    seconds: int
    source: str


CREATION: dict[str, Timing] = {
    "gcp:container/cluster:Cluster": Timing(
        420,
        '5-8 min observed: isovalent/gke-test-cluster-operator#13 ("ContainerCluster takes around 5m"), '
        "eclipse-theia/theia-cloud#336 (over 8 min with a default pool); removing the default pool is "
        "part of the create",
    ),
    "gcp:container/nodePool:NodePool": Timing(
        150,
        "1.5-3 min observed in hashicorp/terraform-provider-google#13178; a pool at 0 nodes boots no VM",
    ),
    "gcp:compute/network:Network": Timing(
        40, "58 s observed in turbot/steampipe-plugin-gcp#214; often 20-40 s"
    ),
    "gcp:compute/subnetwork:Subnetwork": Timing(
        20, "estimate: regional operation, tens of seconds"
    ),
    "gcp:compute/router:Router": Timing(15, "estimate: regional operation"),
    "gcp:compute/routerNat:RouterNat": Timing(25, "estimate: updates the router, tens of seconds"),
    "gcp:compute/firewall:Firewall": Timing(10, "estimate: one global operation, seconds"),
    "gcp:serviceaccount/account:Account": Timing(
        6, "6 s observed in turbot/steampipe-plugin-gcp#214"
    ),
    "gcp:projects/iAMMember:IAMMember": Timing(
        8, "estimate: read-modify-write of the project IAM policy"
    ),
    "gcp:projects/iAMCustomRole:IAMCustomRole": Timing(3, "estimate: one API call"),
    "gcp:projects/serviceIdentity:ServiceIdentity": Timing(5, "estimate: one API call"),
    "gcp:serviceaccount/iAMMember:IAMMember": Timing(
        5, "estimate: read-modify-write of one policy"
    ),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": Timing(
        5, "estimate: one policy"
    ),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": Timing(5, "estimate: one policy"),
    "gcp:secretmanager/secret:Secret": Timing(2, "estimate: one API call"),
    "gcp:secretmanager/secretVersion:SecretVersion": Timing(2, "estimate: one API call"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": Timing(5, "estimate: one policy"),
    "pulumi:providers:kubernetes": Timing(0, "a provider configures a client; nothing is created"),
}
KUBERNETES_OBJECT = Timing(1, "estimate: one API server request")
DEFAULT = Timing(5, "estimate for a type not listed")

# Kubernetes objects that need schedulable nodes, or (ComputeClass) the pools themselves: its
# priorities list the pools' generated names, known only once they exist. Anything else waiting on
# a node pool waits for nothing it uses.
NEEDS_NODES = frozenset(
    {
        "kubernetes:cloud.google.com/v1:ComputeClass",
        "kubernetes:core/v1:Pod",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:batch/v1:Job",
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:helm.sh/v4:Chart",
    }
)


def creation(resource_type: str) -> Timing:
    if resource_type in CREATION:
        return CREATION[resource_type]
    if resource_type.startswith("kubernetes:"):
        return KUBERNETES_OBJECT
    return DEFAULT


def render() -> str:
    """The table of these numbers (docs/offline-proof.md)."""
    lines = ["| resource type | typical seconds | source |", "| --- | --- | --- |"]
    for kind, timing in sorted(CREATION.items()):
        lines.append(f"| `{kind}` | {timing.seconds} | {timing.source} |")
    lines.append(
        f"| other `kubernetes:*` objects | {KUBERNETES_OBJECT.seconds} | {KUBERNETES_OBJECT.source} |"
    )
    lines.append(f"| anything else | {DEFAULT.seconds} | {DEFAULT.source} |")
    return "\n".join(lines)
