"""A self-deployed NVIDIA DCGM exporter (opt-in: `observability.dcgm_source: self-deployed`).

Why: GKE's managed DCGM package exports a fixed field list without `DCGM_FI_DEV_XID_ERRORS`
(components/observability/alerts.py GKE_DCGM_METRICS), so it cannot feed an XID alert. Google Cloud Managed
Service for Prometheus documents the alternative: run NVIDIA's nv-hostengine and dcgm-exporter
yourself and scrape them with a ClusterPodMonitoring ("NVIDIA Data Center GPU Manager (DCGM)"
exporter page; manifests GoogleCloudPlatform/prometheus-engine@2ffde4ec
examples/nvidia-dcgm/exporter.yaml and pod-monitoring.yaml). This component is that example, with:

- the counters = GKE's package's fields (GKE_DCGM_METRICS) plus DCGM_FI_DEV_XID_ERRORS, so the
  dashboard and the other alerts read the same names as with GKE's package;
- its own namespace (not `gmp-public`, which GKE's managed collection owns), labelled for Pod
  Security `privileged`: both containers run `privileged: true` with hostPath mounts of GKE's
  driver install directory (and the exporter the kubelet's pod-resources socket), exactly as the
  example; that is the security cost of the opt-in (docs/observability.md);
- images pinned by digest (digests from the config: no public source pins these tags), resource
  requests and memory limits (the example sets none; no CPU limit, see REQUESTS), no
  service-account token (neither
  process calls the Kubernetes API: the exporter maps GPUs to pods through the kubelet's
  pod-resources socket, dcgm-exporter@3.3.0-3.2.0 pkg/dcgmexporter/kubernetes.go);
- a checksum of the counters on the exporter's pod template, so a field change rolls the
  exporter (it reads the file once at start).

The cluster's `enable_components` then lists no DCGM (components/observability/observability.py): one host
engine per node, one writer per metric.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config.observability import DCGM_DIGEST_KEYS
from components.observability.alerts import DCGM_XID, GKE_DCGM_METRICS
from components.observability.scrape import PORT_NAME, cluster_pod_monitoring

NAMESPACE = "kube-dcgm-exporter"  # kube-* is reserved: no deployment namespace can take it
HOSTENGINE = "nvidia-dcgm"
EXPORTER = "nvidia-dcgm-exporter"
# The example's images (prometheus-engine@2ffde4ec examples/nvidia-dcgm/exporter.yaml): DCGM 3.3.0
# for nv-hostengine and dcgm-exporter 3.3.0-3.2.0, built on the same DCGM, so the exporter and the
# remote host engine speak one DCGM version. Run pinned by digest (`<tag>@<digest>`: the runtime
# pulls the digest, the tag only reads). No public source found pins these tags by digest (the
# example, NVIDIA's chart values and the GPU Operator's bundles name tags, or digests without
# tags), so the digests are required config keys, validated in components/config/observability.py
# (`observability.dcgm_hostengine_digest`, `dcgm_exporter_digest`); prod's policy
# `workload-image-pinned-by-digest` refuses an image without one.
HOSTENGINE_IMAGE = DCGM_DIGEST_KEYS["dcgm_hostengine_digest"]
EXPORTER_IMAGE = DCGM_DIGEST_KEYS["dcgm_exporter_digest"]
HOSTENGINE_PORT = 5555
METRICS_PORT = 9400
# GKE's driver install directory, where GKE's managed driver installation puts the driver
# (hence: GKE-managed drivers only; components/config refuses INSTALLATION_DISABLED).
DRIVER_DIR = "/home/kubernetes/bin/nvidia"
POD_RESOURCES = "/var/lib/kubelet/pod-resources"
GPU_NODE_LABEL = "cloud.google.com/gke-accelerator"  # GKE sets it on every GPU node
PSA = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
LABELS = {"app.kubernetes.io/part-of": "dcgm-exporter", "app.kubernetes.io/managed-by": "pulumi"}
# Requests and limits: the example and NVIDIA's chart set none, so these are the stack's own
# bounds (Burstable pods with a memory cap on a GPU node); raise them if a pod is OOMKilled.
# No CPU limit, on purpose: Kubernetes enforces a CPU limit by throttling the container
# (kubernetes.io "Resource Management for Pods and Containers", how limits are applied), and a
# throttled exporter answers a scrape late; a scrape past its timeout is a missing sample, which
# the GPU alerts read as no data. The CPU request reserves its share; the memory limit bounds it.
REQUESTS = {"cpu": "50m", "memory": "128Mi"}
LIMITS = {"memory": "512Mi"}

# The counters: field, Prometheus type, help. Types and help from dcgm-exporter@3.3.0-3.2.0
# etc/dcp-metrics-included.csv (commented there: the PROF_PIPE_FP16/32/64 and PROF_SM_ACTIVE
# rows), or, for FB_TOTAL and PROF_NVLINK_TX/RX_BYTES (not in that csv; known to the exporter's
# go-dcgm field table, which parses every row: pkg/dcgmexporter/parser.go), from Google's example
# counters for the same image.
COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
    ),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_TOTAL", "gauge", "Total Frame Buffer of the GPU in MB."),
    (DCGM_XID, "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
    ("DCGM_FI_PROF_SM_ACTIVE", "gauge", "The ratio of cycles an SM has at least 1 warp assigned."),
    (
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "gauge",
        "Ratio of cycles the tensor (HMMA) pipe is active.",
    ),
    ("DCGM_FI_PROF_PIPE_FP64_ACTIVE", "gauge", "Ratio of cycles the fp64 pipes are active."),
    ("DCGM_FI_PROF_PIPE_FP32_ACTIVE", "gauge", "Ratio of cycles the fp32 pipes are active."),
    ("DCGM_FI_PROF_PIPE_FP16_ACTIVE", "gauge", "Ratio of cycles the fp16 pipes are active."),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles the device memory interface is active."),
    ("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", "The rate of data transmitted over the PCIe bus."),
    ("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", "The rate of data received over the PCIe bus."),
    ("DCGM_FI_PROF_NVLINK_TX_BYTES", "gauge", "The number of bytes of active NvLink tx data."),
    ("DCGM_FI_PROF_NVLINK_RX_BYTES", "gauge", "The number of bytes of active NvLink rx data."),
)
assert {f for f, _, _ in COUNTERS} == GKE_DCGM_METRICS | {DCGM_XID}


def counters_csv() -> str:
    """The exporter's --collectors file: `field, type, help` per line."""
    return "".join(f"{f}, {t}, {h}\n" for f, t, h in COUNTERS)


def exporter_command() -> list[str]:
    """The example's: name the container after its node, read the counters, and talk to the
    node's nv-hostengine on the node IP."""
    return [
        "/bin/bash",
        "-c",
        "hostname $NODE_NAME; dcgm-exporter --remote-hostengine-info $(NODE_IP) "
        "--collectors /etc/dcgm-exporter/counters.csv",
    ]


def _on_gpu_nodes() -> k8s.core.v1.AffinityArgs:
    return k8s.core.v1.AffinityArgs(
        node_affinity=k8s.core.v1.NodeAffinityArgs(
            required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                node_selector_terms=[
                    k8s.core.v1.NodeSelectorTermArgs(
                        match_expressions=[
                            k8s.core.v1.NodeSelectorRequirementArgs(
                                key=GPU_NODE_LABEL, operator="Exists"
                            )
                        ]
                    )
                ]
            )
        )
    )


def _field_env(name: str, path: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path)
        ),
    )


def _driver_volume() -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name="nvidia-install-dir-host",
        host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=DRIVER_DIR, type="Directory"),
    )


def _driver_mount() -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(
        name="nvidia-install-dir-host", mount_path="/usr/local/nvidia"
    )


@dataclass(frozen=True)
class DcgmExporterArgs:
    k8s_provider: k8s.Provider
    # `sha256:<hex>` of HOSTENGINE_IMAGE and EXPORTER_IMAGE (validated config keys).
    hostengine_digest: str
    exporter_digest: str
    # Created after these (the cluster, whose update turns GKE's own DCGM package off first).
    after: Sequence[pulumi.Resource] = ()


class DcgmExporter(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: DcgmExporterArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:observability:DcgmExporter", name, None, opts)

        def child(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, provider=args.k8s_provider, depends_on=[*args.after, *deps]
            )

        def meta(obj: str, labels: dict[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=obj, namespace=NAMESPACE, labels={**LABELS, **(labels or {})}
            )

        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels={**LABELS, **PSA}),
            opts=child(),
        )
        privileged = k8s.core.v1.SecurityContextArgs(privileged=True)
        tolerate_all = [k8s.core.v1.TolerationArgs(operator="Exists")]  # as the example
        engine_labels = {"app.kubernetes.io/name": HOSTENGINE}
        k8s.apps.v1.DaemonSet(
            f"{name}-hostengine",
            metadata=meta(HOSTENGINE, engine_labels),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=engine_labels),
                update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(type="RollingUpdate"),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**LABELS, **engine_labels}),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        affinity=_on_gpu_nodes(),
                        tolerations=tolerate_all,
                        volumes=[_driver_volume()],
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=HOSTENGINE,
                                image=f"{HOSTENGINE_IMAGE}@{args.hostengine_digest}",
                                command=["nv-hostengine", "-n", "-b", "ALL"],
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(
                                        container_port=HOSTENGINE_PORT, host_port=HOSTENGINE_PORT
                                    )
                                ],
                                security_context=privileged,
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=REQUESTS, limits=LIMITS
                                ),
                                volume_mounts=[_driver_mount()],
                            )
                        ],
                    ),
                ),
            ),
            opts=child(ns),
        )
        csv = counters_csv()
        counters = k8s.core.v1.ConfigMap(
            f"{name}-counters",
            metadata=meta(f"{EXPORTER}-metrics"),
            data={"counters.csv": csv},
            opts=child(ns),
        )
        exporter_labels = {"app.kubernetes.io/name": EXPORTER}
        k8s.apps.v1.DaemonSet(
            f"{name}-exporter",
            metadata=meta(EXPORTER, exporter_labels),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=exporter_labels),
                update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(type="RollingUpdate"),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**LABELS, **exporter_labels},
                        annotations={
                            "astro-gke-gpu/counters-sha256": hashlib.sha256(
                                csv.encode()
                            ).hexdigest()
                        },
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        affinity=_on_gpu_nodes(),
                        tolerations=tolerate_all,
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="counters",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                    name=f"{EXPORTER}-metrics"
                                ),
                            ),
                            _driver_volume(),
                            k8s.core.v1.VolumeArgs(
                                name="pod-resources",
                                host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=POD_RESOURCES),
                            ),
                        ],
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=EXPORTER,
                                image=f"{EXPORTER_IMAGE}@{args.exporter_digest}",
                                command=exporter_command(),
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(
                                        name=PORT_NAME, container_port=METRICS_PORT
                                    )
                                ],
                                security_context=privileged,
                                env=[
                                    _field_env("NODE_NAME", "spec.nodeName"),
                                    k8s.core.v1.EnvVarArgs(
                                        name="DCGM_EXPORTER_KUBERNETES_GPU_ID_TYPE",
                                        value="device-name",
                                    ),
                                    k8s.core.v1.EnvVarArgs(
                                        name="LD_LIBRARY_PATH", value="/usr/local/nvidia/lib64"
                                    ),
                                    _field_env("NODE_IP", "status.hostIP"),
                                    k8s.core.v1.EnvVarArgs(
                                        name="DCGM_EXPORTER_KUBERNETES", value="true"
                                    ),
                                    k8s.core.v1.EnvVarArgs(
                                        name="DCGM_EXPORTER_LISTEN", value=f":{METRICS_PORT}"
                                    ),
                                ],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=REQUESTS, limits=LIMITS
                                ),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(
                                        name="counters",
                                        mount_path="/etc/dcgm-exporter",
                                        read_only=True,
                                    ),
                                    _driver_mount(),
                                    k8s.core.v1.VolumeMountArgs(
                                        name="pod-resources", mount_path=POD_RESOURCES
                                    ),
                                ],
                            )
                        ],
                    ),
                ),
            ),
            opts=child(ns, counters),
        )
        cluster_pod_monitoring(f"{name}-scrape", EXPORTER, LABELS, exporter_labels, child())
        self.register_outputs({"namespace": NAMESPACE})
