"""The GPU dashboard's tiles: PromQL over the same metrics the alerts read (components/observability/alerts.py,
where each metric and label has its source), as a Cloud Monitoring dashboard (`mosaicLayout`,
`timeSeriesQuery.prometheusQuery`). Per pool: a node's GPUs joined to its pool by node name
(kube_node_labels). Per deployment namespace: the GPUs allocated to that namespace's pods, by the
`namespace` label GKE's DCGM exporter puts on them."""

from __future__ import annotations

from typing import Any

from components.config import StackConfig
from components.observability import alerts

GPU_REQUESTS = f'kube_pod_container_resource_requests{{resource="{alerts.GPU_RESOURCE_LABEL}"}} > 0'
WIDTH, HEIGHT, COLUMNS = 24, 16, 2  # a 48-column mosaic, two tiles a row


def _per_pool(metric: str, agg: str) -> str:
    nodes = (
        f'max by (node, gpu_pool) (label_replace(kube_node_labels{{{alerts.POOL_NODE_LABEL}!=""}}, '
        f'"gpu_pool", "$1", "{alerts.POOL_NODE_LABEL}", "(.*)"))'
    )
    return (
        f"{agg} by (gpu_pool) ({alerts.dcgm_by_node(metric)} * on (node) group_left (gpu_pool) "
        f"{nodes})"
    )


def _per_namespace(metric: str, agg: str, namespaces: str) -> str:
    """The GPUs allocated to the deployments' pods, per namespace (an unallocated GPU has no
    `namespace` label and is in no deployment's figure)."""
    return f'{agg} by (namespace) ({metric}{{{alerts.DCGM_NAMESPACE_LABEL}=~"{namespaces}"}})'


def tiles(cfg: StackConfig) -> list[tuple[str, str]]:
    """(title, PromQL) per tile, in order."""
    namespaces = "|".join(sorted(d.namespace for d in cfg.deployments)) or "^$"
    quota = f'kube_resourcequota{{resource="{alerts.QUOTA_RESOURCE}", namespace=~"{namespaces}"'
    out: list[tuple[str, str]] = []
    if cfg.observability.dcgm:
        out += [
            ("GPU utilisation per pool (%)", _per_pool(alerts.DCGM_UTIL, "avg")),
            ("GPU memory used per pool (MiB)", _per_pool(alerts.DCGM_FB_USED, "sum")),
        ]
        if cfg.deployments:
            out += [
                (
                    "GPU utilisation per deployment namespace (%)",
                    _per_namespace(alerts.DCGM_UTIL, "avg", namespaces),
                ),
                (
                    "GPU memory used per deployment namespace (MiB)",
                    _per_namespace(alerts.DCGM_FB_USED, "sum", namespaces),
                ),
            ]
    out += [
        (
            "Pending (unscheduled) GPU pods per namespace",
            'sum by (namespace) (max by (namespace, pod) (kube_pod_status_scheduled{condition="false"})'
            f" * on (namespace, pod) group_left () (max by (namespace, pod) ({GPU_REQUESTS}) > bool 0))",
        ),
        (
            "Nodes per GPU pool",
            f'count by ({alerts.POOL_NODE_LABEL}) (kube_node_labels{{{alerts.POOL_NODE_LABEL}!=""}})',
        ),
    ]
    if any(p.spot for p in cfg.gpu_pools):
        metric = alerts.promql_name(alerts.preemption_metric(cfg.cluster.name))
        out.append(("Spot preemptions per hour", f"sum(increase({metric}[1h]))"))
    if cfg.deployments:
        out += [
            ("GPU quota used per deployment", f'max by (namespace) ({quota}, type="used"}})'),
            ("GPU quota per deployment", f'max by (namespace) ({quota}, type="hard"}})'),
        ]
    return out


def dashboard(cfg: StackConfig) -> dict[str, Any]:
    return {
        "displayName": f"{cfg.cluster.name}: GPUs",
        "mosaicLayout": {
            "columns": WIDTH * COLUMNS,
            "tiles": [
                {
                    "xPos": (i % COLUMNS) * WIDTH,
                    "yPos": (i // COLUMNS) * HEIGHT,
                    "width": WIDTH,
                    "height": HEIGHT,
                    "widget": {
                        "title": title,
                        "xyChart": {
                            "dataSets": [
                                {
                                    "plotType": "LINE",
                                    "timeSeriesQuery": {"prometheusQuery": query},
                                }
                            ]
                        },
                    },
                }
                for i, (title, query) in enumerate(tiles(cfg))
            ],
        },
    }
