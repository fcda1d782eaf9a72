"""Every alert the stack registers, run through Prometheus's own rule tester.

The rule file is built from the AlertPolicy registrations of the real program under mocks (query,
duration, evaluation interval, rule group, alert name, labels: a PromQL condition field for field),
so what is tested is what is registered. `promtool check rules` parses every expression;
`promtool test rules` runs each alert on synthetic series: it fires on its case at the time its
budget says and stays silent on the healthy neighbour. The expected times come from the stack's
own figures (the KPO budget of gpu_pool.gpu_scheduling, the autoscaler delays, the quota window),
not from the registered rule.

promtool: Debian's `prometheus` package (`make promtool`, .ci/run); no server is started.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import GpuPoolConfig, StackConfig, load
from components.gke import cold_start, gpu_pool
from components.observability import alerts
from offline import runner

ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
CONFIG_KEY = "astro-gke-gpu:platform"
STEP = 30  # seconds: the evaluation interval, and the test's sample interval


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: `make promtool` (Debian package prometheus)")
    return found


def conditions(run: runner.Run) -> list[dict[str, Any]]:
    return [
        r.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]
        for r in run.of_type(ALERT_POLICY)
    ]


def rule_file(run: runner.Run) -> dict[str, Any]:
    """The registered PromQL conditions as one Prometheus rule file."""
    conds = conditions(run)
    groups = {c["ruleGroup"] for c in conds}
    intervals = {c["evaluationInterval"] for c in conds}
    assert len(groups) == 1 and len(intervals) == 1, (groups, intervals)
    rules = []
    for c in conds:
        rule: dict[str, Any] = {"alert": c["alertRule"], "expr": c["query"], "for": c["duration"]}
        if c.get("labels"):
            rule["labels"] = c["labels"]
        rules.append(rule)
    return {"groups": [{"name": groups.pop(), "interval": intervals.pop(), "rules": rules}]}


def config(stack: str) -> StackConfig:
    return load(runner.stack_config(stack)[CONFIG_KEY])


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def dur(seconds: int) -> str:
    return f"{seconds}s"


def alert_case(
    alert: str, quiet_at: int, firing_at: int, labels: list[dict[str, str]]
) -> list[dict[str, Any]]:
    return [
        {"eval_time": dur(quiet_at), "alertname": alert, "exp_alerts": []},
        {
            "eval_time": dur(firing_at),
            "alertname": alert,
            "exp_alerts": [{"exp_labels": lbl} for lbl in labels],
        },
    ]


def samples(value: float, until: int) -> str:
    return f"{value}x{until // STEP + 2}"


def dcgm_labels(
    node: str, gpu: int, pod: str | None = None, node_label: str | None = None
) -> dict[str, str]:
    """A DCGM series' labels as GKE's managed exporter writes them: the node as `Hostname`, the
    GPU's identity, and the namespace, pod and container of the pod the GPU is allocated to
    (none on an unallocated GPU). From a scrape of gke-dcgm-exporter:4.4.1-4.6.0-gke.17
    (elideng-sg/hypercomputer-internode-deepdive assets/lab-10/dcgm-metrics-raw.txt; see
    docs/observability.md, Sources)."""
    out = {
        "gpu": str(gpu),
        "UUID": f"GPU-{node}-{gpu}",
        "pci_bus_id": f"00000000:{4 + gpu:02X}:00.0",
        "device": f"nvidia{gpu}",
        "modelName": "NVIDIA L4",
        node_label or alerts.DCGM_NODE_LABEL: node,
    }
    if pod:
        out |= {"namespace": "airflow-x", "pod": pod, "container": "base", "pod_uid": ""}
    return out


# --- One synthetic scenario per alert ----------------------------------------------------------


def pending_tests(cfg: StackConfig) -> list[dict[str, Any]]:
    """Per pool and class: a pod waiting for a node since t=0 (fires just before its KPO schedule
    budget, with the target's own threshold), beside one that got a node and one waiting for
    another pool (silent)."""
    out = []
    classes = {c.name for c in cfg.gpu_classes}
    for target, hints in gpu_pool.gpu_scheduling(cfg).items():
        budget = int(hints["schedule_timeout_seconds"])  # type: ignore[call-overload]
        fires = budget - alerts.PENDING_LEAD_SECONDS
        label = alerts.CLASS_SELECTOR_LABEL if target in classes else alerts.POOL_SELECTOR_LABEL
        end = budget + 5 * STEP
        ns = "airflow-x"
        input_series = []
        for pod, scheduled, selects in (
            ("waiting", "false", target),
            ("placed", "true", target),
            ("elsewhere", "false", "another-pool"),
        ):
            pod_labels = {"namespace": ns, "pod": pod, "uid": f"uid-{pod}"}
            input_series += [
                series("kube_pod_created", pod_labels, samples(0, end)),
                series(
                    "kube_pod_status_scheduled",
                    {**pod_labels, "condition": scheduled},
                    samples(1, end),
                ),
                series(
                    "kube_pod_status_scheduled",
                    {**pod_labels, "condition": "true" if scheduled == "false" else "false"},
                    samples(0, end),
                ),
                series("kube_pod_nodeselectors", {**pod_labels, label: selects}, samples(1, end)),
            ]
        out.append(
            {
                "interval": dur(STEP),
                "input_series": input_series,
                "alert_rule_test": alert_case(
                    "GpuPodPendingPastBudget",
                    fires - STEP,
                    fires + STEP,
                    [{"namespace": ns, "pod": "waiting", "gpu_target": target}],
                ),
            }
        )
    return out


def idle_tests(cfg: StackConfig) -> list[dict[str, Any]]:
    """Per pool: one idle node more than its warm minimum fires after the autoscaler's delay and
    margin; a busy node, and the minimum itself idle, stay silent."""
    out = []
    for pool in cfg.gpu_pools:
        wait = alerts.consolidation_seconds(pool, cfg.gpu_classes) + alerts.IDLE_MARGIN_SECONDS
        zones = len(pool.zones) if pool.zones else 1
        allowed = pool.min_nodes * zones
        end = wait + 5 * STEP
        alert = f"GpuNodesIdle_{pool.name.replace('-', '_')}"

        def nodes(
            idle: int, busy: int, pool: GpuPoolConfig = pool, end: int = end
        ) -> list[dict[str, str]]:
            found = []
            for i in range(idle + busy):
                node = f"gke-{pool.name}-{i}"
                util = 0 if i < idle else 87
                # The last idle node carries upstream dcgm-exporter's `hostname` spelling: the
                # alert must count it too, or a GKE exporter upgrade silences the alert.
                label = alerts.DCGM_NODE_LABEL_UPSTREAM if i == idle - 1 else None
                for gpu in range(pool.accelerator_count):
                    pod = None if util == 0 else f"task-{i}"
                    found.append(
                        series(
                            alerts.DCGM_UTIL,
                            dcgm_labels(node, gpu, pod=pod, node_label=label),
                            samples(util, end),
                        )
                    )
                found.append(
                    series(
                        "kube_node_labels",
                        {"node": node, alerts.POOL_NODE_LABEL: pool.name},
                        samples(1, end),
                    )
                )
            return found

        out.append(
            {
                "interval": dur(STEP),
                "input_series": nodes(idle=allowed + 1, busy=1),
                "alert_rule_test": alert_case(
                    alert, wait - STEP, wait + STEP, [{"gpu_pool": pool.name}]
                ),
            }
        )
        out.append(
            {
                "interval": dur(STEP),
                "input_series": nodes(idle=allowed, busy=2),
                "alert_rule_test": [
                    {"eval_time": dur(end - STEP), "alertname": alert, "exp_alerts": []}
                ],
            }
        )
    return out


def quota_tests(cfg: StackConfig) -> list[dict[str, Any]]:
    """A namespace at its GPU quota fires after the sustained window; its neighbour one GPU below
    stays silent."""
    if not cfg.deployments:
        return []
    wait = alerts.QUOTA_SUSTAINED_SECONDS
    end = wait + 5 * STEP
    full, *rest = cfg.deployments
    input_series = []
    for d, used in [(full, full.gpu_quota), *[(r, r.gpu_quota - 1) for r in rest]]:
        base = {"namespace": d.namespace, "resource": alerts.QUOTA_RESOURCE}
        base["resourcequota"] = "kpo-quota"
        input_series += [
            series("kube_resourcequota", {**base, "type": "hard"}, samples(d.gpu_quota, end)),
            series("kube_resourcequota", {**base, "type": "used"}, samples(used, end)),
        ]
    # Not a deployment of this stack: never alerts, even at its quota.
    other = {"namespace": "someone-else", "resource": alerts.QUOTA_RESOURCE}
    input_series += [
        series("kube_resourcequota", {**other, "type": t}, samples(4, end))
        for t in ("hard", "used")
    ]
    tests = [
        {
            "interval": dur(STEP),
            "input_series": input_series,
            "alert_rule_test": alert_case(
                "DeploymentGpuQuotaSaturated",
                wait - STEP,
                wait + STEP,
                [{"namespace": full.namespace}],
            ),
        }
    ]
    below = {"namespace": full.namespace, "resource": alerts.QUOTA_RESOURCE}
    tests.append(
        {
            "interval": dur(STEP),
            "input_series": [
                series(
                    "kube_resourcequota", {**below, "type": "hard"}, samples(full.gpu_quota, end)
                ),
                series(
                    "kube_resourcequota",
                    {**below, "type": "used"},
                    samples(full.gpu_quota - 1, end),
                ),
            ],
            "alert_rule_test": [
                {
                    "eval_time": dur(end),
                    "alertname": "DeploymentGpuQuotaSaturated",
                    "exp_alerts": [],
                }
            ],
        }
    )
    return tests


def preemption_tests(cfg: StackConfig) -> list[dict[str, Any]]:
    """One preemption every 10 min: the alert fires once the last hour holds SPOT_RETRIES of them
    (at 30 min, not at 29); two an hour stay silent."""
    if not any(p.spot for p in cfg.gpu_pools):
        return []
    metric = alerts.promql_name(alerts.preemption_metric(cfg.cluster.name))
    n = cold_start.SPOT_RETRIES
    # 1-minute samples: 0 for 10 min, then +1 every 10 min up to n, then flat.
    steady = " ".join(f"{i}x9" for i in range(n)) + f" {n}x120"
    two = "0x9 1x9 2x200"
    return [
        {
            "interval": "1m",
            "input_series": [{"series": f"{metric}", "values": steady}],
            "alert_rule_test": alert_case("SpotPreemptionsHigh", n * 600 - 60, n * 600 + 60, [{}]),
        },
        {
            "interval": "1m",
            "input_series": [{"series": f"{metric}", "values": two}],
            "alert_rule_test": [
                {"eval_time": "2h", "alertname": "SpotPreemptionsHigh", "exp_alerts": []}
            ],
        },
    ]


def xid_tests(cfg: StackConfig) -> list[dict[str, Any]]:
    """Self-deployed DCGM only: a GPU whose XID gauge turns non-zero (79, fallen off the bus) at
    t=300 s fires at the first evaluation that sees it, and so does one on a node that carries
    the upstream `hostname` spelling (48, double-bit ECC); the healthy GPU beside them (XID 0)
    stays silent (promtool compares the exact alert list)."""
    if not cfg.observability.self_deployed_dcgm:
        return []
    at = 10 * STEP
    return [
        {
            "interval": dur(STEP),
            "input_series": [
                series(alerts.DCGM_XID, dcgm_labels("gke-a-0", 0, pod="task-0"), "0x9 79x20"),
                series(alerts.DCGM_XID, dcgm_labels("gke-a-0", 1, pod="task-1"), "0x29"),
                series(
                    alerts.DCGM_XID,
                    dcgm_labels("gke-b-0", 0, node_label=alerts.DCGM_NODE_LABEL_UPSTREAM),
                    "0x9 48x20",
                ),
            ],
            "alert_rule_test": alert_case(
                "GpuXidError",
                at - STEP,
                at,
                [{"node": "gke-a-0", "gpu": "0"}, {"node": "gke-b-0", "gpu": "0"}],
            ),
        },
        {
            "interval": dur(STEP),
            "input_series": [
                series(alerts.DCGM_XID, dcgm_labels("gke-a-0", 0, pod="task-0"), "0x29"),
            ],
            "alert_rule_test": [
                {"eval_time": dur(28 * STEP), "alertname": "GpuXidError", "exp_alerts": []}
            ],
        },
    ]


def promtool_tests(cfg: StackConfig) -> dict[str, Any]:
    return {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": dur(alerts.EVALUATION_INTERVAL_SECONDS),
        "tests": [
            *pending_tests(cfg),
            *idle_tests(cfg),
            *quota_tests(cfg),
            *preemption_tests(cfg),
            *xid_tests(cfg),
        ],
    }


def run_promtool(tmp_path: Path, rules: dict[str, Any], tests: dict[str, Any]) -> str:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    check = subprocess.run(
        [promtool(), "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run(
        [promtool(), "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    return (result.stdout + result.stderr) if result.returncode else ""


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_registered_alert_fires_on_time_and_not_on_its_neighbour(
    stack: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    cfg = config(stack)
    rules = rule_file(run)
    tests = promtool_tests(cfg)
    failure = run_promtool(tmp_path, rules, tests)
    assert failure == "", failure
    # Every registered alert has a test case, and every case names a registered alert.
    registered = {r["alert"] for r in rules["groups"][0]["rules"]}
    tested = {c["alertname"] for t in tests["tests"] for c in t["alert_rule_test"]}
    assert registered == tested


def test_the_expected_alerts_are_registered(dev: runner.Run, prod: runner.Run) -> None:
    assert sorted(c["alertRule"] for c in conditions(dev)) == [
        "DeploymentGpuQuotaSaturated",
        "GpuNodesIdle_l4_spot",
        "GpuPodPendingPastBudget",
        "SpotPreemptionsHigh",
    ]
    prod_alerts = sorted(c["alertRule"] for c in conditions(prod))
    assert prod_alerts == [
        "DeploymentGpuQuotaSaturated",
        "GpuNodesIdle_a100",
        "GpuNodesIdle_l4",
        "GpuNodesIdle_l4_flex",
        "GpuNodesIdle_l4_spot",
        "GpuPodPendingPastBudget",
        "SpotPreemptionsHigh",
    ]


def dcgm_read(run: runner.Run) -> set[str]:
    text = " ".join(c["query"] for c in conditions(run))
    text += run.one("gcp:monitoring/dashboard:Dashboard").inputs["dashboardJson"]
    return set(re.findall(r"DCGM_FI_[A-Z0-9_]+", text))


def test_every_dcgm_metric_read_is_one_gke_exports(dev: runner.Run, prod: runner.Run) -> None:
    """GKE's managed DCGM package exports a fixed field list without XID (components/observability/alerts.py
    GKE_DCGM_METRICS, docs/observability.md Sources): with it (the default) no alert or tile
    reads anything else. The XID metric is read only with the self-deployed exporter
    (tests/test_dcgm_self_deployed.py)."""
    assert len(alerts.GKE_DCGM_METRICS) == 21
    assert alerts.DCGM_XID not in alerts.GKE_DCGM_METRICS
    for run in (dev, prod):
        assert config(run.stack).observability.dcgm_source == "gke-managed"
        read = dcgm_read(run)
        assert read == {alerts.DCGM_UTIL, alerts.DCGM_FB_USED}
        assert read <= alerts.GKE_DCGM_METRICS


def test_the_pending_alert_fires_two_minutes_before_the_kpo_budget(dev: runner.Run) -> None:
    """dev's spot L4 pool: KPO waits 900 s (spot: the autoscaler's own 15 min); the alert's
    threshold is 780 s, the same figure less the lead."""
    hints = gpu_pool.gpu_scheduling(config("dev"))["l4-spot"]
    assert hints["schedule_timeout_seconds"] == 900
    (cond,) = [c for c in conditions(dev) if c["alertRule"] == "GpuPodPendingPastBudget"]
    assert '"gpu_target", "l4-spot", "", "") > 780 and ' in cond["query"]
    assert alerts.PENDING_LEAD_SECONDS == 120


def test_promtool_fails_a_wrong_expectation(dev: runner.Run, tmp_path: Path) -> None:
    """The harness can fail: expecting the pending alert one step before its time is refused."""
    cfg = config("dev")
    tests = {**promtool_tests(cfg), "tests": pending_tests(cfg)}
    case = tests["tests"][0]["alert_rule_test"]
    case[0]["exp_alerts"], case[1]["exp_alerts"] = case[1]["exp_alerts"], []
    failure = run_promtool(tmp_path, rule_file(dev), tests)
    assert "GpuPodPendingPastBudget" in failure


def test_notifications_silent_in_dev_and_on_the_channel_in_prod(
    dev: runner.Run, prod: runner.Run
) -> None:
    for policy in dev.of_type(ALERT_POLICY):
        assert policy.inputs.get("notificationChannels", []) == []
    for policy in prod.of_type(ALERT_POLICY):
        assert policy.inputs["notificationChannels"] == [
            "projects/acme-ml-prod/notificationChannels/4417180539622841923"
        ]
        doc = policy.inputs["documentation"]
        assert doc["mimeType"] == "text/markdown"
        assert "**What it means.**" in doc["content"] and "**What to do.**" in doc["content"]
