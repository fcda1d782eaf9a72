"""Which input changes replace a resource: the force-new table `make preview BASE=...` reads.

pulumi-gcp is the Terraform google provider bridged to Pulumi: a property marked `ForceNew: true`
in the provider's schema makes Pulumi replace the resource when it changes. The entries below are
read from hashicorp/terraform-provider-google (file and commit per type in `SOURCES`); the
Kubernetes entries from pulumi/pulumi-kubernetes; the provider resource from its DiffConfig.

How the Terraform plugin SDK applies ForceNew (what `classify` implements):
- a scalar, a map, a set or a list of scalars marked ForceNew: any change replaces;
- a nested block (a list of objects, MaxItems 1 or not) marked ForceNew: adding or removing the
  block replaces; a change *inside* it follows the nested field's own ForceNew. So a block entry
  (`block=True`) says what adding/removing it does, and its fields have entries of their own;
- a resource without an Update function (every IAM member) has every input ForceNew (the SDK's
  InternalValidate rejects a schema that does not).

Paths are Pulumi's camelCase input names joined by dots, list indexes dropped (`nodeConfig.
guestAccelerators.count`). A path is covered when it, or a prefix that is not a block, has an
entry: `labels` covers `labels.team` (a map), `nodeConfig` does not cover `nodeConfig.foo`.
tests/test_forcenew.py fails when the stack sets an input path this table does not cover.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from offline.forcenew_tables.compute import FIREWALL, NETWORK, ROUTER, ROUTER_NAT, SUBNETWORK
from offline.forcenew_tables.container import CLUSTER, NODE_POOL
from offline.forcenew_tables.fields import RB, TPG, TPG_BETA, UB, Field, R, U, source
from offline.forcenew_tables.iam import ACCOUNT, CUSTOM_ROLE, SERVICE_IDENTITY, iam_member
from offline.forcenew_tables.kubernetes import K8S_PROVIDER, active_cluster, k8s
from offline.forcenew_tables.observability import ALERT_POLICY, AUDIT_CONFIG, DASHBOARD, LOG_METRIC
from offline.forcenew_tables.secrets import SECRET, SECRET_VERSION
from offline.forcenew_tables.storage import BUCKET

# Re-exported: the entry kinds and sources, for the tests and for entries added here.
__all__ = ["R", "RB", "TPG", "TPG_BETA", "U", "UB", "Field", "active_cluster"]

TABLE: dict[str, dict[str, Field]] = {
    "gcp:container/cluster:Cluster": CLUSTER,
    "gcp:container/nodePool:NodePool": NODE_POOL,
    "gcp:compute/network:Network": NETWORK,
    "gcp:compute/subnetwork:Subnetwork": SUBNETWORK,
    "gcp:compute/router:Router": ROUTER,
    "gcp:compute/routerNat:RouterNat": ROUTER_NAT,
    "gcp:compute/firewall:Firewall": FIREWALL,
    "gcp:serviceaccount/account:Account": ACCOUNT,
    "gcp:projects/iAMCustomRole:IAMCustomRole": CUSTOM_ROLE,
    "gcp:secretmanager/secret:Secret": SECRET,
    "gcp:secretmanager/secretVersion:SecretVersion": SECRET_VERSION,
    "gcp:projects/iAMMember:IAMMember": iam_member("project"),
    "gcp:serviceaccount/iAMMember:IAMMember": iam_member("serviceAccountId"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": iam_member("project", "secretId"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": iam_member("cryptoKeyId"),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": iam_member(
        "project", "location", "repository"
    ),
    "gcp:projects/serviceIdentity:ServiceIdentity": SERVICE_IDENTITY,
    "gcp:storage/bucket:Bucket": BUCKET,
    "gcp:storage/bucketIAMMember:BucketIAMMember": iam_member("bucket"),
    "kubernetes:core/v1:ServiceAccount": k8s(
        automountServiceAccountToken=U, secrets=U, imagePullSecrets=U
    ),
    "kubernetes:core/v1:Namespace": k8s(spec=U),
    "kubernetes:core/v1:ResourceQuota": k8s(
        spec=UB, spec__hard=U, spec__scopeSelector=U, spec__scopes=R
    ),
    "kubernetes:core/v1:LimitRange": k8s(spec=U),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": k8s(spec=U),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": k8s(rules=U),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": k8s(roleRef=R, subjects=U),
    # diff.go lists `.spec` only for policy/v1beta1 PodDisruptionBudget; policy/v1 updates it.
    "kubernetes:policy/v1:PodDisruptionBudget": k8s(spec=U),
    # A custom resource: diff.go lists no kind-specific forceNew path for it, so only
    # metadata.name/namespace replace; its spec is applied to the live object.
    "kubernetes:cloud.google.com/v1:ComputeClass": k8s(spec=U),
    # diff.go: ClusterRoleBinding `.roleRef` replaces (as RoleBinding); ClusterRole none; apps/v1
    # Deployment `.spec.selector` (and its matchLabels/matchExpressions) replaces.
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": k8s(rules=U),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": k8s(roleRef=R, subjects=U),
    "kubernetes:apps/v1:Deployment": k8s(
        spec=UB,
        spec__replicas=U,
        spec__selector=R,
        spec__template=U,
    ),
    # A custom resource (GKE's managed-collection CRD): only metadata.name/namespace replace.
    "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring": k8s(spec=U),
    # diff.go lists apps/v1 `.spec.selector` under the kind "Daemonset" (lower-case s), which the
    # kind DaemonSet does not match: only metadata.name/namespace replace; a changed selector is
    # sent as an update the API server refuses (immutable in apps/v1). The stack never changes it.
    "kubernetes:apps/v1:DaemonSet": k8s(
        spec=UB,
        spec__selector=Field(False, note="an update the API server refuses (immutable)"),
        spec__updateStrategy=U,
        spec__template=U,
    ),
    # diff.go core/v1 ConfigMap: `.data` and `.binaryData` replace.
    "kubernetes:core/v1:ConfigMap": k8s(data=R),
    # Kueue's custom resources (opt-in GPU sharing): diff.go lists no path for them, so only
    # metadata.name/namespace replace. A LocalQueue's spec.clusterQueue is immutable in Kueue's CRD
    # (x-kubernetes-validations `self == oldSelf`): an update the API server refuses.
    "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor": k8s(spec=U),
    "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue": k8s(spec=U),
    "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue": k8s(
        spec=UB,
        spec__clusterQueue=Field(False, note="an update the API server refuses (immutable)"),
    ),
    # The ProvisioningRequest check (kueue.provisioning_request): an AdmissionCheck's
    # spec.controllerName is immutable in Kueue's CRD (sigs.k8s.io/kueue@v0.19.2
    # config/components/crd/bases/kueue.x-k8s.io_admissionchecks.yaml, `self == oldSelf`).
    "kubernetes:kueue.x-k8s.io/v1beta2:AdmissionCheck": k8s(
        spec=UB,
        spec__controllerName=Field(False, note="an update the API server refuses (immutable)"),
        spec__parameters=U,
    ),
    "kubernetes:kueue.x-k8s.io/v1beta2:ProvisioningRequestConfig": k8s(spec=U),
    "gcp:monitoring/alertPolicy:AlertPolicy": ALERT_POLICY,
    "gcp:monitoring/dashboard:Dashboard": DASHBOARD,
    "gcp:logging/metric:Metric": LOG_METRIC,
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": AUDIT_CONFIG,
    "pulumi:providers:kubernetes": K8S_PROVIDER,
}


_CONTAINER = "google/services/container/"
_COMPUTE = "google/services/compute/"
_RM = "google/services/resourcemanager/"
_SM = "google/services/secretmanager/"
_NODE_CONFIG = source(TPG, _CONTAINER + "node_config.go", "00b984c6")
_IAM = source(TPG, "google/tpgiamresource/resource_iam_member.go", "0262be69")
_K8S_DIFF = source("pulumi/pulumi-kubernetes", "provider/pkg/provider/diff.go", "00302beb")

# Where each type's entries come from (cited in docs/change-review.md, on `make preview BASE=...`).
SOURCES: dict[str, str] = {
    "gcp:container/cluster:Cluster": source(
        TPG, _CONTAINER + "resource_container_cluster.go", "0297605c"
    )
    + f", {_NODE_CONFIG}",
    "gcp:container/nodePool:NodePool": source(
        TPG, _CONTAINER + "resource_container_node_pool.go", "069a33d4"
    )
    + f", {_NODE_CONFIG}",
    "gcp:compute/network:Network": source(
        TPG, _COMPUTE + "resource_compute_network.go", "017d2f58"
    ),
    "gcp:compute/subnetwork:Subnetwork": source(
        TPG, _COMPUTE + "resource_compute_subnetwork.go", "0110d02a"
    ),
    "gcp:compute/router:Router": source(TPG, _COMPUTE + "resource_compute_router.go", "07fc8657"),
    "gcp:compute/routerNat:RouterNat": source(
        TPG, _COMPUTE + "resource_compute_router_nat.go", "054ced1c"
    ),
    "gcp:compute/firewall:Firewall": source(
        TPG, _COMPUTE + "resource_compute_firewall.go", "07fc8657"
    ),
    "gcp:serviceaccount/account:Account": source(
        TPG, _RM + "resource_google_service_account.go", "0540ffed"
    ),
    "gcp:projects/iAMCustomRole:IAMCustomRole": source(
        TPG, _RM + "resource_google_project_iam_custom_role.go", "2f152ea2"
    ),
    "gcp:secretmanager/secret:Secret": source(
        TPG, _SM + "resource_secret_manager_secret.go", "01ddfb1d"
    ),
    "gcp:secretmanager/secretVersion:SecretVersion": source(
        TPG, _SM + "resource_secret_manager_secret_version.go", "158d84c7"
    ),
    "gcp:projects/iAMMember:IAMMember": _IAM,
    "gcp:serviceaccount/iAMMember:IAMMember": _IAM,
    "gcp:secretmanager/secretIamMember:SecretIamMember": _IAM,
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _IAM,
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _IAM,
    "gcp:projects/serviceIdentity:ServiceIdentity": source(
        TPG_BETA,
        "google-beta/services/resourcemanager/resource_project_service_identity.go",
        "7d060ee7",
    ),
    "gcp:storage/bucket:Bucket": source(
        TPG, "google/services/storage/resource_storage_bucket.go", "0262be69"
    ),
    "gcp:storage/bucketIAMMember:BucketIAMMember": _IAM,
    "kubernetes:core/v1:Namespace": _K8S_DIFF,
    "kubernetes:core/v1:ServiceAccount": _K8S_DIFF,
    "kubernetes:core/v1:ResourceQuota": _K8S_DIFF,
    "kubernetes:core/v1:LimitRange": _K8S_DIFF,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _K8S_DIFF,
    "kubernetes:rbac.authorization.k8s.io/v1:Role": _K8S_DIFF,
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": _K8S_DIFF,
    "kubernetes:policy/v1:PodDisruptionBudget": _K8S_DIFF,
    "kubernetes:cloud.google.com/v1:ComputeClass": _K8S_DIFF,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": _K8S_DIFF,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": _K8S_DIFF,
    "kubernetes:apps/v1:Deployment": _K8S_DIFF,
    "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring": _K8S_DIFF,
    "kubernetes:apps/v1:DaemonSet": _K8S_DIFF,
    "kubernetes:core/v1:ConfigMap": _K8S_DIFF,
    "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor": _K8S_DIFF,
    "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue": _K8S_DIFF,
    "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue": _K8S_DIFF,
    "kubernetes:kueue.x-k8s.io/v1beta2:AdmissionCheck": _K8S_DIFF,
    "kubernetes:kueue.x-k8s.io/v1beta2:ProvisioningRequestConfig": _K8S_DIFF,
    "gcp:monitoring/alertPolicy:AlertPolicy": source(
        TPG, "google/services/monitoring/resource_monitoring_alert_policy.go", "34ff2886"
    ),
    "gcp:monitoring/dashboard:Dashboard": source(
        TPG, "google/services/monitoring/resource_monitoring_dashboard.go", "42208ee7"
    ),
    "gcp:logging/metric:Metric": source(
        TPG, "google/services/logging/resource_logging_metric.go", "34ff2886"
    ),
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": source(
        TPG, "google/tpgiamresource/resource_iam_audit_config.go", "b7e40fda"
    )
    + f", {source(TPG, _RM + 'iam_project.go', '4efffe5b')}",
    "pulumi:providers:kubernetes": source(
        "pulumi/pulumi-kubernetes", "provider/pkg/provider/provider.go", "010f5d8e"
    )
    + " (DiffConfig)",
}

# The input that names a resource in the cloud, per type: a create-before-delete replacement that
# keeps it fails with "already exists" (e.g. resource_container_node_pool.go's create). A pool
# with `namePrefix` gets a new generated name and does not collide.
IDENTITY: dict[str, tuple[str, ...]] = {
    "gcp:container/cluster:Cluster": ("project", "location", "name"),
    "gcp:container/nodePool:NodePool": ("cluster", "name"),
    "gcp:compute/network:Network": ("project", "name"),
    "gcp:compute/subnetwork:Subnetwork": ("project", "region", "name"),
    "gcp:compute/router:Router": ("project", "region", "name"),
    "gcp:compute/routerNat:RouterNat": ("project", "region", "router", "name"),
    "gcp:compute/firewall:Firewall": ("project", "name"),
    "gcp:serviceaccount/account:Account": ("project", "accountId"),
    "gcp:projects/iAMCustomRole:IAMCustomRole": ("project", "roleId"),
    "gcp:secretmanager/secret:Secret": ("project", "secretId"),
}

Path = tuple[str | int, ...]


def schema_key(path: Path) -> list[str]:
    """Path segments as the table spells them: list indexes dropped."""
    return [s for s in path if isinstance(s, str)]


def lookup(type_: str, path: Path) -> Field | None:
    """The entry governing a change at `path`, or None when the table does not cover it."""
    table = TABLE.get(type_)
    if table is None:
        return None
    segments = schema_key(path)
    for i in range(len(segments), 0, -1):
        entry = table.get(".".join(segments[:i]))
        if entry is None:
            continue
        if entry.block and i < len(segments):
            return None  # a field inside a block without an entry of its own
        return entry
    return None


def leaf_paths(value: Any, path: Path = ()) -> Iterator[Path]:
    """Every input path a value sets: into objects and lists of objects, down to the leaves."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from leaf_paths(item, (*path, key))
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        for i, item in enumerate(value):
            yield from leaf_paths(item, (*path, i))
    elif path:
        yield path


def uncovered(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """Input paths of a registration the table does not classify (dotted schema keys)."""
    return sorted({".".join(schema_key(p)) for p in leaf_paths(inputs) if lookup(type_, p) is None})


def coverage_gaps(registrations: Iterable[Any]) -> list[str]:
    """`<type> <path>` for every input path a custom resource sets that the table does not
    classify (and `<type> (no entry)` for an unknown type): empty when the table is complete."""
    gaps: set[str] = set()
    for r in registrations:
        if not r.custom:
            continue
        if r.type not in TABLE:
            gaps.add(f"{r.type} (no entry)")
            continue
        gaps.update(f"{r.type} {path}" for path in uncovered(r.type, r.inputs))
    return sorted(gaps)
