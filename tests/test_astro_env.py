"""`make astro-env`: the .env an Astro deployment loads, parsed back with a real dotenv parser and
with the Astro CLI's own `--load` parser (re-implemented below from its source)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from offline import runner
from tools import astro_env

BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
SCANNER_MAX = 64 * 1024  # bufio.MaxScanTokenSize


class AstroCliError(Exception):
    pass


def astro_cli_load(text: str) -> dict[str, str]:
    """`astro deployment variable create|update --load --env <file>`: astronomer/astro-cli
    cloud/deployment/deployment_variable.go @ 022430f5f7ee033e335036a5e443ba5fec917345,
    `readLines` + `addVariablesFromFile`, rule for rule:
    - lines come from a bufio.Scanner (ScanLines: split on \\n, a trailing \\r dropped); a line that
      does not fit its 64 KiB buffer together with its newline stops the scan (ErrTooLong);
    - a line starting with `#` is skipped (column 0 only), an empty line is skipped;
    - no `=`: "improperly formatted"; key = text before the first `=`, value = the rest;
    - an empty key or an empty value is refused; a key listed twice is refused;
    - value = strings.Trim(value, `"`), then strings.Trim(value, `'`), then strings.TrimSpace.
    (Errors make the CLI skip the variable and fail the command; here they raise.)"""
    data = text.encode()
    lines: list[str] = []
    for raw in data.split(b"\n")[: -1 if data.endswith(b"\n") else None]:
        if len(raw) + 1 > SCANNER_MAX:
            raise AstroCliError("bufio.Scanner: token too long")
        lines.append(raw.removesuffix(b"\r").decode())
    found: dict[str, str] = {}
    for line in lines:
        if line.startswith("#") or line == "":
            continue
        if "=" not in line:
            raise AstroCliError(f"{line} is an improperly formatted variable")
        key, value = line.split("=", 1)
        if key == "" or value == "":
            raise AstroCliError(f"empty key or value: {line}")
        if key in found:
            raise AstroCliError(f"key {key} already exists within the file")
        found[key] = value.strip('"').strip("'").strip()
    return found


def test_the_parser_follows_the_astro_cli_rules() -> None:
    """The re-implementation itself, on the cases its source distinguishes."""
    assert astro_cli_load("# c\n\nA=1\nB = x\nC='{\"a\": 1}'\nD=\"'q'\"\nE='  s  '\r\n") == {
        "A": "1",
        "B ": "x",  # the key is not trimmed
        "C": '{"a": 1}',
        "D": "q",  # every " then every ' stripped
        "E": "s",
    }
    assert astro_cli_load('J="{\\"a\\":1}"\n') == {"J": '{\\"a\\":1}'}  # no escapes
    for bad in ("A\n", "=1\n", "A=\n", "A=1\nA=2\n", "X=" + "y" * SCANNER_MAX + "\n"):
        with pytest.raises(AstroCliError):
            astro_cli_load(bad)


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
        "AIRFLOW_VAR_GKE_GPU_POOL": "gke_gpu",
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


def test_env_file_reads_back_exactly_under_the_astro_cli_parser(
    dev: runner.Run, tmp_path: Path
) -> None:
    out = tmp_path / "analytics.env"
    result = run_tool(
        "--stack",
        "dev",
        "--deployment",
        "analytics",
        "--outputs-file",
        str(write_outputs(tmp_path, dev.outputs)),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert astro_cli_load(text) == astro_env.variables(dev.outputs, "analytics")
    assert astro_cli_load(text) == dotenv_values(out)
    # First load with create, re-runs with update (create skips keys that exist).
    assert text.splitlines()[:2] == [
        "# Generated by `make astro-env`. First load: "
        f"astro deployment variable create --deployment-id <id> --load --env {out}",
        "# Re-runs (create skips existing keys): "
        f"astro deployment variable update --deployment-id <id> --load --env {out}",
    ]
    assert result.stdout.splitlines() == [
        f"wrote {out}: astro deployment variable create --deployment-id <id> --load --env {out}",
        f"re-runs: astro deployment variable update --deployment-id <id> --load --env {out}",
    ]


@given(value=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40))
def test_every_value_written_reads_back_identically_under_both_parsers(value: str) -> None:
    """Whatever a value holds, the file either carries it exactly for both the Astro CLI and
    python-dotenv, or is refused with a reason: never silently changed."""
    try:
        text = astro_env.render({"K": value})
    except astro_env.HandoffError:
        return
    assert astro_cli_load(text) == {"K": value}
    from io import StringIO

    assert dotenv_values(stream=StringIO(text)) == {"K": value}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "K is empty, which the Astro CLI refuses"),
        (" padded", "K starts or ends with whitespace, which the Astro CLI strips"),
        ("tab\t", "K starts or ends with whitespace, which the Astro CLI strips"),
        ("a\\b", "K contains a backslash, which python-dotenv decodes in quoted values"),
        ("line\rfeed", "K contains a quote or newline"),
        ("x" * (64 * 1024 - 4), "K makes a line longer than the Astro CLI reads (65535 bytes)"),
    ],
)
def test_values_the_astro_cli_would_change_are_refused(value: str, reason: str) -> None:
    with pytest.raises(astro_env.HandoffError) as exc:
        astro_env.render({"K": value})
    assert str(exc.value) == f"{reason} and cannot be written safely"


def test_the_longest_line_the_astro_cli_reads_is_written() -> None:
    value = "x" * (64 * 1024 - 1 - len("K=''"))
    text = astro_env.render({"K": value})
    assert max(len(line.encode()) for line in text.splitlines()) == 64 * 1024 - 1
    assert astro_cli_load(text) == {"K": value}


def test_remote_deployment_is_sent_to_agent_values(prod: runner.Run) -> None:
    with pytest.raises(astro_env.HandoffError) as exc:
        astro_env.variables(prod.outputs, "batch-remote")
    assert str(exc.value) == (
        "deployment 'batch-remote' uses Remote Execution: its settings go to the agent, not the "
        "Astro deployment; use make agent-values"
    )


def test_a_deployment_with_its_own_backend_gets_only_the_dag_variables(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(lambda c: c["deployments"][0].update(existing_secrets_backend={}))
    values = astro_env.variables(run.outputs, "analytics")
    assert values == {
        "AIRFLOW_VAR_GKE_GPU_CONN_ID": "gke_gpu",
        "AIRFLOW_VAR_GKE_GPU_NAMESPACE": "airflow-analytics",
        "AIRFLOW_VAR_GKE_GPU_POOL": "gke_gpu",
        "AIRFLOW_VAR_GKE_GPU_SCHEDULING": json.dumps(run.outputs["gpu_scheduling"], sort_keys=True),
    }
    assert astro_cli_load(astro_env.render(values)) == values
