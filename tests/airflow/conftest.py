"""Fixtures for the real-Airflow contract suite (runs in .venv-airflow).

Stack data never gets re-typed here: it is exported by the real program run under Pulumi mocks, in
the stack's own venv (`python -m offline.export`), and read back as JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fake_secret_manager import made_up_adc
from kube_real import start_control_plane
from scenarios import FAILURES, KUEUE, KUEUE_BORROW, LIFECYCLE, MODES, REMOTE, run_all
from stack_data import EXPORTS_ENV, run_stack_python

# Before any test module imports Airflow (it reads AIRFLOW_HOME once, at import): never ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="session")
def export() -> Callable[..., dict[str, Any]]:
    cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    def _export(
        stack: str = "dev",
        *,
        ca_pem_file: Path | None = None,
        endpoint: str | None = None,
        ip_endpoint: bool = False,
    ) -> dict[str, Any]:
        key = (stack, str(ca_pem_file), endpoint, ip_endpoint)
        if key not in cache:
            args = ["-m", "offline.export", "--stack", stack]
            if ca_pem_file:
                args += ["--ca-pem-file", str(ca_pem_file)]
            if endpoint:
                args += ["--endpoint", endpoint]
            if ip_endpoint:
                args.append("--ip-endpoint")
            cache[key] = json.loads(run_stack_python(*args))
        return cache[key]

    return _export


@pytest.fixture
def fake_adc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Made-up Application Default Credentials (`made_up_adc`), in the environment."""
    path = made_up_adc(tmp_path / "adc.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return path


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's one real control plane (tests/kube/controlplane.py, `make kube-bin`): its
    address, CA, admin kubeconfig, Tokeninfo and audit log go to kpo_run.py through the
    environment (kube_real.ENV)."""
    cp = start_control_plane(tmp_path_factory.mktemp("kube"))
    yield cp
    cp.pod_runtime.stop()
    cp.stop()


@pytest.fixture(scope="session")
def kueue(
    control_plane: Any, export: Callable[..., dict[str, Any]]
) -> Iterator[Future[dict[str, Any]]]:
    """The real Kueue controller on the session's control plane, with prod's Configuration and
    Kueue objects (kube_kueue.py), started in the background: its future is the Configuration."""
    from kube_kueue import start_kueue

    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(lambda: start_kueue(control_plane, export("prod")))


@pytest.fixture(scope="session")
def kpo(
    tmp_path_factory: pytest.TempPathFactory,
    control_plane: Any,
    kueue: Future[dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Every KubernetesPodOperator run (scenarios.py), done once, a few at a time; the slowest
    (cold starts, long runs) first. Every run starts once Kueue is up: its webhooks
    (failurePolicy Fail) serve prod's pods, and every stack's Deployments."""
    scenarios = {**LIFECYCLE, **KUEUE, **KUEUE_BORROW, **REMOTE, **MODES, **FAILURES}
    only = os.environ.get("CONTRACT_ONLY")  # while working on some: CONTRACT_ONLY=name,name
    if only:
        scenarios = {name: s for name, s in scenarios.items() if name in only.split(",")}
    ready = {name: kueue.result for name in scenarios}
    # Runs of one stack configuration share its export (stack_data.export_for).
    os.environ[EXPORTS_ENV] = str(tmp_path_factory.mktemp("exports"))
    runs = run_all(scenarios, tmp_path_factory.mktemp("kpo"), ready)
    SECONDS.update((name, r["seconds"]) for name, r in runs.items())
    WAITED.update((name, r["lock_waited"]) for name, r in runs.items())
    return runs


SECONDS: dict[str, float] = {}  # each run's wall time, for the summary below
WAITED: dict[str, float] = {}  # of which it waited for its stack (stack_lock.py)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each KubernetesPodOperator run's wall time, and how long of it it waited for its stack."""
    if SECONDS:
        terminalreporter.write_sep(
            "-", "KubernetesPodOperator runs (s): wall, waited for the stack"
        )
        for name, seconds in sorted(SECONDS.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{seconds:7.1f} {WAITED.get(name, 0):7.1f}  {name}")
