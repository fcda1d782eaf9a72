"""Kueue: the deployments' GPU quotas as one cohort of ClusterQueues, so a deployment's idle GPUs
serve another and come back when it needs them (docs/gpu-sharing.md).

- Kueue itself from its official Helm chart at a pinned release (oci://registry.k8s.io/kueue/charts/
  kueue, the chart's README). Its pod integration and pod webhooks are limited to the
  deployments' namespaces (`managedJobsNamespaceSelector`; the chart's pod webhooks take the same
  selector). Its webhook certificates come from Kueue's internal cert manager (on by default:
  `internalCertManagement.enable`, apis/config/v1beta2/defaults.go): no manual step.
- One ResourceFlavor per GPU pool, with the node labels that single out the pool (`gpu-pool`, and
  the ComputeClass label of a member pool) and the pool's tolerations. A ComputeClass is served by
  its members' flavors in its priority order: Kueue tries them in that order.
- One ClusterQueue per deployment: nominal quota = the deployment's GPU quota on every flavor, with
  its CPU and memory quota; borrowing and lending limits and preemption from config; one cohort.
- One LocalQueue (`queue_name`) in each deployment namespace, the one GPU tasks name.

The objects are rendered by plain functions (also what the tests apply to a real control plane).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import yaml

from components.config import KueueConfig, StackConfig
from components.gke import gpu_pool

API_VERSION = "kueue.x-k8s.io/v1beta2"  # the storage version of Kueue v0.19's CRDs
CONFIG_API_VERSION = "config.kueue.x-k8s.io/v1beta2"
CHART = "oci://registry.k8s.io/kueue/charts/kueue"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GPU = "nvidia.com/gpu"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
# Kueue's ProvisioningRequest admission check, and GKE's class for queued provisioning (GKE docs
# "Optimize GPU and TPU provisioning with flex-start with queued provisioning").
PROVISIONING_CONTROLLER = "kueue.x-k8s.io/provisioning-request"
QUEUED_PROVISIONING_CLASS = "queued-provisioning.gke.io"
PROVISIONING_CHECK = "dws-prov"
# GKE taints a queued-provisioning pool's nodes cloud.google.com/gke-queued=true:NoSchedule, and
# workloads must tolerate it (GoogleCloudPlatform/cluster-toolkit "GKE Consumption Options User
# Guide", DWS Flex Start + Queued Provisioning). The pool's flavor carries the toleration, so
# Kueue adds it to the pods it admits there and to no other.
QUEUED_TOLERATION = {
    "key": "cloud.google.com/gke-queued",
    "operator": "Equal",
    "value": "true",
    "effect": "NoSchedule",
}
# The port Kueue's webhook server listens on: the chart's manager container and webhook Service
# (sigs.k8s.io/kueue@v0.19.2 charts/kueue/templates/manager/manager.yaml `containerPort: 9443`,
# charts/kueue/values.yaml webhookService `targetPort: 9443`, config/components/manager/
# controller_manager_config.yaml `webhook.port: 9443`). GKE's API server calls a webhook on the
# pod's endpoint, not the Service port (kubernetes/kubernetes#79739: GKE runs
# --enable-aggregator-routing), so the control plane must reach the nodes on this port.
WEBHOOK_PORT = 9443
# GKE's own rule for a private cluster lets the control plane reach the nodes on tcp:443 and
# tcp:10250 only (GKE "Creating a private cluster", "Adding firewall rules for specific use
# cases": https://cloud.google.com/kubernetes-engine/docs/how-to/private-clusters#add_firewall_rules;
# Cloud Service Mesh "Open ports on a private cluster" adds its webhook port the same way), and
# the stack's network denies every other ingress (components/gke/network.py).
# What the pinned chart installs with the stack's values, as the Kubernetes provider registers
# each object (the Chart component's children): the deploy role holds create/get/update/delete
# of each (components/day0/deploy_permissions.py). tests/test_kueue_chart.py reads the pinned
# chart's templates (sigs.k8s.io/kueue@v0.19.2 charts/kueue/templates) and fails when this
# differs, so a chart upgrade that adds a kind is reviewed before the deploy role lacks it.
CHART_KINDS: tuple[str, ...] = (
    "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
    "kubernetes:apiregistration.k8s.io/v1:APIService",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
)
# The chart's other kinds, and the value (chart default, not overridden by the stack) that keeps
# every template of that kind off. The deploy role holds none of them.
CHART_KINDS_OFF: dict[str, str] = {
    "kubernetes:admissionregistration.k8s.io/v1:MutatingAdmissionPolicy": (
        ".Values.enableMutatingAdmissionPolicy"
    ),
    "kubernetes:admissionregistration.k8s.io/v1:MutatingAdmissionPolicyBinding": (
        ".Values.enableMutatingAdmissionPolicy"
    ),
    "kubernetes:cert-manager.io/v1:Certificate": ".Values.enableCertManager",
    "kubernetes:cert-manager.io/v1:Issuer": ".Values.enableCertManager",
    "kubernetes:flowcontrol.apiserver.k8s.io/v1:FlowSchema": ".Values.enableVisibilityAPF",
    "kubernetes:flowcontrol.apiserver.k8s.io/v1:PriorityLevelConfiguration": (
        ".Values.enableVisibilityAPF"
    ),
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": ".Values.enablePrometheus",
    "kubernetes:networking.k8s.io/v1:Ingress": ".Values.enableKueueViz",
    "kubernetes:policy/v1:PodDisruptionBudget": (
        ".Values.controllerManager.podDisruptionBudget.enabled"
    ),
}
# Fair sharing's preemption strategies in Kueue's documented default order
# (apis/config/v1beta2/configuration_types.go, FairSharing).
FAIR_SHARING_STRATEGIES = ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]


@dataclass(frozen=True)
class Flavor:
    """One GPU pool as Kueue sees it."""

    name: str
    node_labels: Mapping[str, str]
    tolerations: Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class Queue:
    """One deployment's ClusterQueue and LocalQueue."""

    deployment: str
    namespace: str
    gpus: int
    cpu: str
    memory: str
    borrowing_limit: int
    lending_limit: int | None
    weight: int


@dataclass(frozen=True)
class WebhookFirewall:
    """Where the rule that lets the control plane call Kueue's webhook goes.

    `source_ranges`: the control plane's range, as the cluster reports it
    (:func:`control_plane_ranges`). `node_service_account`: every pool of the stack runs as it
    (components/gke/node_config.py), and no pool carries network tags, so the rule targets it.
    """

    project_id: str
    network: pulumi.Input[str]
    source_ranges: pulumi.Input[Sequence[str]]
    node_service_account: pulumi.Input[str]


def control_plane_ranges(private_cluster_config: Any, dry_run: bool = False) -> list[str]:
    """The control plane's source range for control-plane-to-node traffic.

    A VPC-peering private cluster reports its control plane's /28,
    `privateClusterConfig.masterIpv4CidrBlock`; terraform-google-kubernetes-engine's private
    module opens webhooks from it (modules/private-cluster, `cluster_endpoint_for_nodes =
    var.master_ipv4_cidr_block`; issue #859: the whole /28, not the endpoint). A Private Service
    Connect cluster (this stack's: no masterIpv4CidrBlock is set) reports none
    (telepresenceio/telepresence.io#303), only its internal endpoint, `privateEndpoint`: its /32,
    as the same module's public-cluster variant uses `"${endpoint}/32"`.

    Neither reported: a preview (`dry_run`) gets no range, and an update stops here. An ingress
    rule without a source applies to 0.0.0.0/0 (VPC firewall rules, "Sources for ingress rules"),
    so an empty list must never reach Google Cloud (the policy pack refuses one too)."""
    cidr = getattr(private_cluster_config, "master_ipv4_cidr_block", None)
    endpoint = getattr(private_cluster_config, "private_endpoint", None)
    if cidr:
        return [cidr]
    if endpoint:
        return [f"{endpoint}/32"]
    if dry_run:
        return []
    raise ValueError(
        "the cluster reports neither privateClusterConfig.masterIpv4CidrBlock nor "
        "privateEndpoint: no source range for Kueue's webhook firewall rule"
    )


@dataclass(frozen=True)
class KueueArgs:
    config: KueueConfig
    flavors: Sequence[Flavor]
    queues: Sequence[Queue]
    k8s_provider: k8s.Provider
    # What must exist first (the cluster's node pools, the deployment namespaces).
    after: Sequence[pulumi.Resource] = field(default_factory=list)
    # Prod: Pulumi `protect` on Kueue's namespace (deleting it deletes the controller, and every
    # queued task's pod stays gated).
    protect: bool = False
    # The control-plane-to-webhook firewall rule (None: no rule, e.g. a component test).
    firewall: WebhookFirewall | None = None


def flavors(cfg: StackConfig) -> list[Flavor]:
    """One flavor per GPU pool: a ComputeClass's members first, in its priority order (the order
    Kueue tries them for the class's tasks), then the other pools in config order."""
    class_of = {p: c.name for c in cfg.gpu_classes for p in c.pools}
    ordered = [p for c in cfg.gpu_classes for p in c.pools]
    ordered += [p.name for p in cfg.gpu_pools if p.name not in class_of]
    by_name = {p.name: p for p in cfg.gpu_pools}
    out = []
    for pool_name in ordered:
        compute_class = class_of.get(pool_name)
        labels = {gpu_pool.POOL_LABEL: pool_name}
        if compute_class:
            labels[gpu_pool.COMPUTE_CLASS_KEY] = compute_class
        arm = gpu_pool.is_arm(by_name[pool_name])
        tolerations = gpu_pool.tolerations(compute_class, arm)
        if pool_name in cfg.kueue.queued_pools():
            tolerations.append(dict(QUEUED_TOLERATION))
        out.append(Flavor(pool_name, labels, tolerations))
    return out


def queues(cfg: StackConfig) -> list[Queue]:
    out = []
    for d in cfg.deployments:
        limits = cfg.kueue.deployments.get(d.name)
        out.append(
            Queue(
                deployment=d.name,
                namespace=d.namespace,
                gpus=d.gpu_quota,
                cpu=d.cpu_quota,
                memory=d.memory_quota,
                borrowing_limit=limits.borrowing_limit if limits else 0,
                lending_limit=limits.lending_limit if limits else None,
                weight=limits.fair_sharing_weight if limits else 1,
            )
        )
    return out


def manager_config(cfg: KueueConfig, namespaces: Sequence[str]) -> dict[str, Any]:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2): the chart's defaults, with the pod
    integration only, managed namespaces = the deployments', internal certificates, fair sharing."""
    out: dict[str, Any] = {
        "apiVersion": CONFIG_API_VERSION,
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        # Only pods with the queue label are queued; other pods of the namespace pass untouched.
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": {
            "matchExpressions": [
                {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(namespaces)}
            ]
        },
        "internalCertManagement": {"enable": True},
        "integrations": {"frameworks": ["pod"]},
    }
    if cfg.fair_sharing:
        out["fairSharing"] = {"preemptionStrategies": list(FAIR_SHARING_STRATEGIES)}
    return out


def chart_values(cfg: KueueConfig, namespaces: Sequence[str]) -> dict[str, Any]:
    return {
        "managerConfig": {
            "controllerManagerConfigYaml": yaml.safe_dump(
                manager_config(cfg, namespaces), sort_keys=False
            )
        },
    }


def resource_flavor(flavor: Flavor) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceFlavor",
        "metadata": {"name": flavor.name},
        "spec": {
            "nodeLabels": dict(flavor.node_labels),
            "tolerations": [dict(t) for t in flavor.tolerations],
        },
    }


def _gpu_quota(queue: Queue) -> dict[str, Any]:
    quota: dict[str, Any] = {
        "name": GPU,
        "nominalQuota": str(queue.gpus),
        "borrowingLimit": str(queue.borrowing_limit),
    }
    if queue.lending_limit is not None:
        quota["lendingLimit"] = str(queue.lending_limit)
    return quota


def cluster_queue(cfg: KueueConfig, queue: Queue, flavors: Sequence[Flavor]) -> dict[str, Any]:
    """The deployment's ClusterQueue: only its own namespace may use it."""
    preemption: dict[str, Any] = {
        "reclaimWithinCohort": cfg.preemption.reclaim_within_cohort,
        "withinClusterQueue": cfg.preemption.within_cluster_queue,
    }
    if not cfg.fair_sharing:
        # Classic preemption only (Kueue: borrowWithinCohort is not for fair sharing).
        preemption["borrowWithinCohort"] = {"policy": "Never"}
    spec: dict[str, Any] = {
        "cohortName": cfg.cohort,
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: queue.namespace}},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [
            {
                "coveredResources": [GPU, "cpu", "memory"],
                "flavors": [
                    {
                        "name": f.name,
                        "resources": [
                            _gpu_quota(queue),
                            {"name": "cpu", "nominalQuota": queue.cpu},
                            {"name": "memory", "nominalQuota": queue.memory},
                        ],
                    }
                    for f in flavors
                ],
            }
        ],
        # A ComputeClass's next member within the nominal quota before borrowing or preempting.
        "flavorFungibility": {"whenCanBorrow": "TryNextFlavor", "whenCanPreempt": "TryNextFlavor"},
        "preemption": preemption,
    }
    if cfg.fair_sharing:
        spec["fairSharing"] = {"weight": str(queue.weight)}
    if cfg.provisioning_request:
        spec["admissionChecksStrategy"] = {
            "admissionChecks": [
                {"name": PROVISIONING_CHECK, "onFlavors": list(cfg.provisioning_request.pools)}
            ]
        }
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterQueue",
        "metadata": {"name": queue.deployment},
        "spec": spec,
    }


def local_queue(cfg: KueueConfig, queue: Queue) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "LocalQueue",
        "metadata": {"name": cfg.queue_name, "namespace": queue.namespace},
        "spec": {"clusterQueue": queue.deployment},
    }


def provisioning_objects() -> list[dict[str, Any]]:
    """The ProvisioningRequest admission check for flex-start flavors (Kueue docs "Provisioning
    Request"; GKE's dws-queues.yaml in GoogleCloudPlatform/ai-on-gke)."""
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "ProvisioningRequestConfig",
            "metadata": {"name": PROVISIONING_CHECK},
            "spec": {
                "provisioningClassName": QUEUED_PROVISIONING_CLASS,
                "managedResources": [GPU],
            },
        },
        {
            "apiVersion": API_VERSION,
            "kind": "AdmissionCheck",
            "metadata": {"name": PROVISIONING_CHECK},
            "spec": {
                "controllerName": PROVISIONING_CONTROLLER,
                "parameters": {
                    "apiGroup": "kueue.x-k8s.io",
                    "kind": "ProvisioningRequestConfig",
                    "name": PROVISIONING_CHECK,
                },
            },
        },
    ]


def objects(
    cfg: KueueConfig, flavors: Sequence[Flavor], queues: Sequence[Queue]
) -> list[dict[str, Any]]:
    """Every Kueue object the stack declares, in apply order."""
    out = [resource_flavor(f) for f in flavors]
    if cfg.provisioning_request:
        out += provisioning_objects()
    out += [cluster_queue(cfg, q, flavors) for q in queues]
    out += [local_queue(cfg, q) for q in queues]
    return out


def _resource(name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> Any:
    meta = obj["metadata"]
    return k8s.apiextensions.CustomResource(
        name,
        api_version=obj["apiVersion"],
        kind=obj["kind"],
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=meta["name"],
            namespace=meta.get("namespace"),
            labels={"app.kubernetes.io/managed-by": "pulumi"},
        ),
        spec=obj["spec"],
        opts=opts,
    )


class Kueue(pulumi.ComponentResource):
    def __init__(self, name: str, args: KueueArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("astro-gke-gpu:kueue:Kueue", name, None, opts)
        cfg = args.config
        namespaces = [q.namespace for q in args.queues]
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cfg.namespace, labels={"app.kubernetes.io/managed-by": "pulumi"}
            ),
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.k8s_provider, protect=args.protect
            ),
        )
        install = k8s.helm.v4.Chart(
            f"{name}-chart",
            chart=CHART,
            version=cfg.version.removeprefix("v"),  # chart versions carry no "v" (Chart.yaml)
            namespace=cfg.namespace,
            values=chart_values(cfg, namespaces),
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.k8s_provider, depends_on=[ns, *args.after]
            ),
        )
        if args.firewall is not None:
            fw = args.firewall
            # With failurePolicy Fail (the chart's pod webhooks), a blocked webhook refuses every
            # pod of the queued namespaces: this rule opens the one port, from the control plane
            # only, to the stack's nodes only, above the network's deny-all (priority 1000 <
            # 65534). A fixed name: a replacement (name, project, direction) deletes first.
            self.webhook_firewall = gcp.compute.Firewall(
                f"{name}-webhook-firewall",
                name=f"{name}-webhook",
                project=fw.project_id,
                network=fw.network,
                description=(
                    f"GKE control plane to Kueue's webhook (tcp:{WEBHOOK_PORT}) on the stack's "
                    "nodes (managed by Pulumi)"
                ),
                direction="INGRESS",
                priority=1000,
                source_ranges=fw.source_ranges,
                target_service_accounts=[fw.node_service_account],
                allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(WEBHOOK_PORT)])],
                log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )
        # The chart's CRDs and webhook first (its objects: the Chart component's children), and
        # the rule that lets the API server call that webhook: Kueue's own objects are validated
        # by it (failurePolicy Fail).
        firewall = [self.webhook_firewall] if args.firewall is not None else []
        after = pulumi.ResourceOptions(
            parent=self, provider=args.k8s_provider, depends_on=[install, *firewall, *args.after]
        )
        created: dict[str, Any] = {}
        for obj in objects(cfg, args.flavors, args.queues):
            kind, meta = obj["kind"], obj["metadata"]
            key = f"{kind.lower()}-{meta.get('namespace', '')}{'-' if 'namespace' in meta else ''}"
            created[f"{kind}/{meta.get('namespace', '')}/{meta['name']}"] = _resource(
                f"{name}-{key}{meta['name']}", obj, after
            )
        self.register_outputs(
            {
                "version": cfg.version,
                "cohort": cfg.cohort,
                "queue_name": cfg.queue_name,
                "cluster_queues": [q.deployment for q in args.queues],
                "flavors": [f.name for f in args.flavors],
            }
        )
