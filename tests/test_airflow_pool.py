"""`make airflow-pool` (tools/airflow_pool.py) on the stack's own outputs: the airflow_settings.yaml
block for `astro dev start`, and the refusals that need no Airflow. The upsert itself runs against
a real `airflow api-server` in the contract suite (tests/airflow/test_gpu_fanout.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from offline import runner
from tools import airflow_pool


@pytest.fixture
def outputs_file(dev: runner.Run, tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(dev.outputs))
    return path


def run(outputs_file: Path, *extra: str, env: dict[str, str] | None = None) -> int:
    argv = ["--stack", "dev", "--deployment", "analytics", "--outputs-file", str(outputs_file)]
    return airflow_pool.main([*argv, *extra], env=env or {})


def test_settings_block_is_the_astro_cli_schema_and_keeps_everything_else(
    outputs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "airflow_settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "airflow": {
                    "connections": [{"conn_id": "mine", "conn_type": "http"}],
                    "pools": [
                        {"pool_name": "etl", "pool_slot": 4, "pool_description": "ours"},
                        {"pool_name": "gke_gpu", "pool_slot": 9, "pool_description": "stale"},
                    ],
                    "variables": [{"variable_name": "a", "variable_value": "b"}],
                }
            }
        )
    )
    assert run(outputs_file, "--settings", str(settings)) == 0
    written = yaml.safe_load(settings.read_text())
    assert written["airflow"] == {
        "connections": [{"conn_id": "mine", "conn_type": "http"}],
        "pools": [
            {"pool_name": "etl", "pool_slot": 4, "pool_description": "ours"},
            {
                "pool_name": "gke_gpu",
                "pool_slot": 2,  # dev's gpu_quota
                "pool_description": (
                    "GPU tasks of Astro deployment analytics: 2 slots = the GPU quota "
                    "(requests.nvidia.com/gpu) of namespace airflow-analytics; pool_slots = GPUs "
                    "per task (managed by Pulumi, make airflow-pool)"
                ),
            },
        ],
        "variables": [{"variable_name": "a", "variable_value": "b"}],
    }
    # The schema has no include_deferred: said, not silently dropped.
    assert "has no include_deferred" in capsys.readouterr().err
    # Twice: the same file.
    before = settings.read_text()
    assert run(outputs_file, "--settings", str(settings)) == 0
    assert settings.read_text() == before


def test_settings_file_is_created_when_missing(outputs_file: Path, tmp_path: Path) -> None:
    settings = tmp_path / "new" / "airflow_settings.yaml"
    settings.parent.mkdir()
    assert run(outputs_file, "--settings", str(settings)) == 0
    assert yaml.safe_load(settings.read_text())["airflow"]["pools"][0]["pool_name"] == "gke_gpu"


def test_url_and_token_come_from_the_environment_only(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(outputs_file, env={}) == 2
    err = capsys.readouterr().err
    assert "set ASTRO_DEPLOYMENT_URL and ASTRO_API_TOKEN in the environment" in err
    assert run(outputs_file, env={"ASTRO_DEPLOYMENT_URL": "https://x.example"}) == 2
    assert "set ASTRO_API_TOKEN in the environment" in capsys.readouterr().err


def test_the_token_never_travels_in_clear_text(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"ASTRO_DEPLOYMENT_URL": "http://deployment.example", "ASTRO_API_TOKEN": "t"}
    assert run(outputs_file, env=env) == 2
    assert "ASTRO_DEPLOYMENT_URL must be https" in capsys.readouterr().err
    # Loopback (a local `astro dev start`) may be plain http; a bare host gets https.
    assert airflow_pool.AirflowApi.from_env(
        {"ASTRO_DEPLOYMENT_URL": "http://localhost:8080/", "ASTRO_API_TOKEN": "t"}
    ).base == ("http://localhost:8080")
    assert airflow_pool.AirflowApi.from_env(
        {"ASTRO_DEPLOYMENT_URL": "acme.astronomer.run/d1", "ASTRO_API_TOKEN": "t"}
    ).base == ("https://acme.astronomer.run/d1")


def test_unknown_deployment_is_one_clear_error(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--stack", "dev", "--deployment", "nope", "--outputs-file", str(outputs_file)]
    assert airflow_pool.main(argv, env={}) == 2
    assert "unknown deployment 'nope'; this stack has: analytics" in capsys.readouterr().err


def test_shrink_counts_deferred_tasks_only_when_the_pool_does() -> None:
    current = {
        "occupied_slots": 3,
        "running_slots": 1,
        "queued_slots": 1,
        "deferred_slots": 1,
    }
    assert airflow_pool.in_use(current, include_deferred=True)[0] == 3
    assert airflow_pool.in_use(current, include_deferred=False)[0] == 2
