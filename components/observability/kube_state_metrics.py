"""kube-state-metrics, deployed by the stack and scraped by Managed Service for Prometheus.

Why not GKE's managed kube-state package: it carries pod, deployment, statefulset, daemonset, HPA
and storage metrics, not `kube_resourcequota` (quota use per deployment), `kube_node_labels` (nodes
per GPU pool) or `kube_pod_nodeselectors` (which pool a pending pod waits for). GKE's answer for
"collect additional metrics" is to run the open-source kube-state-metrics yourself (GKE "Configure
metrics collection", kube state metrics). Running both would put two writers behind the same
`kube_pod_*` metric names, so the stack runs only its own, and only for what the alerts and the
dashboard read (components/observability/alerts.py):

- resources: pods, nodes, resourcequotas (`--resources`); its ClusterRole can list and watch those
  three and nothing else (read-only: the policy pack's `rbac-no-cluster-scope` exception);
- metrics: exactly the six it needs (`--metric-allowlist`), `kube_pod_nodeselectors` opted in
  (EXPERIMENTAL, opt-in: kube-state-metrics docs/metrics/workload/pod-metrics.md), the `gpu-pool`
  node label allowlisted (`--metric-labels-allowlist`);
- scraped by a ClusterPodMonitoring with `targetLabels.metadata: []`, as Google's own example does
  (GoogleCloudPlatform/prometheus-engine examples/kube-state-metrics), so the series keep
  kube-state-metrics' `namespace` and `pod` (the object's, not the exporter's).

It runs on the system pool (GPU nodes are tainted), as a non-root, read-only container under the
namespace's `restricted` Pod Security level.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.observability.scrape import PORT_NAME, cluster_pod_monitoring

NAMESPACE = "kube-state-metrics"  # kube-* is reserved: no deployment namespace can take it
NAME = "kube-state-metrics"
# registry.k8s.io, the image kube-state-metrics publishes (README "Container Image"); v2.13.0 has
# --metric-opt-in-list and kube_pod_nodeselectors. Pinned by digest (`<tag>@<digest>`: the runtime
# pulls the digest): the multi-arch digest registry.k8s.io serves for v2.13.0, from the Kubernetes
# image promoter's manifest, kubernetes/k8s.io
# registry.k8s.io/images/k8s-staging-kube-state-metrics/images.yaml
# @ d7bd31108ded441313a66c085b7db945dbea4c4d (`kube-state-metrics` dmap, "v2.13.0").
DIGEST_SOURCE = (
    "kubernetes/k8s.io registry.k8s.io/images/k8s-staging-kube-state-metrics/images.yaml "
    "@ d7bd31108ded441313a66c085b7db945dbea4c4d"
)
TAG = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0"
DIGEST = "sha256:639a1e2da549210adddc0391ff91e270e83f7873014aec53258462812f741e6f"
IMAGE = f"{TAG}@{DIGEST}"
PORT = 8080
TELEMETRY_PORT = 8081
RESOURCES = ("pods", "nodes", "resourcequotas")
METRICS = (
    "kube_pod_created",
    "kube_pod_status_scheduled",
    "kube_pod_nodeselectors",
    "kube_pod_container_resource_requests",
    "kube_node_labels",
    "kube_resourcequota",
)
OPT_IN = ("kube_pod_nodeselectors",)
NODE_LABELS = ("gpu-pool",)  # components/gke/gpu_pool.py POOL_LABEL
READ_VERBS = ["list", "watch"]
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "pulumi"}
PSA = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def args() -> list[str]:
    return [
        f"--port={PORT}",
        f"--telemetry-port={TELEMETRY_PORT}",
        f"--resources={','.join(RESOURCES)}",
        f"--metric-allowlist={','.join(METRICS)}",
        f"--metric-opt-in-list={','.join(OPT_IN)}",
        f"--metric-labels-allowlist=nodes=[{','.join(NODE_LABELS)}]",
    ]


def rules() -> list[dict[str, list[str]]]:
    return [{"apiGroups": [""], "resources": list(RESOURCES), "verbs": READ_VERBS}]


@dataclass(frozen=True)
class KubeStateMetricsArgs:
    k8s_provider: k8s.Provider
    cluster_name: str


class KubeStateMetrics(pulumi.ComponentResource):
    def __init__(
        self, name: str, args_: KubeStateMetricsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:observability:KubeStateMetrics", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args_.k8s_provider)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels={**LABELS, **PSA}),
            opts=k8s_opts,
        )
        in_ns = pulumi.ResourceOptions(parent=self, provider=args_.k8s_provider, depends_on=[ns])

        def meta(obj: str, namespaced: bool = True) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=obj, namespace=NAMESPACE if namespaced else None, labels=LABELS
            )

        sa = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta(NAME), opts=in_ns)
        role_name = f"{args_.cluster_name}:{NAME}"
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-reader",
            metadata=meta(role_name, namespaced=False),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"]
                )
                for r in rules()
            ],
            opts=k8s_opts,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-reader-binding",
            metadata=meta(role_name, namespaced=False),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role_name
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=NAMESPACE)
            ],
            opts=pulumi.ResourceOptions(
                parent=self, provider=args_.k8s_provider, depends_on=[role, sa]
            ),
        )
        selector = {"app.kubernetes.io/name": NAME}
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(NAME),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=LABELS),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=NAME,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=65534,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=NAME,
                                image=IMAGE,
                                args=args(),
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(
                                        name=PORT_NAME, container_port=PORT
                                    ),
                                    k8s.core.v1.ContainerPortArgs(
                                        name="telemetry", container_port=TELEMETRY_PORT
                                    ),
                                ],
                                # No CPU limit, on purpose: Kubernetes enforces one by
                                # throttling (kubernetes.io "Resource Management for Pods and
                                # Containers"), and a throttled exporter answers the 30 s scrape
                                # late or not at all; the request reserves its share.
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "100m", "memory": "190Mi"},
                                    limits={"memory": "250Mi"},
                                ),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                                liveness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(
                                        path="/healthz", port=PORT
                                    ),
                                    initial_delay_seconds=5,
                                    timeout_seconds=5,
                                ),
                                readiness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(
                                        path="/", port=TELEMETRY_PORT
                                    ),
                                    initial_delay_seconds=5,
                                    timeout_seconds=5,
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, provider=args_.k8s_provider, depends_on=[ns, sa]
            ),
        )
        cluster_pod_monitoring(f"{name}-scrape", NAME, LABELS, selector, k8s_opts)
        self.register_outputs({"namespace": NAMESPACE})
