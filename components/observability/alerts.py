"""The alert rules: one place for every threshold, metric name and label the alerts use.

Each rule is a Prometheus alerting rule (name, PromQL, `for`, labels) that
components/observability/observability.py registers as a Cloud Monitoring alert policy with a PromQL condition,
and that tests/test_alert_rules.py reads back from the registrations and runs through Prometheus's
own `promtool test rules`. Nothing here reads config or registers a resource.

Metric sources (docs/observability.md, "Metric names and labels" and "Sources"):
- DCGM: GKE's managed DCGM package (GKE "Collect and view DCGM metrics": GKE runs NVIDIA's
  DCGM-Exporter and scrapes it with a ClusterPodMonitoring into Managed Service for Prometheus).
  Only what that package exports is read: GKE_DCGM_METRICS below; it has no XID metric, so the
  XID alert exists only with `observability.dcgm_source: self-deployed`, where the stack runs
  dcgm-exporter itself with those fields plus DCGM_FI_DEV_XID_ERRORS
  (components/observability/dcgm_exporter.py).
- Pod, node and quota state: kube-state-metrics v2.13.0, deployed by the stack
  (components/observability/kube_state_metrics.py; kubernetes/kube-state-metrics docs/metrics/...): GKE's managed
  kube-state package has no ResourceQuota, node-label or node-selector metric.
- Spot preemptions: a log-based counter over Compute Engine's `compute.instances.preempted` system
  event (GKE "Spot VMs"), read in PromQL as `logging_googleapis_com:user_<name>` (Cloud Monitoring
  "Map Cloud Monitoring metrics to PromQL": the first `/` becomes `:`, every other special
  character `_`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.config import GpuClassConfig, GpuPoolConfig, StackConfig
from components.gke import catalog, cold_start
from components.gke.gpu_pool import gpu_scheduling

# --- How often things are seen ----------------------------------------------------------------
# Cloud Monitoring evaluates a PromQL condition every 30 s by default, the minimum (a positive
# multiple of 30 s: AlertPolicy condition_prometheus_query_language.evaluation_interval).
EVALUATION_INTERVAL_SECONDS = 30
# The scrape interval of the stack's exporters (their ClusterPodMonitoring, scrape.py; GMP's own
# examples use 30 s: prometheus-engine examples/kube-state-metrics, and the DCGM example).
SCRAPE_INTERVAL_SECONDS = 30

# --- Thresholds: every one here, each with why -------------------------------------------------
# A pending GPU pod alerts this long BEFORE its KubernetesPodOperator schedule budget ends: one
# scrape, one evaluation and a minute for ingestion, so the alert is out while the pod still
# exists (KPO deletes it at the budget and the series ends with it).
PENDING_LEAD_SECONDS = SCRAPE_INTERVAL_SECONDS + EVALUATION_INTERVAL_SECONDS + 60
# A GPU is idle below 1 % utilisation (DCGM_FI_DEV_GPU_UTIL is a whole percentage: 0 means no
# kernel ran in the sample period).
IDLE_UTILIZATION_PERCENT = 1
# The cluster autoscaler removes a node unneeded for --scale-down-unneeded-time, 10 min by default
# (kubernetes/autoscaler cluster-autoscaler/FAQ.md); a ComputeClass sets its own
# consolidationDelayMinutes. An idle GPU node that outlives that delay by this margin (the
# autoscaler's drain and VM deletion) is one the autoscaler will not remove: a pod that never
# finished, or a pool held up by min_nodes.
AUTOSCALER_UNNEEDED_SECONDS = 600
IDLE_MARGIN_SECONDS = 300
# A namespace whose GPU requests sit at its quota this long is queueing its fan-out.
QUOTA_SUSTAINED_SECONDS = 900
# Spot preemptions within an hour that alert: as many as a spot task's retries
# (cold_start.SPOT_RETRIES), so one task could have used them all up.
PREEMPTION_WINDOW = "1h"
PREEMPTIONS_PER_WINDOW = cold_start.SPOT_RETRIES
# GKE spreads a regional cluster's nodes over three zones unless node locations are given.
REGIONAL_DEFAULT_ZONES = 3

# --- Metric names and labels -------------------------------------------------------------------
# What GKE's managed DCGM package exports: the 21 fields of a scrape of GKE's own exporter
# (gke-dcgm-exporter:4.4.1-4.6.0-gke.17, component gpu-dcgm 1.34.1-gke.2:
# elideng-sg/hypercomputer-internode-deepdive@8af85188 assets/lab-10/dcgm-metrics-raw.txt and
# @31be610d assets/lab-14/dcgm_xid_metric.txt). No DCGM_FI_DEV_XID_ERRORS, no ECC counters: GKE's
# field list differs from NVIDIA's default-counters.csv, which has XID. tests/test_alert_rules.py
# checks that every DCGM metric a query reads is in this set.
GKE_DCGM_METRICS = frozenset(
    {
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_FB_TOTAL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_MEMORY_TEMP",
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "DCGM_FI_PROF_NVLINK_RX_BYTES",
        "DCGM_FI_PROF_NVLINK_TX_BYTES",
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "DCGM_FI_PROF_PIPE_FP16_ACTIVE",
        "DCGM_FI_PROF_PIPE_FP32_ACTIVE",
        "DCGM_FI_PROF_PIPE_FP64_ACTIVE",
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "DCGM_FI_PROF_SM_ACTIVE",
    }
)
# The last XID error a GPU reported (NVIDIA DCGM field 230; dcgm-exporter etc/default-counters.csv
# "Value of the last XID error encountered", a gauge): only the self-deployed exporter has it.
DCGM_XID = "DCGM_FI_DEV_XID_ERRORS"
# How long an XID stays visible to the alert: the gauge holds the code of the last error, and a
# 5-minute max keeps one scraped sample (30 s interval) in view of ten evaluations.
XID_WINDOW = "5m"
# "GPU utilization (in %)", "Framebuffer memory used (in MiB)": the exporter's HELP text in the
# scrape above; the same names and units in Google's self-deployed example
# (GoogleCloudPlatform/prometheus-engine@2ffde4ec examples/nvidia-dcgm/exporter.yaml).
DCGM_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"
# The node's name. GKE's exporter writes `Hostname` = its node's name (the scrape above is of pod
# dcgm-exporter-rv72r, on node gke-...-hhp6 by assets/lab-10/managed-stack.txt @f0d21992, and its
# series carry Hostname="gke-...-hhp6"; dcgm-exporter takes NODE_NAME when set:
# internal/pkg/hostname/hostname.go). dcgm-exporter renames it
# `hostname` from 4.6.0-4.8.3 (NVIDIA/dcgm-exporter@d5e5f510 "Rename Hostname label to hostname
# (#655)"; 4.4.1-4.6.0, the base of GKE's image, renders `Hostname`:
# internal/pkg/rendermetrics/render_metrics.go), so queries read either spelling (dcgm_by_node).
DCGM_NODE_LABEL = "Hostname"
DCGM_NODE_LABEL_UPSTREAM = "hostname"
# A GPU allocated to a pod carries that pod's `namespace`, `pod` and `container` (dcgm-exporter's
# Kubernetes mapping, internal/pkg/transformation/const.go), and GKE's ClusterPodMonitoring keeps
# them: `targetLabels.metadata: []` (assets/lab-10/scrape-config.txt above; an empty list sets no
# target label: prometheus-engine pkg/operator/apis/monitoring/v1/pod_types.go). An unallocated
# GPU has none of the three.
DCGM_NAMESPACE_LABEL = "namespace"
# kube-state-metrics v2.13.0 (kubernetes/kube-state-metrics@76c5888e): kube_pod_container_resource_
# requests sanitizes the resource name into its `resource` label (internal/store/pod.go,
# SanitizeLabelName: every character outside [a-zA-Z0-9_] becomes `_`); kube_resourcequota keeps
# the ResourceName as is (internal/store/resourcequota.go); kube_node_labels and
# kube_pod_nodeselectors prefix sanitized keys with `label_` / `nodeselector_`
# (docs/metrics/cluster/node-metrics.md, docs/metrics/workload/pod-metrics.md).
GPU_RESOURCE_LABEL = "nvidia_com_gpu"
QUOTA_RESOURCE = (
    "requests.nvidia.com/gpu"  # the ResourceQuota key (components/airflow/airflow_access.py)
)
POOL_NODE_LABEL = "label_gpu_pool"  # kube_node_labels of the `gpu-pool` node label (allowlisted)
POOL_SELECTOR_LABEL = "nodeselector_gpu_pool"
CLASS_SELECTOR_LABEL = "nodeselector_cloud_google_com_compute_class"
RULE_GROUP = "astro_gke_gpu"


def preemption_metric(cluster_name: str) -> str:
    """The log-based metric's name (components/observability/observability.py)."""
    return f"{cluster_name}-spot-preemptions"


def promql_name(log_metric: str) -> str:
    """A user log-based metric as PromQL names it."""
    return "logging_googleapis_com:user_" + log_metric.replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class Rule:
    """One alerting rule: what a Prometheus rule file and a PromQL alert condition both hold."""

    key: str  # stable resource-name suffix
    alert: str  # the alerting rule's name (a valid Prometheus label name)
    expr: str
    for_seconds: int
    severity: str  # Cloud Monitoring AlertPolicy severity
    summary: str
    runbook: str
    labels: dict[str, str] = field(default_factory=dict)


def _node_pool(pool: str) -> str:
    """Nodes of one GPU pool, by node name and pool (kube_node_labels)."""
    return (
        f'max by (node, gpu_pool) (label_replace(kube_node_labels{{{POOL_NODE_LABEL}="{pool}"}}, '
        f'"gpu_pool", "$1", "{POOL_NODE_LABEL}", "(.*)"))'
    )


def dcgm_by_node(metric: str) -> str:
    """A DCGM metric with its node's name as `node`, from either spelling of the exporter's label
    (an absent label does not match `(.+)`, so the series passes through unchanged)."""
    out = metric
    for label in (DCGM_NODE_LABEL, DCGM_NODE_LABEL_UPSTREAM):
        out = f'label_replace({out}, "node", "$1", "{label}", "(.+)")'
    return out


def _node_util() -> str:
    """Each GPU node's busiest GPU, keyed by node name."""
    return f"max by (node) ({dcgm_by_node(DCGM_UTIL)})"


@dataclass(frozen=True)
class PendingTarget:
    """A pool or class tasks select, the node selector that names it, and its KPO schedule
    budget (gpu_pool.gpu_scheduling)."""

    name: str
    selector_label: str
    schedule_seconds: int

    @property
    def threshold(self) -> int:
        return self.schedule_seconds - PENDING_LEAD_SECONDS


def _pending_expr(t: PendingTarget) -> str:
    return (
        'label_replace(max by (namespace, pod) (time() - kube_pod_created), "gpu_target", '
        f'"{t.name}", "", "")'
        f" > {t.threshold}"
        ' and on (namespace, pod) max by (namespace, pod) (kube_pod_status_scheduled{condition="false"}) == 1'
        " and on (namespace, pod) max by (namespace, pod)"
        f' (kube_pod_nodeselectors{{{t.selector_label}="{t.name}"}})'
    )


def pending_rule(targets: list[PendingTarget]) -> Rule:
    """One condition for every pool and class, each with its own threshold (one condition costs
    less than one per target: Cloud Monitoring charges per condition, "Manage alerting costs")."""
    expr = " or ".join(f"({_pending_expr(t)})" for t in targets)
    budgets = "\n".join(
        f"| `{t.name}` | {t.schedule_seconds} s | {t.threshold} s |" for t in targets
    )
    return Rule(
        key="pending",
        alert="GpuPodPendingPastBudget",
        expr=expr,
        for_seconds=0,
        severity="ERROR",
        summary=(
            f"A GPU task pod is still unscheduled {PENDING_LEAD_SECONDS} s before its "
            "KubernetesPodOperator schedule budget ends; the try then fails"
        ),
        runbook=(
            "**What it means.** A task pod selecting a GPU pool or class (label `gpu_target`) is "
            "still unscheduled close to the end of its KubernetesPodOperator schedule budget "
            "(`gpu_scheduling.<target>.schedule_timeout_seconds`, components/cold_start.py). At "
            "the budget KPO deletes the pod and fails the try. The autoscaler found no node: a "
            "stockout of the GPU in the pool's zones (spot or on-demand), the project's GPU quota "
            "(Compute Engine `NVIDIA_*_GPUS`), or the pool at max_nodes.\n\n"
            "| target | KPO budget | alert after |\n|---|---|---|\n"
            f"{budgets}\n\n"
            "**What to do.** `kubectl -n <namespace> describe pod <pod>`: the events name the "
            "autoscaler's reason (`NotTriggerScaleUp`, `FailedScaleUp: GCE out of resources`, "
            "`max node group size reached`). Stockout: add zones or a fallback pool to a GPU "
            "class, or move the task to flex-start. Quota: request more in IAM & Admin > Quotas. "
            "Max size: raise the pool's max_nodes. The task retries on its own "
            "(`retries`, `retry_delay_seconds`); see docs/observability.md."
        ),
    )


def pending_targets(
    cfg: StackConfig, figures: cold_start.Figures = cold_start.SOURCED
) -> list[PendingTarget]:
    """Every pool and class with the schedule budget KPO gets for it."""
    classes = {c.name for c in cfg.gpu_classes}
    out = []
    for target, hints in gpu_scheduling(cfg, figures).items():
        seconds = hints["schedule_timeout_seconds"]
        assert isinstance(seconds, int | float)
        label = CLASS_SELECTOR_LABEL if target in classes else POOL_SELECTOR_LABEL
        out.append(PendingTarget(target, label, int(seconds)))
    return out


def _zones(pool: GpuPoolConfig, cfg: StackConfig) -> int:
    if pool.zones:
        return len(pool.zones)
    return 1 if catalog.is_zone(cfg.location) else REGIONAL_DEFAULT_ZONES


def consolidation_seconds(pool: GpuPoolConfig, classes: list[GpuClassConfig]) -> int:
    """How long the autoscaler lets an unneeded node of `pool` live."""
    for c in classes:
        if pool.name in c.pools:
            return c.consolidation_delay_minutes * 60
    return AUTOSCALER_UNNEEDED_SECONDS


def idle_rule(pool: GpuPoolConfig, cfg: StackConfig) -> Rule:
    delay = consolidation_seconds(pool, cfg.gpu_classes)
    # A warm pool keeps min_nodes per zone up on purpose, busy or not.
    allowed = pool.min_nodes * _zones(pool, cfg)
    expr = (
        f"count by (gpu_pool) (({_node_util()} < {IDLE_UTILIZATION_PERCENT})"
        f" * on (node) group_left (gpu_pool) {_node_pool(pool.name)}) > {allowed}"
    )
    return Rule(
        key=f"idle-{pool.name}",
        alert=f"GpuNodesIdle_{pool.name.replace('-', '_')}",
        expr=expr,
        for_seconds=delay + IDLE_MARGIN_SECONDS,
        severity="WARNING",
        summary=(
            f"GPU pool {pool.name}: "
            + (f"more than {allowed} nodes" if allowed else "a node")
            + f" below {IDLE_UTILIZATION_PERCENT} % "
            f"GPU utilisation for {(delay + IDLE_MARGIN_SECONDS) // 60} min, past the autoscaler's "
            f"{delay // 60} min"
        ),
        runbook=(
            f"**What it means.** Nodes of GPU pool `{pool.name}` have run no GPU kernel for "
            f"{(delay + IDLE_MARGIN_SECONDS) // 60} min, longer than the autoscaler keeps an "
            f"unneeded node ({delay // 60} min, plus {IDLE_MARGIN_SECONDS // 60} min to drain and "
            "delete it), and beyond the pool's warm minimum "
            f"({pool.min_nodes} per zone). They cost the full GPU price. Usual cause: a task pod "
            "that never finished (a hung process holds the GPU; the autoscaler never removes a "
            "node running a pod without a controller, which KPO pods are), or a long image pull.\n\n"
            "**What to do.** `kubectl get pods -A -o wide --field-selector spec.nodeName=<node>`: "
            "find the pod, check its Airflow task (`execution_timeout` bounds a hung task), delete "
            "it if its task is gone. A pull that takes this long: preload the image "
            "(`preload_disk_image`). See docs/observability.md."
        ),
        labels={"gpu_pool": pool.name},
    )


def quota_rule(namespaces: list[str]) -> Rule:
    selector = "|".join(sorted(namespaces))
    base = f'kube_resourcequota{{resource="{QUOTA_RESOURCE}", namespace=~"{selector}"'
    expr = (
        f'max by (namespace) ({base}, type="used"}})'
        f' >= on (namespace) max by (namespace) ({base}, type="hard"}})'
        f' and on (namespace) max by (namespace) ({base}, type="hard"}}) > 0'
    )
    return Rule(
        key="gpu-quota",
        alert="DeploymentGpuQuotaSaturated",
        expr=expr,
        for_seconds=QUOTA_SUSTAINED_SECONDS,
        severity="WARNING",
        summary=(
            f"An Airflow deployment's namespace has used its whole GPU quota for "
            f"{QUOTA_SUSTAINED_SECONDS // 60} min: its fan-out is queueing"
        ),
        runbook=(
            "**What it means.** The namespace's pods request every GPU its ResourceQuota "
            f"(`{QUOTA_RESOURCE}`, the deployment's `gpu_quota`) allows, and have for "
            f"{QUOTA_SUSTAINED_SECONDS // 60} min. Further GPU task pods are refused at admission "
            "until one finishes: the deployment's fan-out is waiting on its own quota, not on "
            "capacity.\n\n"
            "**What to do.** If the wait is expected, nothing. Otherwise raise the deployment's "
            "`gpu_quota` (and the pool's max_nodes if the cluster cannot hold it), or lower the "
            "DAG's concurrency (`max_active_tasks`, an Airflow pool sized to the quota). "
            "`kubectl -n <namespace> describe resourcequota kpo-quota` shows used and hard. "
            "See docs/observability.md."
        ),
    )


def preemption_rule(cluster_name: str) -> Rule:
    metric = promql_name(preemption_metric(cluster_name))
    return Rule(
        key="spot-preemptions",
        alert="SpotPreemptionsHigh",
        expr=f"sum(increase({metric}[{PREEMPTION_WINDOW}])) >= {PREEMPTIONS_PER_WINDOW}",
        for_seconds=0,
        severity="WARNING",
        summary=(
            f"{PREEMPTIONS_PER_WINDOW} or more spot GPU nodes preempted within "
            f"{PREEMPTION_WINDOW}: a spot task may have used up its {cold_start.SPOT_RETRIES} retries"
        ),
        runbook=(
            "**What it means.** Compute Engine reclaimed spot VMs of this project's GKE nodes "
            f"{PREEMPTIONS_PER_WINDOW} or more times within {PREEMPTION_WINDOW} "
            "(`compute.instances.preempted` system events). Each preemption fails the running "
            f"try of every task on the node; a spot task has {cold_start.SPOT_RETRIES} retries, so "
            "this rate can fail DAG runs.\n\n"
            "**What to do.** Logs Explorer: "
            '`protoPayload.methodName="compute.instances.preempted"` names the nodes and zones. '
            "If one zone dominates, spread the pool (`zones`); for tasks that cannot lose work, "
            "put an on-demand or flex-start fallback in a GPU class. See docs/observability.md."
        ),
    )


def xid_rule() -> Rule:
    """A GPU that reported an XID error: alert at once (for 0), per node and GPU."""
    seen = f"max_over_time({DCGM_XID}[{XID_WINDOW}])"
    return Rule(
        key="gpu-xid",
        alert="GpuXidError",
        expr=f"max by (node, gpu) ({dcgm_by_node(seen)}) > 0",
        for_seconds=0,
        severity="ERROR",
        summary="A GPU reported an XID error (NVIDIA driver-reported GPU fault)",
        runbook=(
            "**What it means.** The NVIDIA driver logged an XID error for GPU `gpu` on node "
            "`node`; the alert's value is the XID code (`DCGM_FI_DEV_XID_ERRORS` holds the last "
            "one). XIDs are the driver's error reports: some are the application's own fault "
            "(13 graphics engine exception, 31 memory page fault: usually a bad kernel or an "
            "out-of-bounds access), others are hardware or driver faults that poison the GPU "
            "for every later task (48 double-bit ECC error, 63/64 row remapping, 74 NVLink "
            "error, 79 GPU has fallen off the bus, 94/95 contained/uncontained ECC error, 119/"
            "120 GSP errors). NVIDIA's catalogue says, per code, what it means and whether the "
            "GPU needs a reset: https://docs.nvidia.com/deploy/xid-errors/ .\n\n"
            "**What to do.** Look the code up in the catalogue. An application XID (13, 31, 43): "
            "check the task's logs; the GPU is fine. Anything else: `kubectl cordon <node>` so "
            "no new task lands on it, let running tasks finish or fail, then `kubectl drain "
            "<node> --ignore-daemonsets --delete-emptydir-data`. XIDs whose catalogue entry "
            "asks for a GPU reset or reboot (e.g. 48, 74, 79, 95, 119/120, 63/64 with a remap "
            "pending; 94 asks only for the application's restart): delete the node's VM "
            "(`gcloud compute instances delete <node> --zone <zone>`): the managed instance "
            "group recreates it and the driver starts clean. The node's serial console shows "
            "the driver's `NVRM: Xid` message. See docs/observability.md."
        ),
    )


def rules(cfg: StackConfig, figures: cold_start.Figures = cold_start.SOURCED) -> list[Rule]:
    """Every rule the stack registers for `cfg`. The pending thresholds come from the same
    budgets KPO gets (gpu_pool.gpu_scheduling)."""
    out = [pending_rule(pending_targets(cfg, figures))]
    if cfg.observability.dcgm:
        out += [idle_rule(p, cfg) for p in cfg.gpu_pools]
    if cfg.observability.self_deployed_dcgm:
        out.append(xid_rule())
    if cfg.deployments:
        out.append(quota_rule([d.namespace for d in cfg.deployments]))
    if any(p.spot for p in cfg.gpu_pools):
        out.append(preemption_rule(cfg.cluster.name))
    return out
