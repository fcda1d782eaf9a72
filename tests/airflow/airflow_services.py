"""A real Airflow (the pinned apache-airflow) on loopback for the contract suite: `airflow
api-server`, `airflow scheduler` (LocalExecutor) and `airflow dag-processor`, each its own process,
on one SQLite metadata database, with the API server's own auth (SimpleAuthManager, a token from
`POST /auth/token`, as Airflow 3 documents for its REST API).

What the processes share comes from the environment they are started with, as on an Astro
deployment: the JWT secret the scheduler signs task tokens with and the API server checks (Airflow
3 tasks report through the API server's Execution API, `[core] execution_api_server_url`), the DAG
folder, `include/` on the path as an Astro image has it, and the deployment's AIRFLOW_VAR_* and
AIRFLOW_CONN_*.

SQLite with LocalExecutor: Airflow 3 no longer refuses it (configuration.py only checks the SQLite
version), and `airflow standalone` runs exactly this; every database write of a running task goes
through the API server, so the scheduler and the API server are the only writers.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
AIRFLOW = [sys.executable, "-m", "airflow"]
USER = "admin"
START_SECONDS = (
    300  # the API server imports FastAPI, the providers and the UI; 2 cores, maybe shared
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AirflowServices:
    home: Path
    dags: Path
    env: dict[str, str]  # the deployment's own variables and connections
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({USER: self.password}))
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            **self.env,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # New DAG files are listed at start; a short interval only matters for late ones.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # A task reports to the API server; on 2 busy cores a call can take seconds.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            # Importing KubernetesPodOperator alone can outlast the 30 s default on busy cores.
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "300",
            "PYTHONPATH": str(ROOT / "astro"),
        }

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        subprocess.run([*AIRFLOW, "db", "migrate"], check=True, capture_output=True, env=env)
        for name, args in (
            ("api-server", ["api-server", "--port", str(self.port), "--workers", "1"]),
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
        ):
            log = (self.home / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [*AIRFLOW, *args], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_SECONDS
        try:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    self.token = self.login(USER, self.password)
                    return
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(1)
            raise RuntimeError(f"api-server did not answer in {START_SECONDS} s:\n{self.logs()}")
        except BaseException:
            self.stop()  # never leave the processes behind
            raise

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow processes exited: {dead}\n{self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.home.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    # --- the REST API ---------------------------------------------------------------------

    def login(self, username: str, password: str) -> str:
        """`POST /auth/token` (SimpleAuthManager's login route): a JWT for the REST API."""
        status, body = self.call(
            "POST", "/auth/token", {"username": username, "password": password}, auth=False
        )
        if status != 201:
            raise RuntimeError(f"/auth/token answered {status}: {body}")
        return str(body["access_token"])

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.token}"} if auth else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
        return body

    def wait_for_dag(self, dag_id: str, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_alive()
            if self.call("GET", f"/api/v2/dags/{dag_id}")[0] == 200:
                return
            time.sleep(1)
        raise RuntimeError(f"DAG {dag_id} was not parsed in {seconds} s:\n{self.logs()}")

    def trigger(self, dag_id: str) -> str:
        status, body = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        if status != 200:
            raise RuntimeError(f"trigger {dag_id}: {status} {body}")
        return str(body["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in body["task_instances"]}

    def wait_for_run(self, dag_id: str, run_id: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        raise RuntimeError(
            f"{dag_id} {run_id} still running after {seconds} s: "
            f"{self.task_instances(dag_id, run_id)}\n{self.logs()}"
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        """Every try's log file of the task, as the workers wrote them."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("attempt=*")))
