"""checkov's Kubernetes checks on every object dev, prod and the opt-in DCGM exporter register:
rendered under mocks into YAML manifests (offline/manifests.py), checked by the real checkov
(its own venv, `make .venv-checkov/.synced`), and every failing check is one docs/observability.md
lists with its reason, object by object, no more and no fewer."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from offline import manifests, runner

CHECKOV = runner.ROOT / ".venv-checkov" / "bin" / "checkov"
DOC = runner.ROOT / "docs" / "observability.md"
RUNS = {"dev": ("dev", False), "prod": ("prod", False), "dev-dcgm": ("dev", True)}
ROW = re.compile(r"^\| `(CKV_K8S_\d+)` \| (.+?) \| (.+) \|$")


def documented() -> dict[tuple[str, str], str]:
    """(check id, object) -> reason, from the table between the checkov-skips markers."""
    text = DOC.read_text()
    block = text.split("<!-- checkov-skips:begin", 1)[1].split("<!-- checkov-skips:end", 1)[0]
    out = {}
    for line in block.splitlines():
        m = ROW.match(line)
        if m:
            for obj in re.findall(r"`([^`]+)`", m.group(2)):
                out[(m.group(1), obj)] = m.group(3)
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: run `make .venv-checkov/.synced` (make unit does)")
    out = tmp_path_factory.mktemp("manifests")
    for key, (stack, dcgm) in RUNS.items():
        objects = manifests.manifests(manifests.run_stack(stack, dcgm))
        (out / f"{key}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=True))
    # --skip-download: no call to checkov's vendor API (guides, severities); the proxies point at
    # a closed loopback port, so any other network call fails instead of leaving the machine.
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "HTTPS_PROXY": dead, "HTTP_PROXY": dead, "NO_PROXY": ""}
    result = subprocess.run(
        [str(CHECKOV), "-d", str(out), "--framework", "kubernetes", "-o", "json", "--quiet"]
        + ["--compact", "--skip-download"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: some check failed
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_checkov_parses_every_object(report: dict[str, object]) -> None:
    summary = report["summary"]
    assert isinstance(summary, dict)
    assert summary["parsing_errors"] == 0
    assert summary["checkov_version"] == "3.3.30"
    total = sum(len(manifests.manifests(manifests.run_stack(s, d))) for s, d in RUNS.values())
    # checkov counts each object, plus the containers of a workload as entities of their own.
    # 73: 62 before prod's GPU sharing, and its 11 Kueue objects (4 ResourceFlavors, 3
    # ClusterQueues, 3 LocalQueues, the kueue-system Namespace; the chart renders in the provider).
    assert summary["resource_count"] >= total == 73
    assert summary["passed"] > 400


def test_every_failing_check_is_documented_with_its_reason(report: dict[str, object]) -> None:
    results = report["results"]
    assert isinstance(results, dict)
    failed = {(c["check_id"], c["resource"]) for c in results["failed_checks"]}
    skips = documented()
    assert all(reason.strip() for reason in skips.values())
    assert sorted(failed - set(skips)) == []  # a new failure needs a fix or a documented reason
    assert sorted(set(skips) - failed) == []  # a fixed one leaves the table


def test_the_stacks_own_objects_fail_only_the_exporter_trade_offs(
    report: dict[str, object],
) -> None:
    """Outside the opt-in (privileged by design), only kube-state-metrics' two choices remain."""
    results = report["results"]
    assert isinstance(results, dict)
    stacks = {
        (c["check_id"], c["resource"])
        for c in results["failed_checks"]
        if not c["file_path"].endswith("dev-dcgm.yaml")
    }
    ksm = "Deployment.kube-state-metrics.kube-state-metrics"
    assert stacks == {("CKV_K8S_11", ksm), ("CKV_K8S_38", ksm)}
