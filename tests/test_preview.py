"""`make preview` (offline.preview): output and exit codes, run as a separate process like make does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from offline import runner

ROOT = runner.ROOT


def preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offline.preview", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_dev_preview_lists_every_resource_and_output() -> None:
    result = preview("--stack", "dev")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(
        "Stack astro-gke-gpu/dev (offline plan under Pulumi mocks: nothing was deployed)"
    )
    for line in (
        "    + astro-gke-gpu:gke:Cluster  astro-gpu-dev",
        "        + gcp:container/cluster:Cluster  astro-gpu-dev-gke",
        "        + gcp:container/nodePool:NodePool  astro-gpu-dev-l4-spot-pool",
        "        + gcp:compute/routerNat:RouterNat  astro-gpu-dev-nat",
        "    + astro-gke-gpu:airflow:DeploymentAccess  astro-gpu-dev-analytics",
        "        + kubernetes:rbac.authorization.k8s.io/v1:Role  astro-gpu-dev-analytics-role",
        "Resources: 26 to create",
        "      2 gcp:container/nodePool:NodePool",
        "      4 gcp:projects/iAMMember:IAMMember",
        "      1 gcp:secretmanager/secretVersion:SecretVersion",
    ):
        assert line in out.splitlines(), line
    endpoint = next(
        line for line in out.splitlines() if line.strip().startswith("cluster_endpoint:")
    )
    assert endpoint.endswith("(placeholder: invented by the mocks)")


def test_prod_preview_marks_protected_cluster() -> None:
    result = preview("--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert (
        "        + gcp:container/cluster:Cluster  astro-gpu-prod-gke [protect]"
        in result.stdout.splitlines()
    )


def test_invalid_config_exits_2_with_errors_and_no_traceback(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    platform = doc["config"]["astro-gke-gpu:platform"]
    platform["project_id"] = "Bad"
    platform["gpu_pools"][0]["accelerator_count"] = 3
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = preview("--stack", "dev", "--config-file", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "invalid stack config 'astro-gke-gpu:platform' (2 problem(s)):" in result.stderr
    assert "  - project_id: " in result.stderr
    assert (
        "  - gpu_pools[0].accelerator_count: g2-standard-8 carries exactly 1 GPU(s); set 1"
        in result.stderr
    )


def test_mandatory_violation_exits_1_and_names_the_policy(tmp_path: Path) -> None:
    # Valid config (the model allows up to 1000 nodes), but above the pack's GPU node cap of 16.
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    doc["config"]["astro-gke-gpu:platform"]["gpu_pools"][0]["max_nodes"] = 40
    proposed = tmp_path / "Pulumi.dev.yaml"
    proposed.write_text(yaml.safe_dump(doc))
    result = preview("--stack", "dev", "--config-file", str(proposed))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "Policies: 1 mandatory, 0 advisory violation(s)" in lines
    assert (
        "    [mandatory] gpu-max-nodes  (gcp:container/nodePool:NodePool  astro-gpu-dev-l4-spot-pool)"
        in lines
    )
    assert "        autoscaling.maxNodeCount 40 exceeds the cap of 16 GPU nodes per pool." in lines


def test_clean_stack_reports_no_violations() -> None:
    result = preview("--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert "Policies: 0 mandatory, 0 advisory violation(s)" in result.stdout.splitlines()
