"""Alerts and the dashboard: Cloud Monitoring alert policies with PromQL conditions, one per rule
of components/observability/alerts.py, a log-based metric for spot preemptions, and the GPU dashboard.

Why alert policies, not Managed Prometheus `Rules` objects: a `Rules` object is evaluated in the
cluster by the managed rule-evaluator and notifies through a self-configured Alertmanager, so a
broken or deleted cluster also silences its alerts, and the notification routes live in a secret
in the cluster. An alert policy is evaluated by Cloud Monitoring, outside the cluster, notifies the
project's existing notification channels, carries its runbook (`documentation`) and severity, and
is a Google Cloud resource the stack manages like the others. Its PromQL condition is a Prometheus
alerting rule field for field (query, duration = `for`, evaluation interval, rule group, alert
name, labels), which is what tests/test_alert_rules.py gives `promtool test rules`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config import StackConfig
from components.observability import alerts, dashboard

PREEMPTION_FILTER = (
    'protoPayload.methodName="compute.instances.preempted" '
    'AND protoPayload.resourceName:"/instances/gke-"'
)


def monitoring_components(cfg: StackConfig) -> tuple[str, ...]:
    """The cluster's monitoring_config.enable_components: system metrics always; DCGM on a
    cluster with GPU pools (GKE "Collect and view DCGM metrics": GKE runs DCGM-Exporter against
    its managed drivers and scrapes it into Managed Service for Prometheus, which the cluster
    enables). No kube-state package (POD, DEPLOYMENT, ...): the stack runs its own
    kube-state-metrics (components/observability/kube_state_metrics.py)."""
    found = ["SYSTEM_COMPONENTS"]
    # observability.dcgm_source self-deployed: the stack runs its own exporter
    # (components/observability/dcgm_exporter.py) and GKE's package stays off (one host engine per node).
    if cfg.observability.dcgm and not cfg.observability.self_deployed_dcgm and cfg.gpu_pools:
        found.append("DCGM")
    return tuple(found)


@dataclass(frozen=True)
class ObservabilityArgs:
    config: StackConfig
    labels: dict[str, str]


class Observability(pulumi.ComponentResource):
    policies: dict[str, gcp.monitoring.AlertPolicy]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:observability:Alerts", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        project = cfg.project_id
        cluster = cfg.cluster.name
        if any(p.spot for p in cfg.gpu_pools):
            gcp.logging.Metric(
                f"{name}-preemptions",
                project=project,
                name=alerts.preemption_metric(cluster),
                description=(
                    "Compute Engine preemptions of GKE spot nodes in this project "
                    "(compute.instances.preempted system events)."
                ),
                filter=PREEMPTION_FILTER,
                metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA", value_type="INT64", unit="1"
                ),
                opts=child,
            )
        channels = (
            cfg.observability.notification_channels
            if cfg.observability.notifies(cfg.environment)
            else []
        )
        self.policies = {}
        for rule in alerts.rules(cfg):
            self.policies[rule.key] = gcp.monitoring.AlertPolicy(
                f"{name}-{rule.key}",
                project=project,
                display_name=f"{cluster}: {rule.alert}",
                combiner="OR",
                enabled=True,
                severity=rule.severity,
                notification_channels=channels,
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    subject=f"[{cluster}] {rule.summary}"[:255],
                    content=rule.runbook,
                    mime_type="text/markdown",
                ),
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=rule.summary[:255],
                        condition_prometheus_query_language=gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
                            query=rule.expr,
                            duration=f"{rule.for_seconds}s",
                            evaluation_interval=f"{alerts.EVALUATION_INTERVAL_SECONDS}s",
                            rule_group=alerts.RULE_GROUP,
                            alert_rule=rule.alert,
                            labels=rule.labels or None,
                            # The metrics appear once the cluster runs (kube-state-metrics, DCGM,
                            # the first preemption): without this, creating the policy on a new
                            # project fails on a metric that does not exist yet.
                            disable_metric_validation=True,
                        ),
                    )
                ],
                user_labels=args.labels,
                opts=child,
            )
        board = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=project,
            dashboard_json=json.dumps(dashboard.dashboard(cfg), sort_keys=True),
            opts=child,
        )
        self.register_outputs({"alerts": sorted(self.policies), "dashboard": board.id})
