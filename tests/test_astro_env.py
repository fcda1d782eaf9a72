"""`make astro-env`: the .env an Astro deployment loads, parsed back with a real dotenv parser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from offline import runner
from tools import astro_env

BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"


def write_outputs(tmp_path: Path, outputs: dict[str, object]) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.astro_env", *args],
        cwd=runner.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_env_file_parses_back_to_the_stack_outputs(dev: runner.Run, tmp_path: Path) -> None:
    outputs = write_outputs(tmp_path, dev.outputs)
    out = tmp_path / "analytics.env"
    result = run_tool(
        "--stack",
        "dev",
        "--deployment",
        "analytics",
        "--outputs-file",
        str(outputs),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    values = dotenv_values(out)
    analytics = dev.outputs["airflow"]["analytics"]
    assert values == {
        "AIRFLOW__SECRETS__BACKEND": BACKEND,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": analytics["AIRFLOW__SECRETS__BACKEND_KWARGS"],
        "AIRFLOW_VAR_GKE_GPU_CONN_ID": "gke_gpu",
        "AIRFLOW_VAR_GKE_GPU_NAMESPACE": "airflow-analytics",
        "AIRFLOW_VAR_GKE_GPU_SCHEDULING": json.dumps(dev.outputs["gpu_scheduling"], sort_keys=True),
    }
    assert json.loads(values["AIRFLOW__SECRETS__BACKEND_KWARGS"] or "") == {
        "connections_prefix": "airflow-connections",
        "variables_prefix": None,
        "config_prefix": None,
        "sep": "-",
        "project_id": "acme-ml-dev",
        "impersonation_chain": "analytics-kpo@acme-ml-dev.iam.gserviceaccount.com",
    }


def test_adc_deployment_has_no_impersonation(prod: runner.Run) -> None:
    values = astro_env.variables(prod.outputs, "reporting")
    assert "impersonation_chain" not in json.loads(values["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert values["AIRFLOW_VAR_GKE_GPU_CONN_ID"] == "gke_gpu_reporting"


def test_unknown_deployment_is_a_clear_error(dev: runner.Run, tmp_path: Path) -> None:
    outputs = write_outputs(tmp_path, dev.outputs)
    result = run_tool("--stack", "dev", "--deployment", "nope", "--outputs-file", str(outputs))
    assert result.returncode == 2
    assert result.stderr == "error: unknown deployment 'nope'; this stack has: analytics\n"


def test_missing_stack_output_is_a_clear_error(dev: runner.Run, tmp_path: Path) -> None:
    outputs = write_outputs(tmp_path, {k: v for k, v in dev.outputs.items() if k != "airflow"})
    result = run_tool("--stack", "dev", "--deployment", "analytics", "--outputs-file", str(outputs))
    assert result.returncode == 2
    assert "stack output 'airflow' is missing" in result.stderr
    broken = json.loads(json.dumps(dev.outputs))
    del broken["airflow"]["analytics"]["AIRFLOW__SECRETS__BACKEND_KWARGS"]
    with pytest.raises(
        astro_env.HandoffError, match="lacks stack output\\(s\\): AIRFLOW__SECRETS__BACKEND_KWARGS"
    ):
        astro_env.variables(broken, "analytics")


def test_no_pulumi_cli_points_to_outputs_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(astro_env.HandoffError, match="pass --outputs-file"):
        astro_env.stack_outputs("dev", None)


def test_values_that_cannot_be_quoted_safely_are_refused() -> None:
    with pytest.raises(astro_env.HandoffError, match="X contains a quote"):
        astro_env.render({"X": "it's"})
