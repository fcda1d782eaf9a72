"""GPU fan-out beyond the namespace's GPU quota, with the real Airflow scheduler (LocalExecutor), API
server and DAG processor (airflow_services.py), real KubernetesPodOperator tasks, and the session's
real control plane (kube_real.py): the real ResourceQuota admission plugin enforces the quota the
stack registered (dev `analytics`: `requests.nvidia.com/gpu` 2), the real scheduler places the pods
on kwok nodes of the stack's GPU pool.

- `make airflow-pool`'s tool against the real `airflow api-server` and its auth: it creates the
  pool from the stack output, a second run changes nothing, a quota change patches it, and a shrink
  below the slots the running tasks hold is refused (exit 2).
- A DAG of 5 one-GPU tasks without the pool: 2 pods are admitted and the other 3 are refused at
  admission (403 "exceeded quota", the API server's own message); KubernetesPodOperator does not
  retry a 403, and each task's Airflow retries (the hint's, scaled) are refused too while the first
  two still hold their GPUs (they run until the others have settled, as a GPU job of hours
  outlasts 3 retries 60 s apart), so those tasks fail, and the log says why (the quota and the
  pool, `include/gke_gpu.py`).
- The same DAG in the pool (`gpu_task`): every task succeeds, tasks beyond the quota wait in Airflow
  (`scheduled`, no pod), and the API server never holds more than 2 GPUs' worth of pods at once.
  While the first two hold their GPUs, `make airflow-pool` for a quota of 1 is refused.
- Placement: every pod lands on a node of the hint's pool; without the GPU toleration the real
  scheduler places none.

A pod's life is kwok's (tests/kube/stages): the DAG annotates each pod to stay Running
(`pod-complete.stage.kwok.x-k8s.io/never`), and the test lifts that when the task may end, as a
task's own work would. The connection is a kubeconfig with a static token that the API server's
webhook maps to the launcher's email (RBAC from the stack's Role applies); the exec-plugin chain to
it is test_auth_chain.py's subject.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow_services import AirflowServices
from kube_real import Pods, RunKube, numeric_id, tokeninfo
from stack_data import astro_env_values, run_stack_python, stack_tool

SCALE = 0.01  # the stack's budget figures x SCALE: 60 s between retries -> 0.6 s
DEPLOYMENT = "analytics"
POOL = "gke_gpu"
QUOTA = 2  # dev analytics gpu_quota (Pulumi.dev.yaml), read back from the API server below
TASKS = 5
RUN_SECONDS = 3.0  # each pooled task holds its GPU this long (scaled: 5 minutes of work)
HOLD_CAP_SECONDS = 900.0  # a bound on every hold, should a test go wrong (busy cores: minutes)
NEVER = "pod-complete.stage.kwok.x-k8s.io/never"  # tests/kube/stages/pod-complete.yaml
TERMINAL = ("Succeeded", "Failed")
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
QUOTA_REFUSAL = (
    "exceeded quota: kpo-quota, requested: requests.nvidia.com/gpu=1, "
    "used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2"
)

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
                # kwok keeps the pod Running until the test lifts this (the task's work).
                annotations={{"{never}": "true"}},
                **kwargs,
            )


fan_out("fanout_pooled", True)
fan_out("fanout_unpooled", False)
"""


@dataclass
class Fanout:
    airflow: AirflowServices
    kube: RunKube
    pods: Pods
    data: dict[str, Any]
    outputs: dict[int, Path]  # gpu_quota -> a stack outputs file exported with it
    namespace: str


def export(address: str, ca_file: Path, gpu_quota: int | None = None) -> dict[str, Any]:
    args = ["-m", "offline.export", "--stack", "dev", "--ca-pem-file", str(ca_file)]
    args += ["--endpoint", address, "--ip-endpoint", "--time-scale", str(SCALE)]
    if gpu_quota is not None:
        args += ["--tune", f"{DEPLOYMENT}:gpu_quota={gpu_quota}"]
    return dict(json.loads(run_stack_python(*args)))


def kube_connection(address: str, ca_pem: bytes, token: str, namespace: str) -> str:
    """AIRFLOW_CONN_<id>: a kubernetes connection whose kubeconfig carries a static token."""
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "real",
                "cluster": {
                    "server": f"https://{address}",
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": "launcher", "user": {"token": token}}],
        "contexts": [
            {
                "name": "real",
                "context": {"cluster": "real", "user": "launcher", "namespace": namespace},
            }
        ],
        "current-context": "real",
    }
    extra = {"kube_config": kubeconfig, "namespace": namespace, "in_cluster": False}
    return json.dumps({"conn_type": "kubernetes", "extra": extra})


def launcher_token(email: str) -> str:
    """A token Google would map to `email` (with the email scope): the webhook reads it."""
    token = secrets.token_urlsafe(32)
    store = tokeninfo()
    assert store is not None, "no control plane"
    store.record(token, email, numeric_id(email), (CLOUD_PLATFORM, EMAIL), time.time() + 7200)
    return token


@pytest.fixture(scope="module")
def fanout(tmp_path_factory: pytest.TempPathFactory, control_plane: Any) -> Iterator[Fanout]:
    work = tmp_path_factory.mktemp("fanout")
    kube = RunKube("fanout")
    with kube.stack_lock("dev"), ThreadPoolExecutor(3) as pool:
        exports = {q: pool.submit(export, kube.address, kube.ca, q) for q in (None, 3, 1)}
        data = exports[None].result()
        outputs = {}
        for future in exports.values():
            exported = future.result()
            slots = exported["outputs"]["airflow"][DEPLOYMENT]["airflow_pool"]["slots"]
            outputs[slots] = work / f"outputs-{slots}.json"
            outputs[slots].write_text(json.dumps(exported["outputs"]))
        kube.apply_stack(data)
        # Room on the hint's pool for the quota's GPUs at once: placement, not capacity, is tested.
        kube.gpu_nodes(data, per_pool=QUOTA)
        d = data["outputs"]["airflow"][DEPLOYMENT]
        namespace = d["namespace"]
        # The resource-quota controller has filled the quota's status (admission needs it).
        deadline = time.time() + 60
        while (
            not json.loads(
                kube.kubectl("get", "resourcequota", "kpo-quota", "-n", namespace, "-o", "json")
            )
            .get("status", {})
            .get("hard")
        ):
            assert time.time() < deadline, "no quota status"
            time.sleep(0.3)
        pods = kube.watch(namespace)
        # The deployment's Variables through `make astro-env`'s tool; the hints scaled likewise.
        env = {
            k: v
            for k, v in astro_env_values(data["outputs"], "dev", DEPLOYMENT, work).items()
            if k.startswith("AIRFLOW_VAR_")
        }
        env["AIRFLOW_VAR_GKE_GPU_SCHEDULING"] = json.dumps(data["scaled_scheduling"]["hints"])
        token = launcher_token(d["launcher_email"])  # the RoleBinding's User
        env[f"AIRFLOW_CONN_{d['connection_id'].upper()}"] = kube_connection(
            kube.address, kube.ca.read_bytes(), token, namespace
        )
        dags = work / "dags"
        dags.mkdir()
        (dags / "fanout.py").write_text(DAG.format(tasks=TASKS, never=NEVER))
        airflow = AirflowServices(home=work / "home", dags=dags, env=env)
        try:
            airflow.start()
            yield Fanout(airflow, kube, pods, data, outputs, namespace)
        finally:
            airflow.stop()
            kube.cleanup({namespace})


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
    quotas = json.loads(
        fanout.kube.kubectl("get", "resourcequota", "-n", fanout.namespace, "-o", "json")
    )
    assert [
        (q["metadata"]["name"], q["spec"]["hard"]["requests.nvidia.com/gpu"])
        for q in quotas["items"]
    ] == [("kpo-quota", str(QUOTA))]


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


def _gpus(pod: dict[str, Any]) -> int:
    return sum(
        int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
        for c in pod["spec"]["containers"]
    )


def _holding(pods: Pods, name: str) -> bool:
    pod = pods.last[name]
    return name not in pods.deleted and pod.get("status", {}).get("phase") not in TERMINAL


def holders(pods: Pods) -> set[str]:
    """The tasks whose pods the API server admitted and that have not finished."""
    return {
        pod["metadata"]["labels"]["task_id"]
        for name, pod in list(pods.last.items())
        if _holding(pods, name)
    }


class Life(threading.Thread):
    """The pods' work: a Running pod ends (its kwok hold lifted) once `done(running_seconds)`;
    meanwhile `peak` records the most GPUs the namespace's admitted, unfinished pods held at once,
    and `placed` every node a pod ran on."""

    def __init__(self, f: Fanout, done: Callable[[float], bool]) -> None:
        super().__init__(daemon=True)
        self.f, self.done = f, done
        self.stop = threading.Event()
        self.peak = 0
        self.placed: set[str] = set()
        self.seen = len(f.pods.last)

    def run(self) -> None:
        released: set[str] = set()
        while not self.stop.wait(0.1):
            pods = self.f.pods
            names = list(pods.last)
            self.peak = max(self.peak, sum(_gpus(pods.last[n]) for n in names if _holding(pods, n)))
            for name in names:
                pod = pods.last[name]
                if name in released or not _holding(pods, name):
                    continue
                running = [e["at"] for e in pods.history[name] if e["phase"] == "Running"]
                if running and self.done(time.time() - running[0]):
                    self.placed.add(pod["spec"]["nodeName"])
                    self.f.kube.kubectl(
                        "annotate", "pod", name, "-n", self.f.namespace, f"{NEVER}-"
                    )
                    released.add(name)


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
            others = set(states) - holders(self.f.pods)
            if len(states) == TASKS and all(states[t] in ("failed", "success") for t in others):
                self.done.set()
                return


def refusals(f: Fanout, since: int) -> list[dict[str, Any]]:
    """Every pod create the API server refused in the namespace, from its audit log: the pod's
    name (KPO's, with its random suffix), the code and the message."""
    with f.kube.audit.open("rb") as log:
        log.seek(since)
        lines = log.read().splitlines()
    out = []
    for line in lines:
        event = json.loads(line)
        ref, status = event.get("objectRef", {}), event.get("responseStatus", {})
        if (
            event["stage"] == "ResponseComplete"
            and event["verb"] == "create"
            and ref.get("resource") == "pods"
            and not ref.get("subresource")
            and ref.get("namespace") == f.namespace
            and status.get("code") == 403
        ):
            out.append({"code": 403, "message": status.get("message", ""), "user": event["user"]})
    return out


def audit_size(f: Fanout) -> int:
    return f.kube.audit.stat().st_size


def pool_node_labels(f: Fanout, node: str) -> dict[str, str]:
    return dict(json.loads(f.kube.kubectl("get", "node", node, "-o", "json"))["metadata"]["labels"])


def test_fan_out_without_the_pool_fails_on_the_quota(fanout: Fanout) -> None:
    airflow = fanout.airflow
    hint = fanout.data["scaled_scheduling"]["hints"]["l4-spot"]
    assert (hint["retries"], hint["retry_delay_seconds"]) == (3, 0.6)
    since = audit_size(fanout)
    airflow.wait_for_dag("fanout_unpooled")
    run = airflow.trigger("fanout_unpooled")
    settled = Settled(fanout, "fanout_unpooled", run)
    cap = time.monotonic() + HOLD_CAP_SECONDS
    life = Life(
        fanout, lambda ran: ran >= 1.0 and (settled.done.is_set() or time.monotonic() > cap)
    )
    settled.start()
    life.start()
    try:
        assert airflow.wait_for_run("fanout_unpooled", run, HOLD_CAP_SECONDS + 120) == "failed"
    finally:
        settled.stop.set()
        life.stop.set()
        life.join(10)
    assert settled.done.is_set(), "the tasks without a GPU never settled"
    states = {t: ti["state"] for t, ti in airflow.task_instances("fanout_unpooled", run).items()}
    failed = sorted(t for t, s in states.items() if s == "failed")
    # Two tasks got the quota's two GPUs; the other three failed, retries and all.
    assert len(failed) == TASKS - QUOTA, states
    assert sorted(states.values()).count("success") == QUOTA, states
    # Refused by the real admission plugin, with its own message, at least once each (every try
    # that reached the API server, up to 1 + 3 retries each), as the launcher.
    refused = refusals(fanout, since)
    assert TASKS - QUOTA <= len(refused) <= (TASKS - QUOTA) * (hint["retries"] + 1)
    names = {r["message"].split('"')[1].rsplit("-", 1)[0].replace("-", "_") for r in refused}
    assert names == set(failed)
    assert {r["message"].split(" is forbidden: ")[1] for r in refused} == {QUOTA_REFUSAL}
    launcher = fanout.data["outputs"]["airflow"][DEPLOYMENT]["launcher_email"]
    assert {r["user"]["username"] for r in refused} == {launcher}
    assert life.peak == QUOTA
    # What each failed task's log says: the quota and the pool, not a bare 403.
    for task in failed:
        log = airflow.task_log("fanout_unpooled", run, task)
        assert "GpuQuotaExceeded" in log, log[-3000:]
        assert (
            f"GPU quota: Kubernetes refused the pod in namespace airflow-analytics ({QUOTA_REFUSAL})."
            " This task ran in Airflow pool 'default_pool' with pool_slots=1"
        ) in log, log[-3000:]


def test_fan_out_in_the_pool_waits_for_a_gpu(fanout: Fanout) -> None:
    airflow = fanout.airflow
    # The first two tasks keep their GPUs until the quota-drop check below has run.
    first_wave = threading.Event()
    first_wave.set()
    cap = time.monotonic() + HOLD_CAP_SECONDS
    life = Life(
        fanout,
        lambda ran: ran >= RUN_SECONDS and (not first_wave.is_set() or time.monotonic() > cap),
    )
    since = audit_size(fanout)
    assert upsert(fanout, QUOTA)[0] == 0  # the pool exists (idempotent)
    airflow.wait_for_dag("fanout_pooled")
    run = airflow.trigger("fanout_pooled")
    life.start()
    seen: list[dict[str, int]] = []
    shrink: tuple[int, str, str] | None = None
    deadline = time.monotonic() + HOLD_CAP_SECONDS + 240
    try:
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
    finally:
        life.stop.set()
        life.join(10)
    states_by_task = {
        t: ti["state"] for t, ti in airflow.task_instances("fanout_pooled", run).items()
    }
    assert states_by_task == {f"shard_{i}": "success" for i in range(TASKS)}
    assert airflow.run_state("fanout_pooled", run) == "success"
    # Never more GPUs held at once than the quota, and no pod refused: the rest waited in
    # Airflow (scheduled, no pod) while the pool was full.
    assert life.peak == QUOTA
    assert refusals(fanout, since) == []
    assert any(s.get("scheduled", 0) >= 1 and s["occupied"] == QUOTA for s in seen), seen
    assert max(s["occupied"] for s in seen) == QUOTA
    # The real scheduler placed every pod on a node of the hint's pool.
    assert life.placed
    assert {pool_node_labels(fanout, n)["gpu-pool"] for n in life.placed} == {"l4-spot"}
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


def test_a_pod_without_the_gpu_toleration_is_placed_on_no_node(fanout: Fanout) -> None:
    """The hint's pod minus its nvidia.com/gpu toleration: the real scheduler finds no node (the
    GPU nodes' taint) and says so; the same pod with the toleration lands on the pool's node. In
    the default namespace: placement, not the deployment's quota, is the subject."""
    hint = fanout.data["outputs"]["gpu_scheduling"]["l4-spot"]
    kept = [t for t in hint["tolerations"] if t["key"] != "nvidia.com/gpu"]
    assert len(kept) == len(hint["tolerations"]) - 1
    kubectl = fanout.kube.kubectl
    for name, tolerations in (("untolerated", kept), ("tolerated", hint["tolerations"])):
        limits = {"nvidia.com/gpu": "1"}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "nodeSelector": hint["node_selector"],
                "tolerations": tolerations,
                "containers": [
                    {"name": "base", "image": "busybox", "resources": {"limits": limits}}
                ],
            },
        }
        kubectl("create", "-f", "-", input=json.dumps(pod))

    def get(name: str) -> dict[str, Any]:
        return dict(json.loads(kubectl("get", "pod", name, "-n", "default", "-o", "json")))

    def scheduled(pod: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"]

    try:
        deadline = time.time() + 60
        while not get("tolerated")["spec"].get("nodeName") or not scheduled(get("untolerated")):
            assert time.time() < deadline, (get("tolerated"), get("untolerated"))
            time.sleep(0.3)
        node = get("tolerated")["spec"]["nodeName"]
        assert pool_node_labels(fanout, node)["gpu-pool"] == "l4-spot"
        untolerated = get("untolerated")
        assert "nodeName" not in untolerated["spec"]
        [condition] = scheduled(untolerated)
        assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
        # The scheduler's own words (Kubernetes v1.36), which name each node's first refusal: the
        # GPU taint, on every node of the session (each a GPU pool's: the selector's among them).
        selector = ",".join(f"{k}={v}" for k, v in hint["node_selector"].items())
        picked = len(kubectl("get", "nodes", "-l", selector, "-o", "name").split())
        nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
        tainted = [n for n in nodes if GPU_TAINT in n["spec"].get("taints", [])]
        assert 1 <= picked <= len(tainted) == len(nodes)
        assert condition["message"] == (
            f"0/{len(nodes)} nodes are available: {len(tainted)} node(s) had untolerated taint(s). "
            f"no new claims to deallocate, preemption: 0/{len(nodes)} nodes are available: "
            f"{len(nodes)} Preemption is not helpful for scheduling."
        )
    finally:
        kubectl(
            "delete",
            "pod",
            "tolerated",
            "untolerated",
            "-n",
            "default",
            "--grace-period=0",
            "--force",
        )
