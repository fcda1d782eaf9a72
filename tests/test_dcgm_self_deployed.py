"""The opt-in self-deployed DCGM exporter (`observability.dcgm_source: self-deployed`,
components/observability/dcgm_exporter.py): what it registers and what the default does not, the cluster without
GKE's DCGM package, the XID alert through `promtool test rules`, the keyed config errors, a first
preview, and the policy pack's view of it (through its real Analyzer gRPC service)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, load
from components.observability import alerts, dcgm_exporter
from offline import forcenew, runner
from offline.analyzer import PolicyPackServer
from offline.forcenew import R, U, lookup
from offline.manifests import OFFLINE_DCGM_DIGESTS
from offline.mocks import PlaceholderMocks, RecordingMonitor
from tests.test_alert_rules import (
    conditions,
    dcgm_read,
    promtool_tests,
    rule_file,
    run_promtool,
)
from tests.test_bootstrap import InputsOnly

CONFIG_KEY = "astro-gke-gpu:platform"
CLUSTER = "gcp:container/cluster:Cluster"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NAMESPACE = "kubernetes:core/v1:Namespace"
SCRAPE = "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring"
COMPONENT = "astro-gke-gpu:observability:DcgmExporter"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
PREFIX = "astro-gpu-dev-dcgm-exporter"


def platform(**observability: Any) -> dict[str, Any]:
    """dev's config with these observability keys; self-deployed gets the (well-formed, not
    real) digests the offline renders use unless the case sets its own."""
    raw = copy.deepcopy(runner.stack_config("dev")[CONFIG_KEY])
    if observability.get("dcgm_source") == "self-deployed":
        observability = {**OFFLINE_DCGM_DIGESTS, **observability}
    raw.setdefault("observability", {}).update(observability)
    return raw


def run_self_deployed(**kwargs: Any) -> runner.Run:
    cfg = runner.stack_config("dev")
    return runner.run(
        "dev", config={**cfg, CONFIG_KEY: platform(dcgm_source="self-deployed")}, **kwargs
    )


@pytest.fixture(scope="module")
def own() -> runner.Run:
    return run_self_deployed()


def keyed(reg: runner.Run) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in reg.registrations}


# --- What is (and is not) registered ------------------------------------------------------------


def test_the_default_registers_nothing_of_it(dev: runner.Run, own: runner.Run) -> None:
    assert load(runner.stack_config("dev")[CONFIG_KEY]).observability.dcgm_source == "gke-managed"
    assert keyed(dev) - keyed(own) == set()
    assert keyed(own) - keyed(dev) == {
        (COMPONENT, PREFIX),
        (NAMESPACE, f"{PREFIX}-namespace"),
        (DAEMON_SET, f"{PREFIX}-hostengine"),
        (DAEMON_SET, f"{PREFIX}-exporter"),
        (CONFIG_MAP, f"{PREFIX}-counters"),
        (SCRAPE, f"{PREFIX}-scrape"),
        (ALERT_POLICY, "astro-gpu-dev-observability-gpu-xid"),
    }
    assert dev.of_type(DAEMON_SET) == [] and dev.of_type(CONFIG_MAP) == []
    assert dev.one(CLUSTER).inputs["monitoringConfig"]["enableComponents"] == [
        "SYSTEM_COMPONENTS",
        "DCGM",
    ]


def test_gke_dcgm_package_is_off_so_one_host_engine_per_node(own: runner.Run) -> None:
    assert own.one(CLUSTER).inputs["monitoringConfig"] == {
        "enableComponents": ["SYSTEM_COMPONENTS"],
        "managedPrometheus": {"enabled": True},
    }


def test_privileged_namespace_of_its_own(own: runner.Run) -> None:
    (ns,) = [r for r in own.of_type(NAMESPACE) if r.name == f"{PREFIX}-namespace"]
    assert ns.inputs["metadata"] == {
        "name": "kube-dcgm-exporter",
        "labels": {
            "app.kubernetes.io/part-of": "dcgm-exporter",
            "app.kubernetes.io/managed-by": "pulumi",
            "pod-security.kubernetes.io/enforce": "privileged",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    }
    for r in own.registrations:
        if r.urn.split("::")[-2].endswith(COMPONENT) or f"{COMPONENT}$" in r.urn:
            assert r.inputs.get("metadata", {}).get("namespace") in (None, "kube-dcgm-exporter")


def _pod(own: runner.Run, which: str) -> dict[str, Any]:
    (ds,) = [r for r in own.of_type(DAEMON_SET) if r.name == f"{PREFIX}-{which}"]
    assert ds.inputs["metadata"]["namespace"] == "kube-dcgm-exporter"
    assert ds.inputs["spec"]["updateStrategy"] == {"type": "RollingUpdate"}
    pod: dict[str, Any] = ds.inputs["spec"]["template"]["spec"]
    return pod


GPU_NODES = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "cloud.google.com/gke-accelerator", "operator": "Exists"}
                    ]
                }
            ]
        }
    }
}
DRIVER_VOLUME = {
    "name": "nvidia-install-dir-host",
    "hostPath": {"path": "/home/kubernetes/bin/nvidia", "type": "Directory"},
}
RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def test_hostengine_daemonset(own: runner.Run) -> None:
    pod = _pod(own, "hostengine")
    assert pod["affinity"] == GPU_NODES
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["automountServiceAccountToken"] is False
    assert pod["volumes"] == [DRIVER_VOLUME]
    (c,) = pod["containers"]
    assert c["image"] == ("nvcr.io/nvidia/cloud-native/dcgm:3.3.0-1-ubuntu22.04@sha256:" + "a" * 64)
    assert c["command"] == ["nv-hostengine", "-n", "-b", "ALL"]
    assert c["ports"] == [{"containerPort": 5555, "hostPort": 5555}]
    assert c["securityContext"] == {"privileged": True}
    assert c["resources"] == RESOURCES
    assert c["volumeMounts"] == [
        {"name": "nvidia-install-dir-host", "mountPath": "/usr/local/nvidia"}
    ]


def test_exporter_daemonset(own: runner.Run) -> None:
    pod = _pod(own, "exporter")
    assert pod["affinity"] == GPU_NODES
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["automountServiceAccountToken"] is False
    assert pod["volumes"] == [
        {"name": "counters", "configMap": {"name": "nvidia-dcgm-exporter-metrics"}},
        DRIVER_VOLUME,
        {"name": "pod-resources", "hostPath": {"path": "/var/lib/kubelet/pod-resources"}},
    ]
    (c,) = pod["containers"]
    assert c["image"] == (
        "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.0-3.2.0-ubuntu22.04@sha256:" + "b" * 64
    )
    assert c["command"][-1] == (
        "hostname $NODE_NAME; dcgm-exporter --remote-hostengine-info $(NODE_IP) "
        "--collectors /etc/dcgm-exporter/counters.csv"
    )
    assert c["ports"] == [{"name": "metrics", "containerPort": 9400}]
    assert c["securityContext"] == {"privileged": True}
    assert c["resources"] == RESOURCES
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}
    assert env == {
        "NODE_NAME": {"fieldRef": {"fieldPath": "spec.nodeName"}},
        "DCGM_EXPORTER_KUBERNETES_GPU_ID_TYPE": "device-name",
        "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64",
        "NODE_IP": {"fieldRef": {"fieldPath": "status.hostIP"}},
        "DCGM_EXPORTER_KUBERNETES": "true",
        "DCGM_EXPORTER_LISTEN": ":9400",
    }


def test_counters_are_gke_fields_plus_xid(own: runner.Run) -> None:
    (cm,) = own.of_type(CONFIG_MAP)
    assert cm.inputs["metadata"]["name"] == "nvidia-dcgm-exporter-metrics"
    rows = [line.split(", ") for line in cm.inputs["data"]["counters.csv"].splitlines()]
    fields = [row[0] for row in rows]
    assert len(fields) == len(set(fields)) == 22
    assert set(fields) == alerts.GKE_DCGM_METRICS | {"DCGM_FI_DEV_XID_ERRORS"}
    assert {row[1] for row in rows} == {"gauge", "counter"}
    assert [r[0] for r in rows if r[1] == "counter"] == ["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"]
    # A field change rolls the exporter (it reads the file once at start).
    exporter = [r for r in own.of_type(DAEMON_SET) if r.name == f"{PREFIX}-exporter"][0]
    annotations = exporter.inputs["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "astro-gke-gpu/counters-sha256": hashlib.sha256(
            dcgm_exporter.counters_csv().encode()
        ).hexdigest()
    }


def test_scraped_keeping_the_gpu_pods_labels(own: runner.Run) -> None:
    (scrape,) = [r for r in own.of_type(SCRAPE) if r.name == f"{PREFIX}-scrape"]
    assert scrape.inputs["metadata"]["name"] == "nvidia-dcgm-exporter"
    assert scrape.inputs["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "nvidia-dcgm-exporter"}},
        "endpoints": [{"port": "metrics", "interval": "30s"}],
        "targetLabels": {"metadata": []},
    }
    exporter = [r for r in own.of_type(DAEMON_SET) if r.name == f"{PREFIX}-exporter"][0]
    labels = exporter.inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "nvidia-dcgm-exporter"


def test_created_after_the_cluster_update(own: runner.Run) -> None:
    """GKE's package is turned off (a cluster update) before the stack's own host engine starts."""
    cluster_urn = own.one(CLUSTER).urn
    for r in own.registrations:
        if r.custom and f"{COMPONENT}$" in r.urn:
            assert cluster_urn in r.dependencies, r.name


# --- The XID alert ------------------------------------------------------------------------------


def test_xid_alert_registered_and_read_only_here(own: runner.Run) -> None:
    (cond,) = [c for c in conditions(own) if c["alertRule"] == "GpuXidError"]
    assert cond["query"] == (
        "max by (node, gpu) (label_replace(label_replace(max_over_time(DCGM_FI_DEV_XID_ERRORS[5m]), "
        '"node", "$1", "Hostname", "(.+)"), "node", "$1", "hostname", "(.+)")) > 0'
    )
    assert cond["duration"] == "0s"
    # With the self-deployed exporter the XID metric is read, and nothing else outside GKE's set.
    assert dcgm_read(own) == {alerts.DCGM_UTIL, alerts.DCGM_FB_USED, alerts.DCGM_XID}
    assert dcgm_read(own) - alerts.GKE_DCGM_METRICS == {alerts.DCGM_XID}


def test_every_alert_fires_on_time_with_the_self_deployed_exporter(
    own: runner.Run, tmp_path: Path
) -> None:
    cfg = load(platform(dcgm_source="self-deployed"))
    rules = rule_file(own)
    tests = promtool_tests(cfg)
    assert run_promtool(tmp_path, rules, tests) == ""
    registered = {r["alert"] for r in rules["groups"][0]["rules"]}
    tested = {c["alertname"] for t in tests["tests"] for c in t["alert_rule_test"]}
    assert registered == tested and "GpuXidError" in registered


def test_promtool_fails_the_xid_alert_one_step_early(own: runner.Run, tmp_path: Path) -> None:
    cfg = load(platform(dcgm_source="self-deployed"))
    tests = promtool_tests(cfg)
    xid = [t for t in tests["tests"] if t["alert_rule_test"][0]["alertname"] == "GpuXidError"]
    case = xid[0]["alert_rule_test"]
    case[0]["exp_alerts"], case[1]["exp_alerts"] = case[1]["exp_alerts"], []
    assert "GpuXidError" in run_promtool(tmp_path, rule_file(own), {**tests, "tests": xid})


# --- Config errors: one keyed error, nothing registered ------------------------------------------


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        load(raw)
    return err.value.problems


def test_self_deployed_needs_dcgm() -> None:
    [(path, rule)] = problems(platform(dcgm=False, dcgm_source="self-deployed"))
    assert path == "observability.dcgm_source"
    assert "self-deployed runs the DCGM exporter that dcgm: false turns off" in rule


def test_self_deployed_needs_gke_driver_dir() -> None:
    raw = platform(dcgm_source="self-deployed")
    raw["gpu_pools"][0]["driver_version"] = "INSTALLATION_DISABLED"
    [(path, rule)] = problems(raw)
    assert path == "observability"
    assert "dcgm_source self-deployed needs GKE-managed GPU drivers" in rule
    assert "/home/kubernetes/bin/nvidia" in rule


def test_self_deployed_needs_both_digests_keyed_and_well_formed() -> None:
    raw = platform(dcgm_source="self-deployed", dcgm_exporter_digest=None)
    [(path, rule)] = problems(raw)
    assert path == "observability"
    assert rule == (
        "dcgm_source self-deployed runs images pinned by digest: set dcgm_exporter_digest to the "
        "sha256:<64 lowercase hex digits> (the image's manifest-list digest) of "
        "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.0-3.2.0-ubuntu22.04"
    )
    [(path, rule)] = problems(platform(dcgm_source="self-deployed", dcgm_hostengine_digest="3.3.0"))
    assert path == "observability.dcgm_hostengine_digest"
    assert rule == (
        "'3.3.0': must be sha256:<64 lowercase hex digits> (the image's manifest-list digest)"
    )
    # Without the opt-in the keys are not needed (GKE runs its own exporter).
    assert load(platform()).observability.dcgm_exporter_digest is None


def test_unknown_source_is_keyed() -> None:
    [(path, rule)] = problems(platform(dcgm_source="nvidia"))
    assert path == "observability.dcgm_source"
    assert "'gke-managed' or 'self-deployed'" in rule


def test_a_bad_config_registers_nothing() -> None:
    cfg = runner.stack_config("dev")
    monitor = RecordingMonitor(PlaceholderMocks())
    bad = platform(dcgm=False, dcgm_source="self-deployed")
    with pytest.raises(Exception, match=r"observability\.dcgm_source: self-deployed runs"):
        runner.run("dev", config={**cfg, CONFIG_KEY: bad}, monitor=monitor)
    assert monitor.registrations == []


# --- A first preview ----------------------------------------------------------------------------


def test_a_first_preview_registers_the_same_resources(own: runner.Run) -> None:
    mocks = InputsOnly()
    run = run_self_deployed(mocks=mocks, monitor=RecordingMonitor(mocks), preview=True)
    assert keyed(run) == keyed(own)


# --- Policy pack --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackServer]:
    with PolicyPackServer() as server:
        yield server


def test_the_pack_passes_it_without_the_dcgm_advisory(
    pack: PolicyPackServer, own: runner.Run
) -> None:
    assert pack.analyze_all(own.registrations) == []


def test_without_its_scrape_the_dcgm_advisory_is_back(
    pack: PolicyPackServer, own: runner.Run
) -> None:
    regs = [r for r in own.registrations if r.type != SCRAPE or "dcgm" not in r.name]
    verdicts = [v for v in pack.analyze_all(regs) if v.policy == "gpu-pool-dcgm-metrics"]
    assert [v.level for v in verdicts] == ["advisory"]
    assert "astro-gpu-dev-l4-spot-pool is in a cluster without DCGM metrics" in verdicts[0].message


# --- Day 2: what a change replaces --------------------------------------------------------------


def test_every_input_it_sets_is_classified(own: runner.Run) -> None:
    assert forcenew.coverage_gaps(own.registrations) == []
    # A changed field list replaces the ConfigMap (diff.go core/v1 ConfigMap `.data`); the
    # DaemonSets' pod templates update in place; the cluster's enable_components updates in place.
    assert lookup(CONFIG_MAP, ("data", "counters.csv")) is R
    assert lookup(DAEMON_SET, ("spec", "template", "spec", "containers", 0, "image")) is U
    assert lookup(DAEMON_SET, ("metadata", "name")) is R
    assert lookup(CLUSTER, ("monitoringConfig", "enableComponents")) is U


# --- Who may deploy it --------------------------------------------------------------------------


def test_the_deploy_identity_can_create_what_the_opt_in_registers(own: runner.Run) -> None:
    """The bootstrap's deploy role (components/day0/deploy_permissions.py) covers the opt-in's types too:
    without the DaemonSet and ConfigMap entries the deploy identity could not apply it."""
    from components.day0 import deploy_permissions as dp

    types = {r.type for r in own.registrations if r.custom}
    assert {DAEMON_SET, CONFIG_MAP} <= types
    assert dp.coverage_gaps(types) == []
    perms = set(dp.deploy_permissions())
    for kind in ("daemonSets", "configMaps"):
        assert {
            f"container.{kind}.{verb}" for verb in ("create", "get", "update", "delete")
        } <= perms
