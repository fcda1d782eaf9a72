"""The one ClusterPodMonitoring shape the stack's exporters share (kube-state-metrics and the opt-in
DCGM exporter): Google Cloud Managed Service for Prometheus scrapes the selected pods' `metrics`
port every `SCRAPE_INTERVAL`, the interval the alert rules assume (alerts.SCRAPE_INTERVAL_SECONDS).

`targetLabels.metadata` is explicitly empty, as GMP's own examples set it (prometheus-engine
examples/kube-state-metrics, and the DCGM example): the series keep the namespace and pod labels
the exporter reports (the observed object's, or the GPU's pod's), not the exporter pod's.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.observability.alerts import SCRAPE_INTERVAL_SECONDS

SCRAPE_INTERVAL = f"{SCRAPE_INTERVAL_SECONDS}s"
PORT_NAME = "metrics"


def cluster_pod_monitoring(
    resource_name: str,
    object_name: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """A ClusterPodMonitoring `object_name` scraping the pods `selector` matches."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="monitoring.googleapis.com/v1",
        kind="ClusterPodMonitoring",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, labels=dict(labels)),
        spec={
            "selector": {"matchLabels": dict(selector)},
            "endpoints": [{"port": PORT_NAME, "interval": SCRAPE_INTERVAL}],
            "targetLabels": {"metadata": []},
        },
        opts=opts,
    )
