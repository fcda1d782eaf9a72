"""GPU fan-out beyond the namespace's GPU quota, with the real Airflow scheduler (LocalExecutor), API
server and DAG processor (airflow_services.py), real KubernetesPodOperator tasks, and the fake API
server's ResourceQuota admission from the quota the stack registered (dev `analytics`:
`requests.nvidia.com/gpu` 2).

- `make airflow-pool`'s tool against the real `airflow api-server` and its auth: it creates the
  pool from the stack output, a second run changes nothing, a quota change patches it, and a shrink
  below the slots the running tasks hold is refused (exit 2).
- A DAG of 5 one-GPU tasks without the pool: 2 pods are admitted and the other 3 are refused at
  admission (403 "exceeded quota"); KubernetesPodOperator does not retry a 403, and each task's
  Airflow retries (the hint's, scaled) are refused too while the first two still hold their GPUs
  (they run until the others have settled, as a GPU job of hours outlasts 3 retries 60 s apart),
  so those tasks fail, and the log says why (the quota and the pool, `include/gke_gpu.py`).
- The same DAG in the pool (`gpu_task`): every task succeeds, tasks beyond the quota wait in Airflow
  (`scheduled`, no pod), and the API server never sees more than 2 GPUs requested at once. While
  the first two hold their GPUs, `make airflow-pool` for a quota of 1 is refused.

The connection here is a kubeconfig with a token the fake API server issued to the launcher (RBAC
from the stack's Role still applies); the exec-plugin chain to it is test_auth_chain.py's subject.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fake_google
import fake_kube
import pytest
import trustme
from airflow_services import AirflowServices
from stack_data import astro_env_values, run_stack_python, stack_tool

SCALE = 0.01  # the stack's budget figures x SCALE: 60 s between retries -> 0.6 s
DEPLOYMENT = "analytics"
POOL = "gke_gpu"
QUOTA = 2  # dev analytics gpu_quota (Pulumi.dev.yaml), read back from the export below
TASKS = 5
RUN_SECONDS = 3.0  # each pooled task holds its GPU this long (scaled: 5 minutes of work)
HOLD_CAP_SECONDS = 900.0  # a bound on every hold, should a test go wrong (busy cores: minutes)

DAG = """
import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG
from include.gke_gpu import gpu_task


def fan_out(dag_id, pooled):
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        for shard in range({tasks}):
            kwargs = gpu_task("l4-spot")
            if not pooled:  # a DAG that leaves its GPU tasks in default_pool
                del kwargs["pool"], kwargs["pool_slots"]
            KubernetesPodOperator(
                task_id=f"shard_{{shard}}",
                name=f"shard-{{shard}}",
                image="busybox",
                cmds=["sh", "-c", "echo hi"],
                poll_interval=0.2,
                startup_check_interval_seconds=1,
                **kwargs,
            )


fan_out("fanout_pooled", True)
fan_out("fanout_unpooled", False)
"""


@dataclass
class Fanout:
    airflow: AirflowServices
    kube: fake_kube.FakeKube
    data: dict[str, Any]
    outputs: dict[int, Path]  # gpu_quota -> a stack outputs file exported with it
    namespace: str


def export(address: str, ca_file: Path, gpu_quota: int | None = None) -> dict[str, Any]:
    args = ["-m", "offline.export", "--stack", "dev", "--ca-pem-file", str(ca_file)]
    args += ["--endpoint", address, "--ip-endpoint", "--time-scale", str(SCALE)]
    if gpu_quota is not None:
        args += ["--tune", f"{DEPLOYMENT}:gpu_quota={gpu_quota}"]
    return dict(json.loads(run_stack_python(*args)))


def kube_connection(address: str, ca: trustme.CA, token: str, namespace: str) -> str:
    """AIRFLOW_CONN_<id>: a kubernetes connection whose kubeconfig carries a static token."""
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "fake",
                "cluster": {
                    "server": f"https://{address}",
                    "certificate-authority-data": base64.b64encode(ca.cert_pem.bytes()).decode(),
                },
            }
        ],
        "users": [{"name": "launcher", "user": {"token": token}}],
        "contexts": [
            {
                "name": "fake",
                "context": {"cluster": "fake", "user": "launcher", "namespace": namespace},
            }
        ],
        "current-context": "fake",
    }
    extra = {"kube_config": kubeconfig, "namespace": namespace, "in_cluster": False}
    return json.dumps({"conn_type": "kubernetes", "extra": extra})


@pytest.fixture(scope="module")
def fanout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fanout]:
    work = tmp_path_factory.mktemp("fanout")
    ca = trustme.CA()
    ca_file = work / "ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    kube = fake_kube.FakeKube(ca=ca)
    address = kube.start()
    with ThreadPoolExecutor(3) as pool:
        exports = {q: pool.submit(export, address, ca_file, q) for q in (None, 3, 1)}
        data = exports[None].result()
        outputs = {}
        for future in exports.values():
            exported = future.result()
            slots = exported["outputs"]["airflow"][DEPLOYMENT]["airflow_pool"]["slots"]
            outputs[slots] = work / f"outputs-{slots}.json"
            outputs[slots].write_text(json.dumps(exported["outputs"]))
    kube.scheduler = fake_kube.Scheduler(data["node_pools"], data["compute_classes"])
    kube.quotas = data["resource_quotas"]
    kube.access = fake_kube.Access.from_export(
        data, fake_google.TokenRegistry(lifetime=3600), dns_endpoint=False
    )
    d = data["outputs"]["airflow"][DEPLOYMENT]
    # The deployment's Variables through `make astro-env`'s tool; the hints scaled like the rest.
    env = {
        k: v
        for k, v in astro_env_values(data["outputs"], "dev", DEPLOYMENT, work).items()
        if k.startswith("AIRFLOW_VAR_")
    }
    env["AIRFLOW_VAR_GKE_GPU_SCHEDULING"] = json.dumps(data["scaled_scheduling"]["hints"])
    token = kube.access.issue(d["launcher_email"])  # the RoleBinding's User
    env[f"AIRFLOW_CONN_{d['connection_id'].upper()}"] = kube_connection(
        address, ca, token, d["namespace"]
    )
    dags = work / "dags"
    dags.mkdir()
    (dags / "fanout.py").write_text(DAG.format(tasks=TASKS))
    airflow = AirflowServices(home=work / "home", dags=dags, env=env)
    try:
        airflow.start()
        yield Fanout(airflow, kube, data, outputs, d["namespace"])
    finally:
        airflow.stop()
        kube.stop()


def upsert(f: Fanout, slots: int, token: str | None = None) -> tuple[int, str, str]:
    """`make airflow-pool` for the stack exported with `gpu_quota = slots`."""
    done = stack_tool(
        "tools.airflow_pool",
        *("--stack", "dev", "--deployment", DEPLOYMENT, "--outputs-file", str(f.outputs[slots])),
        env={
            "ASTRO_DEPLOYMENT_URL": f.airflow.url,
            "ASTRO_API_TOKEN": f.airflow.token if token is None else token,
        },
    )
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def pool(f: Fanout) -> dict[str, Any]:
    return dict(f.airflow.get(f"/api/v2/pools/{POOL}"))


def test_quota_is_what_the_stack_registered(fanout: Fanout) -> None:
    quotas = [q for q in fanout.kube.quotas if q["namespace"] == fanout.namespace]
    assert [(q["name"], q["spec"]["hard"]["requests.nvidia.com/gpu"]) for q in quotas] == [
        ("kpo-quota", str(QUOTA))
    ]


def test_upsert_against_the_real_api_server(fanout: Fanout) -> None:
    # The API server's auth is on: no token, no pools.
    assert fanout.airflow.call("GET", f"/api/v2/pools/{POOL}", auth=False)[0] == 401
    assert upsert(fanout, QUOTA, token="not-a-token")[0] == 2
    # First run: created, exactly as the stack output says.
    assert upsert(fanout, QUOTA) == (0, "created pool gke_gpu: 2 slots, include_deferred=true", "")
    created = pool(fanout)
    assert (created["slots"], created["include_deferred"]) == (2, True)
    assert (
        created["description"]
        == fanout.data["outputs"]["airflow"][DEPLOYMENT]["airflow_pool"]["description"]
    )
    # Second run: nothing changes.
    assert upsert(fanout, QUOTA) == (
        0,
        "pool gke_gpu unchanged: 2 slots, include_deferred=true",
        "",
    )
    assert pool(fanout) == created
    # The quota grows to 3: slots follow, nothing else moves.
    assert upsert(fanout, 3) == (0, "patched pool gke_gpu: slots 2 -> 3", "")
    assert pool(fanout) == {**created, "slots": 3, "open_slots": 3}
    # Someone turned include_deferred off by hand: put back, with the quota back at 2.
    status, _ = fanout.airflow.call(
        "PATCH",
        f"/api/v2/pools/{POOL}?update_mask=include_deferred",
        {"name": POOL, "slots": 3, "include_deferred": False},
    )
    assert status == 200
    assert upsert(fanout, QUOTA) == (
        0,
        "patched pool gke_gpu: slots 3 -> 2, include_deferred false -> true",
        "",
    )
    assert pool(fanout) == created


def holders(kube: fake_kube.FakeKube, namespace: str) -> set[str]:
    """The tasks whose pods the API server admitted and that have not finished."""
    held = set()
    for (ns, _), pod in list(kube.pods.items()):
        phase = kube._pod_view(pod)["status"]["phase"]
        if ns == namespace and not pod.deleted and phase not in fake_kube.TERMINAL:
            held.add(pod.manifest["metadata"]["labels"]["task_id"])
    return held


class Settled(threading.Thread):
    """Sets `done` once every task that holds no GPU has reached its final state: until then the
    GPU holders keep running, as a GPU job of hours outlasts 3 retries 60 s apart (here 0.6 s)."""

    def __init__(self, f: Fanout, dag_id: str, run_id: str) -> None:
        super().__init__(daemon=True)
        self.f, self.dag_id, self.run_id = f, dag_id, run_id
        self.done = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            states = {
                t: ti["state"]
                for t, ti in self.f.airflow.task_instances(self.dag_id, self.run_id).items()
            }
            others = set(states) - holders(self.f.kube, self.f.namespace)
            if len(states) == TASKS and all(states[t] in ("failed", "success") for t in others):
                self.done.set()
                return


def test_fan_out_without_the_pool_fails_on_the_quota(fanout: Fanout) -> None:
    kube, airflow = fanout.kube, fanout.airflow
    hint = fanout.data["scaled_scheduling"]["hints"]["l4-spot"]
    assert (hint["retries"], hint["retry_delay_seconds"]) == (3, 0.6)
    kube.gpu_peak.clear()
    airflow.wait_for_dag("fanout_unpooled")
    run = airflow.trigger("fanout_unpooled")
    settled = Settled(fanout, "fanout_unpooled", run)
    cap = time.monotonic() + HOLD_CAP_SECONDS
    kube.lifecycle = fake_kube.Lifecycle(
        run=1.0, hold=lambda: not settled.done.is_set() and time.monotonic() < cap
    )
    settled.start()
    try:
        assert airflow.wait_for_run("fanout_unpooled", run, HOLD_CAP_SECONDS + 120) == "failed"
    finally:
        settled.stop.set()
    assert settled.done.is_set(), "the tasks without a GPU never settled"
    states = {t: ti["state"] for t, ti in airflow.task_instances("fanout_unpooled", run).items()}
    failed = sorted(t for t, s in states.items() if s == "failed")
    # Two tasks got the quota's two GPUs; the other three failed, retries and all.
    assert len(failed) == TASKS - QUOTA, states
    assert sorted(states.values()).count("success") == QUOTA, states
    # Refused by the admission plugin, with the quota the stack registered, at least once each
    # (every try that reached the API server, up to 1 + 3 retries each).
    assert TASKS - QUOTA <= len(kube.refusals) <= (TASKS - QUOTA) * (hint["retries"] + 1)
    assert {r["pod"].rsplit("-", 1)[0].replace("-", "_") for r in kube.refusals} == set(failed)
    assert {r["message"] for r in kube.refusals} == {
        "exceeded quota: kpo-quota, requested: requests.nvidia.com/gpu=1, "
        "used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2"
    }
    assert kube.gpu_peak[fanout.namespace] == QUOTA
    # What each failed task's log says: the quota and the pool, not a bare 403.
    for task in failed:
        log = airflow.task_log("fanout_unpooled", run, task)
        assert "GpuQuotaExceeded" in log, log[-3000:]
        assert (
            "GPU quota: Kubernetes refused the pod in namespace airflow-analytics (exceeded "
            "quota: kpo-quota, requested: requests.nvidia.com/gpu=1, used: "
            "requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2). This task ran in "
            "Airflow pool 'default_pool' with pool_slots=1"
        ) in log, log[-3000:]


def test_fan_out_in_the_pool_waits_for_a_gpu(fanout: Fanout) -> None:
    kube, airflow = fanout.kube, fanout.airflow
    # The first two tasks keep their GPUs until the quota-drop check below has run.
    first_wave = threading.Event()
    first_wave.set()
    cap = time.monotonic() + HOLD_CAP_SECONDS
    kube.lifecycle = fake_kube.Lifecycle(
        run=RUN_SECONDS, hold=lambda: first_wave.is_set() and time.monotonic() < cap
    )
    kube.gpu_peak.clear()
    refused_before = len(kube.refusals)
    assert upsert(fanout, QUOTA)[0] == 0  # the pool exists (idempotent)
    airflow.wait_for_dag("fanout_pooled")
    run = airflow.trigger("fanout_pooled")
    seen: list[dict[str, int]] = []
    shrink: tuple[int, str, str] | None = None
    deadline = time.monotonic() + HOLD_CAP_SECONDS + 240
    while airflow.run_state("fanout_pooled", run) not in ("success", "failed"):
        assert time.monotonic() < deadline, airflow.logs()
        stats = pool(fanout)
        states = [ti["state"] for ti in airflow.task_instances("fanout_pooled", run).values()]
        counts = {s: states.count(s) for s in set(states) if s}
        seen.append(counts | {"occupied": stats["occupied_slots"]})
        if shrink is None and stats["occupied_slots"] == QUOTA and counts.get("scheduled"):
            # The quota drops to 1 while two tasks hold their GPUs and three wait: refused.
            shrink = upsert(fanout, 1)
            assert pool(fanout)["slots"] == QUOTA
            first_wave.clear()
        time.sleep(0.3)
    states_by_task = {
        t: ti["state"] for t, ti in airflow.task_instances("fanout_pooled", run).items()
    }
    assert states_by_task == {f"shard_{i}": "success" for i in range(TASKS)}
    assert airflow.run_state("fanout_pooled", run) == "success"
    # Never more GPUs requested at once than the quota, and no pod refused: the rest waited
    # in Airflow (scheduled, no pod) while the pool was full.
    assert kube.gpu_peak[fanout.namespace] == QUOTA
    assert len(kube.refusals) == refused_before
    assert any(s.get("scheduled", 0) >= 1 and s["occupied"] == QUOTA for s in seen), seen
    assert max(s["occupied"] for s in seen) == QUOTA
    # make airflow-pool refused to shrink below the slots in use, and said what holds them.
    assert shrink is not None, seen
    code, out, err = shrink
    assert (code, out) == (2, ""), shrink
    assert re.fullmatch(
        r"error: refusing to shrink pool gke_gpu from 2 to 1 slots: its tasks hold 2 "
        r"\(2 occupied: (\d) running, (\d) queued, 0 deferred\)\. Airflow would not stop them, "
        r"and pods beyond the new GPU quota are refused by the API server\. Run again once they "
        r"have finished\.",
        err,
    ), err
