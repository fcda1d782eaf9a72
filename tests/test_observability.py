"""Observability: what the cluster collects, the config rules GKE enforces, kube-state-metrics'
least privilege, the dashboard, the XCom audit logs, and the policy pack's observability policies
(through its real Analyzer gRPC service)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.config import ConfigError, load
from components.observability import kube_state_metrics
from offline import runner
from offline.analyzer import PolicyPackServer
from offline.mocks import Registration

CONFIG_KEY = "astro-gke-gpu:platform"
CLUSTER = "gcp:container/cluster:Cluster"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SCRAPE = "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
AUDIT = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
LOG_METRIC = "gcp:logging/metric:Metric"


def platform(stack: str = "dev") -> dict[str, Any]:
    return copy.deepcopy(runner.stack_config(stack)[CONFIG_KEY])


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        load(raw)
    return err.value.problems


# --- Collection ---------------------------------------------------------------------------------


def test_cluster_collects_dcgm_with_managed_prometheus(dev: runner.Run) -> None:
    monitoring = dev.one(CLUSTER).inputs["monitoringConfig"]
    assert monitoring == {
        "enableComponents": ["SYSTEM_COMPONENTS", "DCGM"],
        "managedPrometheus": {"enabled": True},
    }


def test_without_dcgm_the_cluster_collects_system_metrics_only(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(lambda p: p.update(observability={"dcgm": False}))
    assert run.one(CLUSTER).inputs["monitoringConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS"]
    alerts = {
        r.inputs["displayName"] for r in run.of_type("gcp:monitoring/alertPolicy:AlertPolicy")
    }
    assert not any("Idle" in a for a in alerts), alerts


def test_dcgm_with_self_installed_drivers_is_refused_with_the_key() -> None:
    raw = platform()
    raw["gpu_pools"][0]["driver_version"] = "INSTALLATION_DISABLED"
    [(path, rule)] = problems(raw)
    assert path == "observability"
    assert "l4-spot sets driver_version INSTALLATION_DISABLED" in rule
    raw["observability"] = {"dcgm": False}
    assert load(raw).gpu_pools[0].driver_version == "INSTALLATION_DISABLED"


def test_prod_notifies_so_it_needs_a_channel() -> None:
    raw = platform("prod")
    del raw["observability"]
    [(path, rule)] = problems(raw)
    assert path == "observability"
    assert "notification_channels is empty" in rule
    raw["observability"] = {"notify": False}
    assert load(raw).observability.notifies("prod") is False


def test_a_channel_must_be_a_channel_id() -> None:
    raw = platform()
    raw["observability"] = {"notification_channels": ["my-pager"]}
    [(path, rule)] = problems(raw)
    assert path == "observability.notification_channels"
    assert "projects/<project>/notificationChannels/<numeric id>" in rule


def test_dev_is_silent_unless_asked(run_with: Callable[..., runner.Run]) -> None:
    channel = "projects/acme-ml-dev/notificationChannels/42"
    run = run_with(
        lambda p: p.update(observability={"notification_channels": [channel], "notify": True})
    )
    policies = run.of_type("gcp:monitoring/alertPolicy:AlertPolicy")
    assert policies and all(p.inputs["notificationChannels"] == [channel] for p in policies)


# --- kube-state-metrics: exactly what it needs ---------------------------------------------------


def test_kube_state_metrics_reads_three_resources_and_nothing_else(dev: runner.Run) -> None:
    role = dev.one(CLUSTER_ROLE)
    assert role.inputs["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["pods", "nodes", "resourcequotas"],
            "verbs": ["list", "watch"],
        }
    ]
    binding = dev.one(CLUSTER_ROLE_BINDING)
    assert binding.inputs["roleRef"]["name"] == role.inputs["metadata"]["name"]
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "kube-state-metrics", "namespace": "kube-state-metrics"}
    ]


def test_kube_state_metrics_exports_only_the_metrics_the_alerts_read(dev: runner.Run) -> None:
    (container,) = dev.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [
        "--port=8080",
        "--telemetry-port=8081",
        "--resources=pods,nodes,resourcequotas",
        "--metric-allowlist=kube_pod_created,kube_pod_status_scheduled,kube_pod_nodeselectors,"
        "kube_pod_container_resource_requests,kube_node_labels,kube_resourcequota",
        "--metric-opt-in-list=kube_pod_nodeselectors",
        "--metric-labels-allowlist=nodes=[gpu-pool]",
    ]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    # Every metric an alert or a tile reads is exported.
    queries = (
        " ".join(
            r.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
            for r in dev.of_type("gcp:monitoring/alertPolicy:AlertPolicy")
        )
        + dev.one(DASHBOARD).inputs["dashboardJson"]
    )
    used = {m for m in kube_state_metrics.METRICS if m in queries}
    assert used == set(kube_state_metrics.METRICS)


def test_managed_collection_keeps_the_objects_labels(dev: runner.Run) -> None:
    scrape = dev.one(SCRAPE)
    assert scrape.inputs["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "kube-state-metrics"}},
        "endpoints": [{"port": "metrics", "interval": "30s"}],
        "targetLabels": {"metadata": []},
    }


# --- Dashboard, audit, preemption metric ----------------------------------------------------------


def test_dashboard_tiles(prod: runner.Run) -> None:
    board = json.loads(prod.one(DASHBOARD).inputs["dashboardJson"])
    titles = [t["widget"]["title"] for t in board["mosaicLayout"]["tiles"]]
    assert titles == [
        "GPU utilisation per pool (%)",
        "GPU memory used per pool (MiB)",
        "GPU utilisation per deployment namespace (%)",
        "GPU memory used per deployment namespace (MiB)",
        "Pending (unscheduled) GPU pods per namespace",
        "Nodes per GPU pool",
        "Spot preemptions per hour",
        "GPU quota used per deployment",
        "GPU quota per deployment",
    ]


def test_xcom_buckets_get_storage_data_access_logs(prod: runner.Run, dev: runner.Run) -> None:
    audit = prod.one(AUDIT)
    assert audit.inputs == {
        "project": "acme-ml-prod",
        "service": "storage.googleapis.com",
        "auditLogConfigs": [{"logType": "DATA_READ"}, {"logType": "DATA_WRITE"}],
    }
    assert dev.of_type(AUDIT) == []  # no Remote Execution deployment, no XCom bucket


def test_preemptions_are_counted_from_compute_engine_system_events(dev: runner.Run) -> None:
    metric = dev.one(LOG_METRIC)
    assert metric.inputs["name"] == "astro-gpu-dev-spot-preemptions"
    assert metric.inputs["filter"] == (
        'protoPayload.methodName="compute.instances.preempted" '
        'AND protoPayload.resourceName:"/instances/gke-"'
    )
    assert metric.inputs["metricDescriptor"] == {
        "metricKind": "DELTA",
        "valueType": "INT64",
        "unit": "1",
    }


# --- Policy pack -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackServer]:
    with PolicyPackServer() as server:
        yield server


def _edit(
    regs: list[Registration], type_: str, change: Callable[[dict[str, Any]], None]
) -> list[Registration]:
    out = []
    for r in regs:
        if r.type == type_:
            wire = copy.deepcopy(r.wire)
            change(wire)
            r = dataclasses.replace(r, wire=wire)
        out.append(r)
    return out


def _policy(verdicts: list[Any], name: str) -> list[Any]:
    return [v for v in verdicts if v.policy == name]


def test_the_pack_passes_the_observability_resources(
    pack: PolicyPackServer, prod: runner.Run
) -> None:
    assert pack.analyze_all(prod.registrations) == []


def test_advisory_for_a_gpu_pool_without_dcgm(pack: PolicyPackServer, dev: runner.Run) -> None:
    regs = _edit(
        dev.registrations,
        CLUSTER,
        lambda w: w["monitoringConfig"].update(enableComponents=["SYSTEM_COMPONENTS"]),
    )
    (verdict,) = _policy(pack.analyze_all(regs), "gpu-pool-dcgm-metrics")
    assert verdict.level == "advisory"
    assert (
        "GPU pool astro-gpu-dev-l4-spot-pool is in a cluster without DCGM metrics"
        in verdict.message
    )


def test_a_cluster_role_that_writes_is_refused(pack: PolicyPackServer, dev: runner.Run) -> None:
    regs = _edit(
        dev.registrations, CLUSTER_ROLE, lambda w: w["rules"][0].update(verbs=["list", "patch"])
    )
    verdicts = pack.analyze_all(regs)
    (scope,) = _policy(verdicts, "rbac-no-cluster-scope")
    assert scope.level == "mandatory"
    assert "only a read-only ClusterRole, bound to service accounts, is allowed" in scope.message
    (binding,) = _policy(verdicts, "rbac-cluster-binding-read-only")
    assert "is not a read-only ClusterRole of this stack" in binding.message


def test_a_binding_to_a_builtin_role_is_refused(pack: PolicyPackServer, dev: runner.Run) -> None:
    regs = _edit(
        dev.registrations, CLUSTER_ROLE_BINDING, lambda w: w["roleRef"].update(name="cluster-admin")
    )
    (verdict,) = _policy(pack.analyze_all(regs), "rbac-cluster-binding-read-only")
    assert verdict.level == "mandatory"
    assert "binds cluster-admin" in verdict.message


def test_make_preview_lists_the_alerts() -> None:
    from tests.preview_run import run_main

    result = run_main("--stack", "dev")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Alerts: 4 Cloud Monitoring alert policies (docs/observability.md)" in lines
    for alert in (
        "    DeploymentGpuQuotaSaturated  for 900s  WARNING  silent (no channel)",
        "    GpuNodesIdle_l4_spot  for 900s  WARNING  silent (no channel)",
        "    GpuPodPendingPastBudget  for 0s  ERROR  silent (no channel)",
        "    SpotPreemptionsHigh  for 0s  WARNING  silent (no channel)",
    ):
        assert alert in lines, alert
