"""What the identity that runs `pulumi up` needs, per resource type the main stack registers.

One entry per type: the permissions its create, read, update and delete calls need, where they come
from, and which bound applies (`Bound`). The deploy identity's one custom role is the union of every
entry (bootstrap/, components/day0/identities.py); tests/test_deploy_permissions.py fails when the
stack registers a type this table does not cover (as tests/test_forcenew.py does for ForceNew).
Adding a type is one entry here.

Sources (method -> permission): iann0036/iam-dataset `gcp/map.json` at `MAP` (REST method ->
permissions Google's API checks), and Google's pages where that file has no entry:
- Kubernetes objects go through GKE's IAM authorizer: `container.<resource>.<verb>` per
  Kubernetes verb (GKE "Create IAM policies" / "IAM API permissions" reference, `GKE_IAM`). GKE
  maps `patch` and `update` to `.update`, `watch` to `.list`; custom resources (ComputeClass,
  PodMonitoring, Rules) are `container.thirdPartyObjects.*`.
- Long-running operations are polled: `compute.globalOperations.get` /
  `compute.regionOperations.get`, `container.operations.get` (map.json: container
  `projects.locations.operations.get`; Compute Engine IAM reference, `COMPUTE_IAM`).
- Secret version enable/disable: `secretmanager.versions.enable|disable` (Secret Manager access
  control page, `SECRET_IAM`; map.json lists them under secrets.*).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

MAP = "iann0036/iam-dataset gcp/map.json @ 2073fa52ac008a45477aa0b1b4580cd99135bf60"
GKE_IAM = "https://cloud.google.com/kubernetes-engine/docs/reference/api-permissions"
COMPUTE_IAM = "https://cloud.google.com/compute/docs/reference/rest/v1/globalOperations/get"
SECRET_IAM = "https://cloud.google.com/secret-manager/docs/access-control"
ACT_AS = "https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster#use_least_privilege_sa"
# GKE IAM names of the Kubernetes kinds Kueue's chart installs (container.<resource>.<verb>), as
# roles/container.admin lists them.
CONTAINER_ADMIN = (
    "iann0036/iam-dataset gcp/roles/container.admin.json @ 1818bc70405aa9fb10c6091859b5c3fd1cc70fb8"
)
RBAC_ESCALATION = (
    "https://kubernetes.io/docs/reference/access-authn-authz/rbac/"
    "#privilege-escalation-prevention-and-bootstrapping"
)
# Kubernetes' escalation check (k8s.io/kubernetes v1.36.3, tools/kubebin/go.mod):
# pkg/registry/rbac/escalation_check.go (RoleEscalationAuthorized asks the full authorizer chain
# for `escalate`, BindingAuthorized for `bind` on the referenced role), pkg/registry/rbac/role|
# clusterrole|rolebinding|clusterrolebinding/policybased/storage.go (otherwise
# validation.ConfirmNoEscalation against the RBAC rule resolver only). Why the lifts exist:
# kubernetes/kubernetes#43409 (on GKE an owner first had to bind itself cluster-admin) and #56358
# (escalate checked against every configured authorizer).
ESCALATION_CHECK = "k8s.io/kubernetes@v1.36.3 pkg/registry/rbac/escalation_check.go"
# The four GKE IAM permissions that lift the check (iann0036/iam-dataset
# gcp/roles/container.admin.json at MAP's commit lists them; roles/container.developer none).
RBAC_LIFTS: tuple[str, ...] = (
    "container.clusterRoles.bind",
    "container.clusterRoles.escalate",
    "container.roles.bind",
    "container.roles.escalate",
)


class Bound(Enum):
    """How a permission held at project level is kept to the stack's own resources."""

    NONE_NEEDED = "not an escalation: creates, reads or changes the stack's own infrastructure"
    GRANTABLE_ROLES = (
        "IAM condition: api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
        ".hasOnly(<the stack's project roles>)"
    )
    BUCKET_NAME = "IAM condition on resource.name: the stack's XCom buckets only (Cloud Storage)"
    SECRET_NAME = "IAM condition on resource.name: the stack's connection secrets only"
    KMS_KEY_NAME = "IAM condition on resource.name: the keys the stack config names only"
    REPOSITORY = "resource-level grant on each repository the config names (no project grant)"
    NODE_ACCOUNT = (
        "actAs: resource-level grant on the stack's node service account only (no project grant; "
        "the bootstrap creates the account, components/day0/stack_identities.py)"
    )
    RBAC_RULES = (
        "in-cluster only, and cluster-admin-equivalent there: container.roles/clusterRoles "
        ".escalate and .bind lift Kubernetes' RBAC escalation check, so the deployer may grant "
        "any Kubernetes right in the clusters of the stack's project, and nothing outside them"
    )
    CLUSTER_ONLY = (
        "in-cluster only: GKE IAM container.* on the stack's project reaches the Kubernetes API "
        "of the stack's clusters, no Google Cloud resource or IAM policy"
    )


@dataclass(frozen=True)
class Entry:
    create: tuple[str, ...]
    read: tuple[str, ...]
    update: tuple[str, ...]
    delete: tuple[str, ...]
    source: str
    bound: Bound = Bound.NONE_NEEDED
    # Permissions the operation needs that the deploy identity deliberately does not hold.
    withheld: tuple[str, ...] = ()

    def permissions(self) -> set[str]:
        return {*self.create, *self.read, *self.update, *self.delete} - set(self.withheld)


def _crud(prefix: str, source: str, bound: Bound = Bound.NONE_NEEDED) -> Entry:
    """A REST resource whose create/get/patch/delete check `<prefix>.create|get|update|delete`
    (patch also reads: map.json lists `.get` beside `.update`)."""
    return Entry(
        (f"{prefix}.create",),
        (f"{prefix}.get",),
        (f"{prefix}.update", f"{prefix}.get"),
        (f"{prefix}.delete",),
        source,
        bound,
    )


def _k8s(resource: str, bound: Bound = Bound.NONE_NEEDED, source: str = "") -> Entry:
    """A Kubernetes object applied with server-side apply (get + patch)."""
    p = f"container.{resource}"
    return Entry(
        (f"{p}.create", f"{p}.get"),
        (f"{p}.get",),
        (f"{p}.update",),
        (f"{p}.delete",),
        f"{GKE_IAM} (Kubernetes verbs create/get/patch/delete){source}",
        bound,
    )


def _rbac(resource: str, lift: str) -> Entry:
    """An RBAC object applied server-side: create and patch also need the verb that lifts
    Kubernetes' escalation check (`RBAC_LIFTS`); delete does not (the check guards writes of
    rules and role references only, `ESCALATION_CHECK`)."""
    base = _k8s(resource, Bound.RBAC_RULES, f"; {RBAC_ESCALATION}; {ESCALATION_CHECK}")
    return Entry(
        (*base.create, lift),
        base.read,
        (*base.update, lift),
        base.delete,
        base.source,
        base.bound,
    )


def _iam_member(service: str, bound: Bound, source: str) -> Entry:
    # Every *IAMMember reads the policy, then sets it with one binding added or removed.
    get, set_ = f"{service}.getIamPolicy", f"{service}.setIamPolicy"
    return Entry((get, set_), (get,), (get, set_), (get, set_), source, bound)


_NODE_POOL_OPS = ("container.operations.get",)
# GKE checks actAs on the account a cluster or node pool runs as. The bootstrap grants it on the
# node service account only (a resource-level grant): never in the project role.
NODE_ACCOUNT_PERMISSIONS: tuple[str, ...] = ("iam.serviceAccounts.actAs",)

TABLE: dict[str, Entry] = {
    # --- Compute Engine: the VPC, subnet, router + NAT, firewall ---------------------------------
    "gcp:compute/network:Network": Entry(
        ("compute.networks.create", "compute.globalOperations.get"),
        ("compute.networks.get",),
        ("compute.networks.update", "compute.networks.get"),
        ("compute.networks.delete", "compute.globalOperations.get"),
        f"{MAP} compute.networks.insert/get/patch/delete; {COMPUTE_IAM}",
    ),
    "gcp:compute/subnetwork:Subnetwork": Entry(
        ("compute.subnetworks.create", "compute.regionOperations.get"),
        ("compute.subnetworks.get",),
        ("compute.subnetworks.update", "compute.subnetworks.get"),
        ("compute.subnetworks.delete", "compute.regionOperations.get"),
        f"{MAP} compute.subnetworks.insert/get/patch/delete",
    ),
    "gcp:compute/router:Router": Entry(
        ("compute.routers.create", "compute.regionOperations.get"),
        ("compute.routers.get",),
        ("compute.routers.update", "compute.routers.get"),
        ("compute.routers.delete", "compute.regionOperations.get"),
        f"{MAP} compute.routers.insert/get/patch/delete",
    ),
    # Cloud NAT is a field of the router: every call is a router get + patch.
    "gcp:compute/routerNat:RouterNat": Entry(
        ("compute.routers.get", "compute.routers.update", "compute.regionOperations.get"),
        ("compute.routers.get",),
        ("compute.routers.get", "compute.routers.update"),
        ("compute.routers.get", "compute.routers.update"),
        f"{MAP} compute.routers.get/patch",
    ),
    "gcp:compute/firewall:Firewall": Entry(
        (
            "compute.firewalls.create",
            "compute.networks.updatePolicy",
            "compute.globalOperations.get",
        ),
        ("compute.firewalls.get",),
        ("compute.firewalls.update", "compute.firewalls.get", "compute.networks.updatePolicy"),
        ("compute.firewalls.delete", "compute.networks.updatePolicy"),
        f"{MAP} compute.firewalls.insert/get/patch/delete",
    ),
    # --- GKE: the cluster runs its nodes as the node service account (actAs) ---------------------
    "gcp:container/cluster:Cluster": Entry(
        ("container.clusters.create", "container.operations.get", "iam.serviceAccounts.actAs"),
        ("container.clusters.get",),
        ("container.clusters.update", "container.operations.get"),
        ("container.clusters.delete", "container.operations.get"),
        f"{MAP} container.projects.locations.clusters.create/get/update/delete, "
        f"operations.get; actAs on the node service account: {ACT_AS}",
        Bound.NODE_ACCOUNT,
    ),
    # map.json: every node-pool method is checked as container.clusters.update.
    "gcp:container/nodePool:NodePool": Entry(
        ("container.clusters.update", "iam.serviceAccounts.actAs", *_NODE_POOL_OPS),
        ("container.clusters.get",),
        ("container.clusters.update", *_NODE_POOL_OPS),
        ("container.clusters.update", *_NODE_POOL_OPS),
        f"{MAP} container.projects.locations.clusters.nodePools.create/get/update/delete",
        Bound.NODE_ACCOUNT,
    ),
    # --- IAM ------------------------------------------------------------------------------------
    # No service accounts and no service-account IAM: the bootstrap creates the stack's accounts
    # and the grants on them (components/day0/stack_identities.py), so the deployer holds no
    # iam.serviceAccounts.create/update/delete/getIamPolicy/setIamPolicy.
    # No custom roles: the bootstrap creates every custom role the stack grants
    # (components/custom_roles.py, components/day0/stack_roles.py) and the stack grants them by
    # name, which needs no iam.roles.get (setIamPolicy checks only the caller's setIamPolicy).
    # So the deployer holds no iam.roles.* at all: whoever creates a role decides its
    # permissions, and IAM checks none of them against the creator.
    "gcp:projects/iAMMember:IAMMember": _iam_member(
        "resourcemanager.projects",
        Bound.GRANTABLE_ROLES,
        f"{MAP} cloudresourcemanager.projects.getIamPolicy/setIamPolicy",
    ),
    # --- Secret Manager: the Airflow connections ------------------------------------------------
    "gcp:secretmanager/secret:Secret": _crud(
        "secretmanager.secrets",
        f"{MAP} secretmanager.projects.secrets.create/get/patch/delete",
        Bound.SECRET_NAME,
    ),
    # The provider reads a version's payload back (versions.access) to detect drift.
    "gcp:secretmanager/secretVersion:SecretVersion": Entry(
        ("secretmanager.versions.add", "secretmanager.versions.get"),
        ("secretmanager.versions.get", "secretmanager.versions.access"),
        ("secretmanager.versions.enable", "secretmanager.versions.disable"),
        ("secretmanager.versions.destroy",),
        f"{MAP} secretmanager.projects.secrets.addVersion, versions.get/access/destroy; "
        f"{SECRET_IAM} (versions.enable/disable)",
        Bound.SECRET_NAME,
    ),
    "gcp:secretmanager/secretIamMember:SecretIamMember": _iam_member(
        "secretmanager.secrets",
        Bound.SECRET_NAME,
        f"{MAP} secretmanager.projects.secrets.getIamPolicy/setIamPolicy",
    ),
    # --- Cloud Storage: Remote Execution XCom buckets -------------------------------------------
    # map.json: buckets.get (projection=full) also checks getIamPolicy.
    "gcp:storage/bucket:Bucket": Entry(
        ("storage.buckets.create",),
        ("storage.buckets.get", "storage.buckets.getIamPolicy"),
        ("storage.buckets.update", "storage.buckets.get"),
        ("storage.buckets.delete",),
        f"{MAP} storage.buckets.insert/get/patch/delete",
        Bound.BUCKET_NAME,
    ),
    "gcp:storage/bucketIAMMember:BucketIAMMember": _iam_member(
        "storage.buckets",
        Bound.BUCKET_NAME,
        f"{MAP} storage.buckets.getIamPolicy/setIamPolicy",
    ),
    # --- Cloud KMS: CMEK keys the config names (the keys exist; the stack grants agents) ---------
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _iam_member(
        "cloudkms.cryptoKeys",
        Bound.KMS_KEY_NAME,
        f"{MAP} cloudkms.projects.locations.keyRings.cryptoKeys.getIamPolicy/setIamPolicy",
    ),
    # --- Artifact Registry: per-repository pull grants ------------------------------------------
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _iam_member(
        "artifactregistry.repositories",
        Bound.REPOSITORY,
        f"{MAP} artifactregistry.projects.locations.repositories.getIamPolicy/setIamPolicy",
    ),
    # --- Cloud Monitoring (issue 20: alert policies and a dashboard) ----------------------------
    "gcp:monitoring/alertPolicy:AlertPolicy": _crud(
        "monitoring.alertPolicies",
        f"{MAP} monitoring.projects.alertPolicies.create/get/patch/delete",
    ),
    "gcp:monitoring/dashboard:Dashboard": _crud(
        "monitoring.dashboards", f"{MAP} monitoring.projects.dashboards.create/get/patch/delete"
    ),
    "gcp:monitoring/notificationChannel:NotificationChannel": _crud(
        "monitoring.notificationChannels",
        f"{MAP} monitoring.projects.notificationChannels.create/get/patch/delete",
    ),
    # The preemption counter: a log-based metric (components/observability/observability.py).
    "gcp:logging/metric:Metric": _crud(
        "logging.logMetrics", f"{MAP} logging.projects.metrics.create/get/update/delete"
    ),
    # Data-access audit logs are part of the project's IAM policy: no grant is modified, so the
    # GRANTABLE_ROLES condition (an empty modifiedGrantsByRole) admits it.
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": _iam_member(
        "resourcemanager.projects",
        Bound.GRANTABLE_ROLES,
        f"{MAP} cloudresourcemanager.projects.getIamPolicy/setIamPolicy",
    ),
    # --- The Kubernetes provider: it talks to the cluster through the DNS endpoint ---------------
    "pulumi:providers:kubernetes": Entry(
        ("container.clusters.get", "container.clusters.connect"),
        ("container.clusters.get", "container.clusters.connect"),
        ("container.clusters.get", "container.clusters.connect"),
        ("container.clusters.get", "container.clusters.connect"),
        "components/airflow/launcher_role.py (clusters.get authenticates; the DNS endpoint checks "
        "clusters.connect)",
    ),
    # --- Kubernetes objects, through GKE's IAM authorizer ---------------------------------------
    "kubernetes:core/v1:Namespace": Entry(
        ("container.namespaces.create", "container.namespaces.get"),
        ("container.namespaces.get",),
        ("container.namespaces.update",),
        ("container.namespaces.delete",),
        f"{GKE_IAM} (Kubernetes verbs create/get/patch/delete)",
    ),
    "kubernetes:core/v1:ResourceQuota": _k8s("resourceQuotas"),
    "kubernetes:core/v1:LimitRange": _k8s("limitRanges"),
    "kubernetes:core/v1:ServiceAccount": _k8s("serviceAccounts"),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _k8s("networkPolicies"),
    "kubernetes:policy/v1:PodDisruptionBudget": _k8s("podDisruptionBudgets"),
    # Kubernetes admits a Role, ClusterRole or binding that grants what its creator does not hold
    # through RBAC only when the whole authorizer chain (RBAC, then GKE's IAM) allows the
    # `escalate` verb on the role, resp. `bind` on the role a binding names
    # (`RBAC_LIFTS`). IAM permissions equal to the rules do not count: the check compares the
    # rules with the creator's RBAC rules alone (`ESCALATION_CHECK`). The deployer has no RBAC
    # binding, so it holds the lifts; tests/kube/test_deployer_rbac.py shows each is needed.
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": _rbac(
        "roleBindings", "container.roles.bind"
    ),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": _rbac("roles", "container.roles.escalate"),
    # kube-state-metrics (components/observability/kube_state_metrics.py): its read-only
    # ClusterRole, its binding and Deployment.
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": _rbac(
        "clusterRoles", "container.clusterRoles.escalate"
    ),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": _rbac(
        "clusterRoleBindings", "container.clusterRoles.bind"
    ),
    "kubernetes:apps/v1:Deployment": _k8s("deployments"),
    # The opt-in self-deployed DCGM exporter (components/observability/dcgm_exporter.py): its DaemonSets and
    # counters ConfigMap (iann0036/iam-dataset gcp/roles/container.admin.json lists
    # container.daemonSets.* and container.configMaps.*).
    "kubernetes:apps/v1:DaemonSet": _k8s("daemonSets"),
    "kubernetes:core/v1:ConfigMap": _k8s("configMaps"),
    "kubernetes:cloud.google.com/v1:ComputeClass": _k8s("thirdPartyObjects"),
    "kubernetes:monitoring.googleapis.com/v1:PodMonitoring": _k8s("thirdPartyObjects"),
    "kubernetes:monitoring.googleapis.com/v1:Rules": _k8s("thirdPartyObjects"),
    "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring": _k8s("thirdPartyObjects"),
    # Opt-in Kueue (components/gke/kueue.py): its queues and flavors are custom resources.
    "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor": _k8s("thirdPartyObjects"),
    "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue": _k8s("thirdPartyObjects"),
    "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue": _k8s("thirdPartyObjects"),
    # The ProvisioningRequest check for queued flex-start pools (kueue.provisioning_request).
    "kubernetes:kueue.x-k8s.io/v1beta2:AdmissionCheck": _k8s("thirdPartyObjects"),
    "kubernetes:kueue.x-k8s.io/v1beta2:ProvisioningRequestConfig": _k8s("thirdPartyObjects"),
    # What Kueue's Helm chart installs (the Chart v4 component's children, applied by the
    # Kubernetes provider at `pulumi up`; mocks render no chart, so tests/test_kueue_chart.py
    # reads the kinds from the pinned chart's templates). Beside the kinds above (Deployment,
    # ConfigMap, ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding):
    # its 11 CRDs, its webhook configurations (they see every object they match), the visibility
    # APIService (an API group served by Kueue's pod), its Services, and the Secret its internal
    # cert manager fills with the webhook's certificate.
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition": _k8s(
        "customResourceDefinitions", Bound.CLUSTER_ONLY, f"; {CONTAINER_ADMIN}"
    ),
    "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration": _k8s(
        "mutatingWebhookConfigurations", Bound.CLUSTER_ONLY, f"; {CONTAINER_ADMIN}"
    ),
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration": _k8s(
        "validatingWebhookConfigurations", Bound.CLUSTER_ONLY, f"; {CONTAINER_ADMIN}"
    ),
    "kubernetes:apiregistration.k8s.io/v1:APIService": _k8s(
        "apiServices", Bound.CLUSTER_ONLY, f"; {CONTAINER_ADMIN}"
    ),
    "kubernetes:core/v1:Service": _k8s("services", source=f"; {CONTAINER_ADMIN}"),
    "kubernetes:core/v1:Secret": _k8s("secrets", Bound.CLUSTER_ONLY, f"; {CONTAINER_ADMIN}"),
}

# The Kubernetes rules the stack's Roles (launcher and agent) and kube-state-metrics' ClusterRole
# grant, as GKE IAM permissions (`iam_for_rule` derives them; a test checks they are exactly the
# rules). Held on the premise that they satisfy the escalation check; they do not (RBAC_LIFTS
# does, tests/kube/test_deployer_rbac.py admits every object without them). Kept until a test
# shows nothing else needs them (the provider may read pods while it awaits a Deployment).
ROLE_RULES: tuple[str, ...] = (
    "container.pods.create",
    "container.pods.delete",
    "container.pods.get",
    "container.pods.list",
    "container.pods.update",
    "container.pods.getLogs",
    "container.pods.exec",
    "container.events.list",
    "container.nodes.list",
    "container.resourceQuotas.list",
)

# The program itself reads the project (gcp:organizations/getProject, for its number).
PROGRAM_CALLS: tuple[str, ...] = ("resourcemanager.projects.get",)

# Kubernetes (resource, verb) -> GKE IAM permission (GKE_IAM).
_SUBRESOURCE = {"pods/log": "container.pods.getLogs", "pods/exec": "container.pods.exec"}
# GKE IAM names a resource in camelCase where its Kubernetes plural is one lowercase word.
_RESOURCE = {"resourcequotas": "resourceQuotas"}
_VERB = {
    "get": "get",
    "list": "list",
    "watch": "list",
    "create": "create",
    "update": "update",
    "patch": "update",
    "delete": "delete",
}


def iam_for_rule(resource: str, verb: str) -> str:
    """The GKE IAM permission that authorizes a core-group Kubernetes (resource, verb)."""
    if resource in _SUBRESOURCE:
        return _SUBRESOURCE[resource]
    return f"container.{_RESOURCE.get(resource, resource)}.{_VERB[verb]}"


def role_rule_permissions(rules: Iterable[Mapping[str, Any]]) -> set[str]:
    """What Kubernetes Role rules (core API group) need, as GKE IAM permissions."""
    return {
        iam_for_rule(resource, verb)
        for rule in rules
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def deploy_permissions() -> list[str]:
    """Everything the deploy identity holds: every entry, the Role rules and the program's calls.
    Its project role is this minus what is granted on one resource (components/day0/identities:
    per repository, and `NODE_ACCOUNT_PERMISSIONS` on the node service account)."""
    perms = {p for entry in TABLE.values() for p in entry.permissions()}
    return sorted(perms | set(ROLE_RULES) | set(PROGRAM_CALLS))


def coverage_gaps(types: Iterable[str]) -> list[str]:
    """Custom resource types (not components) without an entry."""
    return sorted({t for t in types if t not in TABLE})


# --- the preview identity: `pulumi preview --policy-pack policies`, no refresh -------------------
# Reads only: the program's project lookup, the cluster (the Kubernetes provider authenticates
# and reads namespaces/objects for its diff) through the DNS endpoint. State read and KMS decrypt
# are granted on the state bucket and the key, not here.
PREVIEW_PERMISSIONS: tuple[str, ...] = (
    "resourcemanager.projects.get",
    "container.clusters.get",
    "container.clusters.connect",
    "container.namespaces.get",
    "container.namespaces.list",
)
