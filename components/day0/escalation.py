"""The standard GCP privilege-escalation methods, as the permission sets that enable them
(RhinoSecurityLabs/GCP-IAM-Privilege-Escalation `PrivEscScanner/check_for_privesc.py` @
75f38d73dbae5efd9d981bb01993d97c23fdedb0, plus the two the issue names beside it: `getOpenIdToken`
and API keys), and what each CI identity holds of them. docs/day0.md's table is generated from
this (`python -m offline.day0_doc`) and kept in sync by tests/test_day0_docs.py."""

from __future__ import annotations

from dataclasses import dataclass

from components.day0 import deploy_permissions as dp
from components.day0.identities import (
    KEY_DECRYPTER,
    KEY_USER,
    LOCK_PERMISSIONS,
    STATE_READER,
    STATE_WRITER,
    project_permissions,
    repository_permissions,
)

RHINO = "RhinoSecurityLabs/GCP-IAM-Privilege-Escalation @ 75f38d73dbae5efd9d981bb01993d97c23fdedb0"


@dataclass(frozen=True)
class Method:
    name: str
    permissions: tuple[str, ...]
    # What bounds it when the deploy identity holds every permission of the method.
    deploy_bound: str = ""


METHODS: tuple[Method, ...] = (
    Method("iam.roles.update", ("iam.roles.update",)),
    # Not in Rhino's list, the same shape: whoever creates a custom role decides its permissions
    # and IAM checks none of them against the creator, so creating a role id one may grant is
    # granting oneself anything. The bootstrap creates every custom role the stacks grant
    # (components/day0/stack_roles.py): the deployer holds no iam.roles.* at all.
    Method(
        "iam.roles.create + grant it",
        ("iam.roles.create", "resourcemanager.projects.setIamPolicy"),
    ),
    Method(
        "iam.roles.undelete + grant it",
        ("iam.roles.undelete", "resourcemanager.projects.setIamPolicy"),
    ),
    Method("iam.serviceAccountKeys.create", ("iam.serviceAccountKeys.create",)),
    Method("iam.serviceAccounts.getAccessToken", ("iam.serviceAccounts.getAccessToken",)),
    Method("iam.serviceAccounts.getOpenIdToken", ("iam.serviceAccounts.getOpenIdToken",)),
    Method("iam.serviceAccounts.implicitDelegation", ("iam.serviceAccounts.implicitDelegation",)),
    Method("iam.serviceAccounts.signBlob", ("iam.serviceAccounts.signBlob",)),
    Method("iam.serviceAccounts.signJwt", ("iam.serviceAccounts.signJwt",)),
    Method("orgpolicy.policy.set", ("orgpolicy.policy.set",)),
    Method("storage.hmacKeys.create", ("storage.hmacKeys.create",)),
    Method("deploymentmanager.deployments.create", ("deploymentmanager.deployments.create",)),
    Method("cloudbuild.builds.create", ("cloudbuild.builds.create",)),
    Method(
        "cloudfunctions.functions.create + actAs",
        (
            "cloudfunctions.functions.create",
            "cloudfunctions.functions.sourceCodeSet",
            "iam.serviceAccounts.actAs",
        ),
    ),
    Method(
        "cloudfunctions.functions.update + actAs",
        (
            "cloudfunctions.functions.sourceCodeSet",
            "cloudfunctions.functions.update",
            "iam.serviceAccounts.actAs",
        ),
    ),
    Method(
        "compute.instances.create + actAs",
        (
            "compute.disks.create",
            "compute.instances.create",
            "compute.instances.setMetadata",
            "compute.instances.setServiceAccount",
            "compute.subnetworks.use",
            "compute.subnetworks.useExternalIp",
            "iam.serviceAccounts.actAs",
        ),
    ),
    Method("run.services.create + actAs", ("run.services.create", "iam.serviceAccounts.actAs")),
    Method(
        "cloudscheduler.jobs.create + actAs",
        (
            "cloudscheduler.jobs.create",
            "cloudscheduler.locations.list",
            "iam.serviceAccounts.actAs",
        ),
    ),
    Method("serviceusage.apiKeys.create", ("serviceusage.apiKeys.create",)),
    Method("apikeys.keys.create", ("apikeys.keys.create",)),
    Method(
        "resourcemanager.organizations.setIamPolicy",
        ("resourcemanager.organizations.setIamPolicy",),
    ),
    Method("resourcemanager.folders.setIamPolicy", ("resourcemanager.folders.setIamPolicy",)),
    Method(
        "resourcemanager.projects.setIamPolicy",
        ("resourcemanager.projects.setIamPolicy",),
        dp.Bound.GRANTABLE_ROLES.value,
    ),
    # The bootstrap creates the stack's service accounts and the grants on them: the deployer
    # holds no service-account IAM (components/day0/stack_identities.py).
    Method("iam.serviceAccounts.setIamPolicy", ("iam.serviceAccounts.setIamPolicy",)),
    # Kubernetes' own escalation paths (Kubernetes "RBAC: privilege escalation prevention";
    # GKE IAM names: deploy_permissions.CONTAINER_ADMIN). The deployer holds all four verbs that
    # lift the RBAC check: with no RBAC binding of its own, it could create none of the stack's
    # roles or bindings without them (deploy_permissions.RBAC_LIFTS,
    # tests/kube/test_deployer_rbac.py). So inside the stack's clusters it can grant anything.
    Method(
        "container.clusterRoles.escalate",
        ("container.clusterRoles.escalate",),
        dp.Bound.RBAC_RULES.value,
    ),
    Method(
        "container.clusterRoles.bind", ("container.clusterRoles.bind",), dp.Bound.RBAC_RULES.value
    ),
    Method("container.roles.escalate", ("container.roles.escalate",), dp.Bound.RBAC_RULES.value),
    Method("container.roles.bind", ("container.roles.bind",), dp.Bound.RBAC_RULES.value),
    Method(
        "Kubernetes ClusterRole + ClusterRoleBinding",
        ("container.clusterRoles.create", "container.clusterRoleBindings.create"),
        dp.Bound.RBAC_RULES.value,
    ),
    # Kueue's chart (docs/gpu-sharing.md): an admission webhook sees, and may change, every object
    # it matches; an APIService routes an API group to a pod; the webhook's certificate Secret.
    Method(
        "Kubernetes admission webhook",
        ("container.mutatingWebhookConfigurations.create",),
        dp.Bound.CLUSTER_ONLY.value,
    ),
    Method(
        "Kubernetes aggregated API (APIService)",
        ("container.apiServices.create",),
        dp.Bound.CLUSTER_ONLY.value,
    ),
    Method(
        "read Kubernetes Secrets",
        ("container.secrets.get",),
        f"{dp.Bound.CLUSTER_ONLY.value}; the stack puts no Google credential in a Secret "
        "(Workload Identity, no keys), but any other Secret in its clusters (an in-cluster Astro "
        "agent's token) is readable",
    ),
    # Not in Rhino's list, the same shape: a GKE node pool runs as a service account.
    Method(
        "container node pool + actAs",
        ("container.clusters.update", "iam.serviceAccounts.actAs"),
        "resource-level grant on the node service account only: a pool can run as that "
        "account and no other (components/day0/stack_identities.py)",
    ),
)


def deploy_holds() -> set[str]:
    """Every permission the deploy identity holds anywhere (its project role, the per-repository
    role, actAs on the node service account, and the state bucket and key grants)."""
    return {
        *project_permissions(),
        *repository_permissions(),
        *dp.NODE_ACCOUNT_PERMISSIONS,
        *ROLE_PERMISSIONS[STATE_WRITER],
        *ROLE_PERMISSIONS[KEY_USER],
    }


def preview_holds() -> set[str]:
    return {
        *dp.PREVIEW_PERMISSIONS,
        *ROLE_PERMISSIONS[STATE_READER],
        *ROLE_PERMISSIONS[KEY_DECRYPTER],
        *LOCK_PERMISSIONS,
    }


# The predefined roles the bootstrap grants on the state bucket and key, with their permissions
# (iann0036/iam-dataset gcp/roles/<role>.json at the commit in deploy_permissions.MAP).
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    STATE_WRITER: (
        "monitoring.timeSeries.create",
        "orgpolicy.policy.get",
        "resourcemanager.projects.get",
        "resourcemanager.projects.list",
        "storage.folders.create",
        "storage.folders.delete",
        "storage.folders.get",
        "storage.folders.list",
        "storage.folders.rename",
        "storage.managedFolders.create",
        "storage.managedFolders.delete",
        "storage.managedFolders.get",
        "storage.managedFolders.list",
        "storage.multipartUploads.abort",
        "storage.multipartUploads.create",
        "storage.multipartUploads.list",
        "storage.multipartUploads.listParts",
        "storage.objects.create",
        "storage.objects.createContext",
        "storage.objects.delete",
        "storage.objects.deleteContext",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.move",
        "storage.objects.restore",
        "storage.objects.update",
        "storage.objects.updateContext",
    ),
    STATE_READER: (
        "resourcemanager.projects.get",
        "resourcemanager.projects.list",
        "storage.folders.get",
        "storage.folders.list",
        "storage.managedFolders.get",
        "storage.managedFolders.list",
        "storage.objects.get",
        "storage.objects.list",
    ),
    KEY_USER: (
        "cloudkms.cryptoKeyVersions.useToDecrypt",
        "cloudkms.cryptoKeyVersions.useToEncrypt",
        "cloudkms.locations.get",
        "cloudkms.locations.list",
        "resourcemanager.projects.get",
    ),
    KEY_DECRYPTER: (
        "cloudkms.cryptoKeyVersions.useToDecrypt",
        "cloudkms.locations.get",
        "cloudkms.locations.list",
        "resourcemanager.projects.get",
    ),
}


def render() -> str:
    deploy, preview = deploy_holds(), preview_holds()
    lines = [
        "| method (permissions) | deploy identity | bound | preview identity |",
        "| --- | --- | --- | --- |",
    ]
    for m in METHODS:
        d = set(m.permissions) <= deploy
        p = set(m.permissions) <= preview
        missing = sorted(set(m.permissions) - deploy)
        held = "**holds**" if d else f"no (lacks `{missing[0]}`)"
        bound = m.deploy_bound if d else "—"
        lines.append(f"| {m.name} | {held} | {bound} | {'**holds**' if p else 'no'} |")
    return "\n".join(lines)
