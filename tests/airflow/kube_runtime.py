"""The kubelet's container runtime, for the pods KubernetesPodOperator reads an XCom from.

kwok plays the kubelet's API and takes pods through their phases (Stages), but it starts no
container. A pod with KubernetesPodOperator's XCom sidecar needs one. Its base container writes
/airflow/xcom/return.json into the emptyDir that both containers mount. KubernetesPodOperator then
execs into the sidecar twice, through the real API server and kwok's exec: once to `cat` the file,
once to run `kill -2 $(pgrep -u $(id -u) -f 'sh')`. The sidecar's own trap then ends it
(airflow/providers/cncf/kubernetes/utils/pod_manager.py: extract_xcom_json, extract_xcom_kill).

`PodRuntime` does the container part for those pods, as real processes on this machine:
- each pod gets a uid of its own and a directory, its emptyDir;
- each container's own command (`command` + `args` from the pod spec) runs as that uid;
- a kwok `Exec` sends the pod's execs to the same uid and directory;
- the container statuses follow the processes, as the kubelet reports them.

So the task's value travels from the DAG's shell command to XCom through real files and signals.
The path: every process runs in `sandbox()`, this machine's root with one entry added,
`/airflow -> /proc/self/cwd/airflow`. A process's /airflow is then its own working directory's,
the pod's directory. The uid confines `pgrep -u` and `kill` to the pod's own processes.

Pods without the sidecar keep kwok's Stages alone (pod-complete.yaml leaves sidecar pods here).
Needs root, or password-less sudo, for the per-pod uids, and bubblewrap (bwrap) for the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIDECAR = "airflow-xcom-sidecar"  # PodDefaults.SIDECAR_CONTAINER_NAME
XCOM_DIR = "airflow/xcom"  # PodDefaults.XCOM_MOUNT_PATH, relative to the pod's directory
# The pods' uids: FIRST_UID and up, one a pod, PODS of them a session (the sandbox's /etc/passwd
# names them; this machine's does not).
FIRST_UID = 20000
PODS = 1000
EXEC_API = "kwok.x-k8s.io/v1alpha1"
# A deleted pod's containers get this long to end on their own, then SIGKILL. (A kubelet sends
# SIGTERM first and waits the pod's grace period, 30 s by default. Here nothing is signalled
# in between, so a sidecar that KubernetesPodOperator's kill ended is seen ending on its own.)
GRACE = 3.0
EXITS = "exits.jsonl"  # in the runtime's directory: one line per container that ended


def as_root() -> list[str]:
    """The prefix that runs a command as root: none for root, else `sudo -n` when it works."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"]).returncode == 0:
        return ["sudo", "-n"]
    raise RuntimeError(
        "the contract suite's XCom runs need root or password-less sudo: kwok runs each pod's "
        "commands as a uid of its own (tests/airflow/kube_runtime.py)"
    )


def sandbox(workdir: Path) -> list[str]:
    """bwrap's arguments for this machine's root plus `/airflow -> /proc/self/cwd/airflow`, and
    the pods' uids in /etc/passwd and /etc/group (kwok's exec looks its uid and gid up).

    Each top-level entry is bound as it is (symlinks copied), so only /airflow is new, and
    nothing on this machine changes. The network and process namespaces stay this machine's."""
    if not shutil.which("bwrap"):
        raise RuntimeError(
            "bwrap missing: install the Debian/Ubuntu package 'bubblewrap' (make contract does)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    uids = range(FIRST_UID, FIRST_UID + PODS)
    passwd, group = workdir / "passwd", workdir / "group"
    passwd.write_text(
        Path("/etc/passwd").read_text()
        + "".join(f"pod-{uid}:x:{uid}:{uid}::/:/usr/sbin/nologin\n" for uid in uids)
    )
    group.write_text(Path("/etc/group").read_text() + "".join(f"pod-{u}:x:{u}:\n" for u in uids))
    argv = [*as_root(), "bwrap", "--die-with-parent"]
    for entry in sorted(Path("/").iterdir()):
        if entry.name == "airflow":
            continue
        if entry.is_symlink():
            argv += ["--symlink", os.readlink(entry), str(entry)]
        elif entry.name == "dev":
            argv += ["--dev-bind", "/dev", "/dev"]
        else:
            argv += ["--bind", str(entry), str(entry)]
    return [
        *argv,
        "--ro-bind", str(passwd), "/etc/passwd",
        "--ro-bind", str(group), "/etc/group",
        "--symlink", f"/proc/self/cwd/{XCOM_DIR.split('/')[0]}", "/airflow",
    ]  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Container:
    name: str
    image: str
    process: subprocess.Popen[bytes]
    started: str = field(default_factory=_now)
    exit_code: int | None = None
    finished: str = ""


@dataclass
class Pod:
    namespace: str
    name: str
    uid: int
    workdir: Path
    containers: dict[str, Container] = field(default_factory=dict)
    done: bool = False
    deleted: float | None = None  # when its deletion was seen (monotonic)
    killed: bool = False


class PodRuntime:
    """Watches every pod (as cluster admin); runs the containers of each sidecar pod kwok has
    started. How each container ended goes to EXITS in its directory (`exits()` reads it)."""

    def __init__(self, api_url: str, context: ssl.SSLContext, prefix: list[str]) -> None:
        self.api_url, self.context = api_url, context
        self.prefix = prefix  # sandbox()'s
        # The pods' directories: where a pod's uid can reach (pytest's own tmp is root's alone).
        self.workdir = Path(tempfile.mkdtemp(prefix="kube-pods-"))
        self.workdir.chmod(0o711)
        self.root = as_root()
        self.pods: dict[str, Pod] = {}
        self._next_uid = FIRST_UID
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._watch_forever, daemon=True).start()
        threading.Thread(target=self._reap_forever, daemon=True).start()

    # --- the API server ------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, kind: str = "") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method)
        request.add_header("Content-Type", kind or "application/json")
        with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def _watch_forever(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError, urllib.error.URLError):
                self._watch()
            time.sleep(0.2)

    def _watch(self) -> None:
        url = f"{self.api_url}/api/v1/pods?watch=1&timeoutSeconds=600"
        with urllib.request.urlopen(url, context=self.context, timeout=620) as response:
            for line in response:
                if self._stop.is_set():
                    return
                event = json.loads(line)
                pod = event["object"]
                key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
                if event["type"] == "DELETED" or pod["metadata"].get("deletionTimestamp"):
                    if key in self.pods and self.pods[key].deleted is None:
                        self.pods[key].deleted = time.monotonic()
                elif key not in self.pods and self._started_by_kwok(pod):
                    self._start(key, pod)

    @staticmethod
    def _started_by_kwok(pod: dict[str, Any]) -> bool:
        """A sidecar pod that kwok's pod-run Stage took to Running."""
        names = [c["name"] for c in pod["spec"]["containers"]]
        return SIDECAR in names and pod.get("status", {}).get("phase") == "Running"

    # --- a pod's containers --------------------------------------------------------------------

    def _start(self, key: str, pod: dict[str, Any]) -> None:
        namespace, name = key.split("/")
        with self._lock:
            uid, self._next_uid = self._next_uid, self._next_uid + 1
        if uid >= FIRST_UID + PODS:
            raise RuntimeError(f"more than {PODS} XCom pods in one session: raise PODS")
        workdir = self.workdir / f"{namespace}.{name}"
        (workdir / XCOM_DIR).mkdir(parents=True)
        subprocess.run([*self.root, "chown", "-R", f"{uid}:{uid}", str(workdir)], check=True)
        self._exec_target(namespace, name, uid, workdir)
        state = Pod(namespace, name, uid, workdir)
        # The sidecar first: KubernetesPodOperator execs into it once the base container is done.
        specs = sorted(pod["spec"]["containers"], key=lambda c: c["name"] != SIDECAR)
        for spec in specs:
            argv = [*spec.get("command", []), *spec.get("args", [])]
            log = (workdir.parent / f"{namespace}.{name}.{spec['name']}.log").open("wb")
            process = subprocess.Popen(
                [
                    *self.prefix, "--chdir", str(workdir), "--",
                    "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                    *argv,
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/"},
            )  # fmt: skip
            state.containers[spec["name"]] = Container(spec["name"], spec["image"], process)
        self.pods[key] = state

    def _exec_target(self, namespace: str, name: str, uid: int, workdir: Path) -> None:
        """kwok's exec into the sidecar runs as the pod's uid, in its directory (kwok's `Exec`;
        no target for the base container, as a kubelet refuses an exec into a stopped one)."""
        self._request(
            "POST",
            f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/execs",
            {
                "apiVersion": EXEC_API,
                "kind": "Exec",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "execs": [
                        {
                            "containers": [SIDECAR],
                            "local": {
                                "workDir": str(workdir),
                                "envs": [{"name": "PATH", "value": "/usr/bin:/bin"}],
                                "securityContext": {"runAsUser": uid, "runAsGroup": uid},
                            },
                        }
                    ]
                },
            },
        )

    def _reap_forever(self) -> None:
        while not self._stop.is_set():
            for key, pod in list(self.pods.items()):
                self._reap(key, pod)
            time.sleep(0.1)

    def _reap(self, key: str, pod: Pod) -> None:
        changed = False
        for container in pod.containers.values():
            code = container.process.poll()
            if code is not None and container.exit_code is None:
                container.exit_code, container.finished = code, _now()
                changed = True
                line = {"pod": key, "container": container.name, "exit_code": code}
                with (self.workdir / EXITS).open("a") as exits:
                    exits.write(json.dumps(line) + "\n")
        if changed and not pod.done and pod.deleted is None:
            self._report(key, pod)
        if pod.deleted is None:
            return
        if all(c.exit_code is not None for c in pod.containers.values()):
            self._forget(key, pod)
        elif time.monotonic() - pod.deleted > GRACE and not pod.killed:
            # Every process of the pod's uid: a container and any exec still running.
            subprocess.run([*self.root, "pkill", "-KILL", "-u", str(pod.uid)])
            pod.killed = True

    def _report(self, key: str, pod: Pod) -> None:
        """The pod's status as the kubelet would write it: each container running or terminated,
        and the phase once all are done (Succeeded when every one exited 0)."""
        statuses = []
        for c in pod.containers.values():
            if c.exit_code is None:
                state: dict[str, Any] = {"running": {"startedAt": c.started}}
            else:
                state = {
                    "terminated": {
                        "exitCode": c.exit_code,
                        "reason": "Completed" if c.exit_code == 0 else "Error",
                        "startedAt": c.started,
                        "finishedAt": c.finished,
                    }
                }
            statuses.append(
                {
                    "name": c.name, "image": c.image, "imageID": c.image,
                    "ready": c.exit_code is None, "started": c.exit_code is None,
                    "restartCount": 0, "state": state,
                }
            )  # fmt: skip
        codes = [c.exit_code for c in pod.containers.values()]
        status: dict[str, Any] = {"containerStatuses": statuses}
        if all(code is not None for code in codes):
            status["phase"] = "Succeeded" if not any(codes) else "Failed"
            pod.done = True
        with contextlib.suppress(urllib.error.HTTPError):
            self._request(
                "PATCH",
                f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/status",
                {"status": status},
                "application/strategic-merge-patch+json",
            )

    def _forget(self, key: str, pod: Pod) -> None:
        self.pods.pop(key, None)
        with contextlib.suppress(urllib.error.HTTPError):
            self._request(
                "DELETE",
                f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{pod.namespace}/execs/{pod.name}",
            )

    def stop(self) -> None:
        self._stop.set()
        for key, pod in list(self.pods.items()):
            subprocess.run([*self.root, "pkill", "-KILL", "-u", str(pod.uid)])
            for container in pod.containers.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    container.process.wait(5)
            self._forget(key, pod)
        subprocess.run([*self.root, "rm", "-rf", str(self.workdir)])


def exits(directory: Path, pods: list[str], wait: float = GRACE + 2) -> dict[str, dict[str, int]]:
    """How each of `pods` ("namespace/name") ended, by container, from a runtime's record (its
    `workdir`); waits up to `wait` for every container of theirs that was started to end. A
    pod that is not the runtime's is left out."""
    deadline = time.monotonic() + wait
    while True:
        record: dict[str, dict[str, int]] = {}
        path = directory / EXITS
        for line in path.read_text().splitlines() if path.exists() else []:
            entry = json.loads(line)
            if entry["pod"] in pods:
                record.setdefault(entry["pod"], {})[entry["container"]] = entry["exit_code"]
        started = {p for p in pods if (directory / p.replace("/", ".")).is_dir()}
        ended = all(len(record.get(p, {})) == _containers(directory, p) for p in started)
        if ended or time.monotonic() > deadline:
            return record
        time.sleep(0.2)


def _containers(directory: Path, pod: str) -> int:
    return len(list(directory.glob(f"{pod.replace('/', '.')}.*.log")))
