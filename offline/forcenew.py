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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

TPG = "hashicorp/terraform-provider-google"
TPG_BETA = "hashicorp/terraform-provider-google-beta"


@dataclass(frozen=True)
class Field:
    """One schema property. `replace`: ForceNew. `block`: a nested block whose fields have their
    own entries (`replace` then says what adding or removing the whole block does). `when`: a
    ForceNew that depends on the values (customdiff.ForceNewIfChange, a provider's DiffConfig):
    called with (old, new) of a known change; an unknown new value replaces."""

    replace: bool
    block: bool = False
    when: Callable[[Any, Any], bool] | None = None
    note: str = ""


R = Field(True)  # ForceNew
U = Field(False)  # updated in place
RB = Field(True, block=True)  # ForceNew block: adding/removing it replaces; see its fields
UB = Field(False, block=True)  # updatable block; see its fields


# --- node_config.go: the node config of a pool (and of a cluster's default pool) ---------------
# google/services/container/node_config.go @ 00b984c6987304290117e54f87cdfd38f2be0685,
# `schemaNodeConfig()` (ForceNew on the block itself: adding/removing `node_config` replaces).
# At that commit machine_type, disk_size_gb, disk_type, image_type, labels, resource_labels, taint,
# tags and workload_metadata_config carry no ForceNew (machine type and disks are updated in place
# since v5.10.0: GoogleCloudPlatform/magic-modules#9575). Changed after that commit, applied here:
# - gcfs_config: ForceNew removed (magic-modules#11553, in-place update magic-modules#11717); the
#   cluster file cited below already calls `schemaGcfsConfig()` without the old forceNew argument.
# - gvnic on google_container_node_pool: updated in place (magic-modules#13660, provider >= 6.33;
#   terraform-google-modules/terraform-google-kubernetes-engine#2359).
# Still ForceNew: guest_accelerator and everything in it, including gpu_driver_version (open:
# hashicorp/terraform-provider-google#23248, magic-modules#18493), metadata, oauth_scopes,
# service_account, spot, shielded_instance_config.
def _node_config(prefix: str, *, pool: bool) -> dict[str, Field]:
    fields: dict[str, Field] = {
        "": RB,
        "machineType": U,
        "diskSizeGb": U,
        "diskType": U,
        "imageType": U,
        "labels": U,
        "resourceLabels": U,
        "taints": U,
        "tags": U,
        "metadata": R,
        "oauthScopes": R,
        "serviceAccount": R,
        "spot": R,
        "preemptible": R,
        "localSsdCount": R,
        "minCpuPlatform": R,
        "bootDiskKmsKey": R,
        "shieldedInstanceConfig": RB,
        "shieldedInstanceConfig.enableSecureBoot": R,
        "shieldedInstanceConfig.enableIntegrityMonitoring": R,
        "workloadMetadataConfig": UB,
        "workloadMetadataConfig.mode": U,
        "gcfsConfig": UB,
        "gcfsConfig.enabled": U,
        "gvnic": UB if pool else RB,
        "gvnic.enabled": U if pool else R,
        "guestAccelerators": RB,
        "guestAccelerators.type": R,
        "guestAccelerators.count": R,
        "guestAccelerators.gpuPartitionSize": R,
        "guestAccelerators.gpuDriverInstallationConfig": RB,
        "guestAccelerators.gpuDriverInstallationConfig.gpuDriverVersion": R,
        "guestAccelerators.gpuSharingConfig": RB,
        "guestAccelerators.gpuSharingConfig.gpuSharingStrategy": R,
        "guestAccelerators.gpuSharingConfig.maxSharedClientsPerGpu": R,
        # flex_start and max_run_duration: ForceNew in node_config.go (schemaNodeConfig), as in
        # the stored hashicorp/terraform-provider-google copy at 8da4e91560e76da82f5cb52bc4c4d16dcd034bf8.
        "flexStart": R,
        "maxRunDuration": R,
        # secondary_boot_disks and both its fields: ForceNew (same file and commit).
        "secondaryBootDisks": RB,
        "secondaryBootDisks.diskImage": R,
        "secondaryBootDisks.mode": R,
        "reservationAffinity": RB,
        "reservationAffinity.consumeReservationType": R,
        "reservationAffinity.key": R,
        "reservationAffinity.values": R,
    }
    return {f"{prefix}.{k}" if k else prefix: v for k, v in fields.items()}


# google/services/container/resource_container_node_pool.go
# @ 069a33d4f5ec3a0f06db9b0de344dc81b8bc90ce
NODE_POOL: dict[str, Field] = {
    "project": R,
    "cluster": R,
    "location": R,
    "name": R,
    "namePrefix": R,
    "initialNodeCount": R,
    "maxPodsPerNode": R,
    "nodeCount": U,
    "nodeLocations": U,
    "version": U,
    "autoscaling": UB,
    "autoscaling.minNodeCount": U,
    "autoscaling.maxNodeCount": U,
    "autoscaling.totalMinNodeCount": U,
    "autoscaling.totalMaxNodeCount": U,
    "autoscaling.locationPolicy": U,
    "management": UB,
    "management.autoRepair": U,
    "management.autoUpgrade": U,
    "upgradeSettings": UB,
    "upgradeSettings.maxSurge": U,
    "upgradeSettings.maxUnavailable": U,
    "upgradeSettings.strategy": U,
    "upgradeSettings.blueGreenSettings": U,
    "placementPolicy": RB,
    "placementPolicy.type": U,
    "placementPolicy.policyName": R,
    "placementPolicy.tpuTopology": U,
    "queuedProvisioning": RB,
    "queuedProvisioning.enabled": R,
    "networkConfig": UB,
    "networkConfig.createPodRange": R,
    "networkConfig.enablePrivateNodes": U,
    "networkConfig.podRange": R,
    "networkConfig.podIpv4CidrBlock": R,
    "networkConfig.subnetwork": R,
    **_node_config("nodeConfig", pool=True),
}

# google/services/container/resource_container_cluster.go @ 0297605c600111e010e09edb39901e0806b00a9a
CLUSTER: dict[str, Field] = {
    "name": R,
    "location": R,
    "project": R,
    "description": R,
    "initialNodeCount": R,
    "network": R,
    "subnetwork": R,
    "networkingMode": R,
    "datapathProvider": R,
    "enableKubernetesAlpha": R,
    "enableAutopilot": R,
    "defaultMaxPodsPerNode": R,
    "clusterIpv4Cidr": R,
    "deletionProtection": U,
    "enableLegacyAbac": U,
    "enableShieldedNodes": U,
    "enableIntranodeVisibility": U,
    # cluster_autoscaling and its autoscaling_profile (Default "BALANCED") carry no ForceNew in
    # resource_container_cluster.go; GKE updates them in place (UpdateCluster).
    "clusterAutoscaling": UB,
    "clusterAutoscaling.autoscalingProfile": U,
    "loggingService": U,
    "monitoringService": U,
    "removeDefaultNodePool": U,
    "resourceLabels": U,
    "nodeLocations": U,
    "minMasterVersion": U,
    "binaryAuthorization": UB,
    "binaryAuthorization.evaluationMode": U,
    "controlPlaneEndpointsConfig": UB,
    "controlPlaneEndpointsConfig.dnsEndpointConfig": UB,
    "controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic": U,
    "controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint": U,
    "controlPlaneEndpointsConfig.ipEndpointsConfig": UB,
    "controlPlaneEndpointsConfig.ipEndpointsConfig.enabled": U,
    "costManagementConfig": UB,
    "costManagementConfig.enabled": U,
    "databaseEncryption": UB,
    "databaseEncryption.state": U,
    "databaseEncryption.keyName": U,
    "ipAllocationPolicy": RB,
    "ipAllocationPolicy.clusterSecondaryRangeName": R,
    "ipAllocationPolicy.servicesSecondaryRangeName": R,
    "ipAllocationPolicy.clusterIpv4CidrBlock": R,
    "ipAllocationPolicy.servicesIpv4CidrBlock": R,
    "ipAllocationPolicy.stackType": U,
    "loggingConfig": UB,
    "loggingConfig.enableComponents": U,
    "monitoringConfig": UB,
    "monitoringConfig.enableComponents": U,
    "monitoringConfig.managedPrometheus": UB,
    "monitoringConfig.managedPrometheus.enabled": U,
    "maintenancePolicy": UB,
    "maintenancePolicy.recurringWindow": UB,
    "maintenancePolicy.recurringWindow.startTime": U,
    "maintenancePolicy.recurringWindow.endTime": U,
    "maintenancePolicy.recurringWindow.recurrence": U,
    "maintenancePolicy.dailyMaintenanceWindow": UB,
    "maintenancePolicy.dailyMaintenanceWindow.startTime": U,
    "maintenancePolicy.maintenanceExclusions": U,
    "masterAuth": UB,
    "masterAuth.clientCertificateConfig": RB,
    "masterAuth.clientCertificateConfig.issueClientCertificate": R,
    "masterAuthorizedNetworksConfig": UB,
    "masterAuthorizedNetworksConfig.cidrBlocks": U,
    "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled": U,
    "masterAuthorizedNetworksConfig.privateEndpointEnforcementEnabled": U,
    "privateClusterConfig": UB,
    "privateClusterConfig.enablePrivateNodes": R,
    "privateClusterConfig.enablePrivateEndpoint": U,
    "privateClusterConfig.masterIpv4CidrBlock": R,
    "privateClusterConfig.privateEndpointSubnetwork": R,
    "privateClusterConfig.masterGlobalAccessConfig": UB,
    "privateClusterConfig.masterGlobalAccessConfig.enabled": U,
    "releaseChannel": UB,
    "releaseChannel.channel": U,
    "workloadIdentityConfig": UB,
    "workloadIdentityConfig.workloadPool": U,
    "confidentialNodes": RB,
    "confidentialNodes.enabled": R,
    **_node_config("nodeConfig", pool=False),
}

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

# google/services/resourcemanager/resource_google_service_account.go
# @ 0540ffede9083228e6d6177e2b50d3b91e5bde13
ACCOUNT: dict[str, Field] = {
    "accountId": R,
    "project": R,
    "displayName": U,
    "description": U,
    "disabled": U,
}

# google/services/resourcemanager/resource_google_project_iam_custom_role.go
# @ 2f152ea2d0d16efd92d3bd561e67a2b34db0beb0
CUSTOM_ROLE: dict[str, Field] = {
    "roleId": R,
    "project": R,
    "title": U,
    "description": U,
    "permissions": U,
    "stage": U,
}

# google/services/secretmanager/resource_secret_manager_secret.go
# @ 01ddfb1d26a17bde690190c8ab82efd76f539471
SECRET: dict[str, Field] = {
    "secretId": R,
    "project": R,
    "replication": RB,
    "replication.auto": RB,
    "replication.auto.customerManagedEncryption": UB,
    "replication.auto.customerManagedEncryption.kmsKeyName": U,
    "replication.userManaged": RB,
    "replication.userManaged.replicas": RB,
    "replication.userManaged.replicas.location": R,
    "replication.userManaged.replicas.customerManagedEncryption": UB,
    "replication.userManaged.replicas.customerManagedEncryption.kmsKeyName": U,
    "ttl": R,
    "labels": U,
    "annotations": U,
    "versionAliases": U,
    "expireTime": U,
    "topics": U,
    "rotation": U,
}

# google/services/secretmanager/resource_secret_manager_secret_version.go
# @ 158d84c7f71a14ef8d9a429db544ef293a271d42
SECRET_VERSION: dict[str, Field] = {
    "secret": R,
    "secretData": R,
    "isSecretDataBase64": R,
    "enabled": U,
    "deletionPolicy": U,
}

# IAM members: google/tpgiamresource/resource_iam_member.go
# @ 0262be693c00e5902e2190d2ae307d6112467e31
# `ResourceIamMember` has no Update, role/member/condition are ForceNew, and the SDK requires every
# other input (the parent-specific schema: project, secret_id, ...) to be ForceNew too.
_IAM_MEMBER_BASE: dict[str, Field] = {
    "role": R,
    "member": R,
    "condition": R,
}


def _iam_member(*parent: str) -> dict[str, Field]:
    return {**_IAM_MEMBER_BASE, **{p: R for p in parent}}


# google-beta/services/resourcemanager/resource_project_service_identity.go
# @ 7d060ee735ae918908fe3f1026ad57befb73329b (a google-beta resource; pulumi-gcp bridges the beta
# provider): no Update, service and project ForceNew.
SERVICE_IDENTITY: dict[str, Field] = {"service": R, "project": R}


def _retention_unlocked(old: Any, new: Any) -> bool:
    return old is True and new is not True


# google/services/storage/resource_storage_bucket.go
# @ 0262be693c00e5902e2190d2ae307d6112467e31: ForceNew on name, location, project,
# enable_object_retention, custom_placement_config.data_locations and hierarchical_namespace
# (+ enabled); CustomizeDiff `ForceNewIfChange("retention_policy.0.is_locked", isPolicyLocked)`
# replaces when a locked policy is unlocked. Everything else (encryption, lifecycle rules, labels,
# storage class, uniform access, public access prevention, soft delete, force_destroy) updates.
BUCKET: dict[str, Field] = {
    "name": R,
    "project": R,
    "location": R,
    "enableObjectRetention": R,
    "customPlacementConfig": UB,
    "customPlacementConfig.dataLocations": R,
    "hierarchicalNamespace": RB,
    "hierarchicalNamespace.enabled": R,
    "retentionPolicy": UB,
    "retentionPolicy.isLocked": Field(
        False, when=_retention_unlocked, note="replaced when a locked policy is unlocked"
    ),
    "retentionPolicy.retentionPeriod": U,
    "encryption": UB,
    "encryption.defaultKmsKeyName": U,
    "requesterPays": U,
    "forceDestroy": U,
    "labels": U,
    "storageClass": U,
    "lifecycleRules": UB,
    "lifecycleRules.action": UB,
    "lifecycleRules.action.type": U,
    "lifecycleRules.action.storageClass": U,
    "lifecycleRules.condition": UB,
    **{
        f"lifecycleRules.condition.{k}": U
        for k in (
            "age",
            "createdBefore",
            "customTimeBefore",
            "daysSinceCustomTime",
            "daysSinceNoncurrentTime",
            "noncurrentTimeBefore",
            "withState",
            "matchesStorageClasses",
            "numNewerVersions",
            "matchesPrefixes",
            "matchesSuffixes",
            "sendAgeIfZero",
            "sendDaysSinceNoncurrentTimeIfZero",
            "sendDaysSinceCustomTimeIfZero",
            "sendNumNewerVersionsIfZero",
        )
    },
    "versioning": UB,
    "versioning.enabled": U,
    "autoclass": UB,
    "autoclass.enabled": U,
    "autoclass.terminalStorageClass": U,
    "website": UB,
    "website.mainPageSuffix": U,
    "website.notFoundPage": U,
    "cors": UB,
    "cors.origins": U,
    "cors.methods": U,
    "cors.responseHeaders": U,
    "cors.maxAgeSeconds": U,
    "defaultEventBasedHold": U,
    "logging": UB,
    "logging.logBucket": U,
    "logging.logObjectPrefix": U,
    "uniformBucketLevelAccess": U,
    "rpo": U,
    "publicAccessPrevention": U,
    "softDeletePolicy": UB,
    "softDeletePolicy.retentionDurationSeconds": U,
}


# --- Kubernetes -----------------------------------------------------------------------------
# pulumi/pulumi-kubernetes provider/pkg/provider/diff.go @ 00302beb58ae08591f0c8b0b065871c50ba35250:
# `.metadata.name` and `.metadata.namespace` replace every kind; per kind also e.g. RoleBinding
# `.roleRef`, ResourceQuota `.spec.scopes`. Everything else is applied to the live object (an
# update). apiVersion and kind are part of the type token: a change is a different resource type,
# i.e. a different URN (delete + create), never an update of this one.
def _k8s(**kind_fields: Field) -> dict[str, Field]:
    return {
        "apiVersion": U,
        "kind": U,
        "metadata": UB,
        "metadata.name": R,
        "metadata.namespace": R,
        "metadata.labels": U,
        "metadata.annotations": U,
        **{k.replace("__", "."): v for k, v in kind_fields.items()},
    }


def active_cluster(kubeconfig: Any) -> Any:
    """The cluster entry the kubeconfig's current context points at (None if it cannot tell)."""
    try:
        doc = yaml.safe_load(kubeconfig) if isinstance(kubeconfig, str) else kubeconfig
        current = doc["current-context"]
        context = next(c["context"] for c in doc["contexts"] if c["name"] == current)
        return next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
    except (TypeError, KeyError, StopIteration, yaml.YAMLError):
        return None


def _cluster_changes(old: Any, new: Any) -> bool:
    before, after = active_cluster(old), active_cluster(new)
    return before is not None and after is not None and before != after


# The kubernetes provider resource: pulumi/pulumi-kubernetes provider/pkg/provider/provider.go
# @ 010f5d8e95e3cc9a384442e8239310d51fdc052e, `DiffConfig`: a kubeconfig that changes but still
# points at the same active cluster is an update; a different active cluster, or a kubeconfig not
# known during preview (its cluster is being replaced), replaces the provider, and the engine then
# replaces every resource it manages (pulumi/pulumi pkg/resource/deploy/step_generator.go
# @ 1a16857a44f16e46a9dce29f184c511062a70f80, `providerChanged`).
K8S_PROVIDER: dict[str, Field] = {
    "kubeconfig": Field(
        False, when=_cluster_changes, note="replaced when the active cluster changes"
    ),
    "context": Field(False, when=_cluster_changes),
    "cluster": Field(False, when=_cluster_changes),
    "namespace": U,
    "enableServerSideApply": U,
    "clusterIdentifier": R,
}

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
    "gcp:projects/iAMMember:IAMMember": _iam_member("project"),
    "gcp:serviceaccount/iAMMember:IAMMember": _iam_member("serviceAccountId"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": _iam_member("project", "secretId"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _iam_member("cryptoKeyId"),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _iam_member(
        "project", "location", "repository"
    ),
    "gcp:projects/serviceIdentity:ServiceIdentity": SERVICE_IDENTITY,
    "gcp:storage/bucket:Bucket": BUCKET,
    "gcp:storage/bucketIAMMember:BucketIAMMember": _iam_member("bucket"),
    "kubernetes:core/v1:ServiceAccount": _k8s(
        automountServiceAccountToken=U, secrets=U, imagePullSecrets=U
    ),
    "kubernetes:core/v1:Namespace": _k8s(spec=U),
    "kubernetes:core/v1:ResourceQuota": _k8s(
        spec=UB, spec__hard=U, spec__scopeSelector=U, spec__scopes=R
    ),
    "kubernetes:core/v1:LimitRange": _k8s(spec=U),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _k8s(spec=U),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": _k8s(rules=U),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": _k8s(roleRef=R, subjects=U),
    # diff.go lists `.spec` only for policy/v1beta1 PodDisruptionBudget; policy/v1 updates it.
    "kubernetes:policy/v1:PodDisruptionBudget": _k8s(spec=U),
    # A custom resource: diff.go lists no kind-specific forceNew path for it, so only
    # metadata.name/namespace replace; its spec is applied to the live object.
    "kubernetes:cloud.google.com/v1:ComputeClass": _k8s(spec=U),
    "pulumi:providers:kubernetes": K8S_PROVIDER,
}


def _source(repo: str, path: str, commit: str) -> str:
    return f"{repo} {path}@{commit}"


_CONTAINER = "google/services/container/"
_COMPUTE = "google/services/compute/"
_RM = "google/services/resourcemanager/"
_SM = "google/services/secretmanager/"
_NODE_CONFIG = _source(TPG, _CONTAINER + "node_config.go", "00b984c6")
_IAM = _source(TPG, "google/tpgiamresource/resource_iam_member.go", "0262be69")
_K8S_DIFF = _source("pulumi/pulumi-kubernetes", "provider/pkg/provider/diff.go", "00302beb")

# Where each type's entries come from (cited in docs/change-review.md, on `make preview BASE=...`).
SOURCES: dict[str, str] = {
    "gcp:container/cluster:Cluster": _source(
        TPG, _CONTAINER + "resource_container_cluster.go", "0297605c"
    )
    + f", {_NODE_CONFIG}",
    "gcp:container/nodePool:NodePool": _source(
        TPG, _CONTAINER + "resource_container_node_pool.go", "069a33d4"
    )
    + f", {_NODE_CONFIG}",
    "gcp:compute/network:Network": _source(
        TPG, _COMPUTE + "resource_compute_network.go", "017d2f58"
    ),
    "gcp:compute/subnetwork:Subnetwork": _source(
        TPG, _COMPUTE + "resource_compute_subnetwork.go", "0110d02a"
    ),
    "gcp:compute/router:Router": _source(TPG, _COMPUTE + "resource_compute_router.go", "07fc8657"),
    "gcp:compute/routerNat:RouterNat": _source(
        TPG, _COMPUTE + "resource_compute_router_nat.go", "054ced1c"
    ),
    "gcp:compute/firewall:Firewall": _source(
        TPG, _COMPUTE + "resource_compute_firewall.go", "07fc8657"
    ),
    "gcp:serviceaccount/account:Account": _source(
        TPG, _RM + "resource_google_service_account.go", "0540ffed"
    ),
    "gcp:projects/iAMCustomRole:IAMCustomRole": _source(
        TPG, _RM + "resource_google_project_iam_custom_role.go", "2f152ea2"
    ),
    "gcp:secretmanager/secret:Secret": _source(
        TPG, _SM + "resource_secret_manager_secret.go", "01ddfb1d"
    ),
    "gcp:secretmanager/secretVersion:SecretVersion": _source(
        TPG, _SM + "resource_secret_manager_secret_version.go", "158d84c7"
    ),
    "gcp:projects/iAMMember:IAMMember": _IAM,
    "gcp:serviceaccount/iAMMember:IAMMember": _IAM,
    "gcp:secretmanager/secretIamMember:SecretIamMember": _IAM,
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _IAM,
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _IAM,
    "gcp:projects/serviceIdentity:ServiceIdentity": _source(
        TPG_BETA,
        "google-beta/services/resourcemanager/resource_project_service_identity.go",
        "7d060ee7",
    ),
    "gcp:storage/bucket:Bucket": _source(
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
    "pulumi:providers:kubernetes": _source(
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
