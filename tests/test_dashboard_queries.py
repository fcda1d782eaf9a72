"""The dashboard's GPU tiles, evaluated by Prometheus's own rule tester on series labelled the way
GKE's managed DCGM exporter labels them.

The queries are read back from the registered Dashboard (prod), so what is evaluated is what is
registered. Each DCGM series carries the labels of a real scrape of GKE's exporter
(tests/test_alert_rules.py dcgm_labels; docs/observability.md, Sources): the node as `Hostname`
(or upstream's `hostname`), the GPU's identity, and the namespace and pod of the pod it is
allocated to. `promtool test rules` with `promql_expr_test` checks the exact values per pool and
per deployment namespace; no server is started.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from components.observability import alerts
from offline import runner
from tests.test_alert_rules import dcgm_labels, promtool, series

DASHBOARD = "gcp:monitoring/dashboard:Dashboard"


def tiles(run: runner.Run) -> dict[str, str]:
    board = json.loads(run.one(DASHBOARD).inputs["dashboardJson"])
    return {
        t["widget"]["title"]: t["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"][
            "prometheusQuery"
        ]
        for t in board["mosaicLayout"]["tiles"]
    }


def gpu(node: str, index: int, util: float, fb: float, **kw: Any) -> list[dict[str, str]]:
    labels = dcgm_labels(node, index, **kw)
    return [
        series(alerts.DCGM_UTIL, labels, f"{util}x4"),
        series(alerts.DCGM_FB_USED, labels, f"{fb}x4"),
    ]


def pool_of(node: str, pool: str) -> dict[str, str]:
    return series("kube_node_labels", {"node": node, alerts.POOL_NODE_LABEL: pool}, "1x4")


def with_namespace(labels: dict[str, str], namespace: str) -> dict[str, str]:
    return {**labels, "namespace": namespace}


def run_expr_tests(tmp_path: Path, input_series: list[dict[str, str]], cases: list[Any]) -> str:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": []}))
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "30s",
        "tests": [{"interval": "30s", "input_series": input_series, "promql_expr_test": cases}],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [promtool(), "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    return (result.stdout + result.stderr) if result.returncode else ""


def scenario() -> list[dict[str, str]]:
    """Two L4 nodes (one labelled `Hostname`, one upstream's `hostname`), one A100 node; GPUs
    allocated to two deployments, to a namespace outside the stack, and unallocated."""
    out = [
        pool_of("gke-l4-a", "l4"),
        pool_of("gke-l4-b", "l4"),
        pool_of("gke-a100-a", "a100"),
        # l4-a: a training task's GPU, and an unallocated one
        *gpu("gke-l4-a", 0, 80, 20000, pod="train-1"),
        *gpu("gke-l4-a", 1, 0, 0),
        # l4-b (upstream label spelling): a reporting task's GPU
        *gpu("gke-l4-b", 0, 70, 4000, pod="report-1", node_label="hostname"),
        # a100-a: two GPUs of one training task, and one of a namespace outside the stack
        *gpu("gke-a100-a", 0, 60, 30000, pod="train-2"),
        *gpu("gke-a100-a", 1, 40, 10000, pod="train-2"),
        *gpu("gke-a100-a", 2, 99, 70000, pod="intruder"),
    ]
    training = {"train-1", "train-2"}
    for s in out:
        if 'pod="' not in s["series"]:
            continue
        pod = s["series"].split('pod="')[1].split('"')[0]
        namespace = (
            "airflow-ml-training"
            if pod in training
            else "airflow-reporting"
            if pod == "report-1"
            else "someone-else"
        )
        s["series"] = s["series"].replace('namespace="airflow-x"', f'namespace="{namespace}"')
    return out


def test_gpu_tiles_per_pool_and_per_deployment_namespace(prod: runner.Run, tmp_path: Path) -> None:
    q = tiles(prod)
    cases = [
        {
            "expr": q["GPU utilisation per pool (%)"],
            "eval_time": "1m",
            "exp_samples": [
                # l4: (80 + 0 + 70) / 3 GPUs, the `hostname` node included
                {"labels": '{gpu_pool="l4"}', "value": 50},
                {"labels": '{gpu_pool="a100"}', "value": (60 + 40 + 99) / 3},
            ],
        },
        {
            "expr": q["GPU memory used per pool (MiB)"],
            "eval_time": "1m",
            "exp_samples": [
                {"labels": '{gpu_pool="l4"}', "value": 24000},
                {"labels": '{gpu_pool="a100"}', "value": 110000},
            ],
        },
        {
            "expr": q["GPU utilisation per deployment namespace (%)"],
            "eval_time": "1m",
            "exp_samples": [
                # the training GPUs on both nodes; not the unallocated one, not someone-else's
                {"labels": '{namespace="airflow-ml-training"}', "value": 60},
                {"labels": '{namespace="airflow-reporting"}', "value": 70},
            ],
        },
        {
            "expr": q["GPU memory used per deployment namespace (MiB)"],
            "eval_time": "1m",
            "exp_samples": [
                {"labels": '{namespace="airflow-ml-training"}', "value": 60000},
                {"labels": '{namespace="airflow-reporting"}', "value": 4000},
            ],
        },
    ]
    failure = run_expr_tests(tmp_path, scenario(), cases)
    assert failure == "", failure


def test_the_harness_fails_a_wrong_value(prod: runner.Run, tmp_path: Path) -> None:
    """The per-namespace tile counted with the unallocated GPU would read 40, not 60: refused."""
    q = tiles(prod)
    case = {
        "expr": q["GPU utilisation per deployment namespace (%)"],
        "eval_time": "1m",
        "exp_samples": [
            {"labels": '{namespace="airflow-ml-training"}', "value": 40},
            {"labels": '{namespace="airflow-reporting"}', "value": 70},
        ],
    }
    failure = run_expr_tests(tmp_path, scenario(), [case])
    assert "airflow-ml-training" in failure


def test_every_tile_is_valid_promql(dev: runner.Run, prod: runner.Run, tmp_path: Path) -> None:
    """Each tile's query, as a recording rule, passes `promtool check rules` (the per-namespace
    tiles once grouped with `group_right (max by ...)`, which PromQL reads as a label list)."""
    for run in (dev, prod):
        rules = [
            {"record": f"tile_{i}", "expr": expr} for i, expr in enumerate(tiles(run).values())
        ]
        path = tmp_path / "tiles.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "tiles", "rules": rules}]}))
        check = subprocess.run(
            [promtool(), "check", "rules", str(path)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"SUCCESS: {len(rules)} rules found" in check.stdout
