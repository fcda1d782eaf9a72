"""2-4. KubernetesHook and a real KubernetesPodOperator task (dag.test()) through the real auth chain
(gke-gcloud-auth-plugin, gcloud, loopback Google endpoints) against the recording fake API server,
for every mode, with the stack's IAM grants and RBAC enforced; the observed RBAC table. Also the real
kubectl with the same kubeconfig, and the example DAG parsed by a real DagBag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from scenarios import MODES
from stack_data import ROOT, astro_env_values


@pytest.fixture(scope="session")
def runs(kpo: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: kpo[name] for name in MODES}


@pytest.mark.parametrize("mode", list(MODES))
def test_task_succeeds_with_the_stacks_connection(
    runs: dict[str, dict[str, Any]], mode: str
) -> None:
    _, _, xcom, _, on_finish, _ = MODES[mode]
    r = runs[mode]
    d = r["deployment"]
    assert r["state"] == "success"
    # XCom comes back over the exec websocket only when asked for.
    assert ("return_value" in r["xcoms"]) is xcom
    if xcom:
        assert_xcom_read_and_sidecar_killed(r)
    # Every request carried the plugin's bearer token and was allowed by the generated Role.
    assert r["calls"] and all(c["authorized"] and c["allowed"] for c in r["calls"]), [
        c for c in r["calls"] if not c["allowed"]
    ]
    # The pod went where the scheduling hints say, with a GPU limit, in the deployment's namespace.
    pod = r["pod"]
    pool = next(iter(r["scheduling"].values()))
    assert pod["metadata"]["namespace"] == d["namespace"]
    assert pod["spec"]["nodeSelector"] == pool["node_selector"]
    assert {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "present",
        "effect": "NoSchedule",
    } in pod["spec"]["tolerations"]
    base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
    # On the real API server, LimitRanger adds the namespace's LimitRange defaults (cpu, memory).
    assert base["resources"]["limits"] == {"nvidia.com/gpu": "1", **r["limit_defaults"]}
    assert bool(r["limit_defaults"]) is r["real"]
    assert r["pod_deleted"] is (on_finish == "delete_pod")
    if on_finish == "keep_pod":
        assert pod["metadata"]["labels"]["already_checked"] == "True"


def assert_xcom_read_and_sidecar_killed(r: dict[str, Any]) -> None:
    """The value the task's shell wrote came back through two execs into the sidecar (the
    provider's read, then a shell for its kill), and the kill ended the sidecar: its loop exits
    0 only through its SIGINT trap (kube_runtime.py runs both containers; a sidecar still
    running at the pod's deletion would show SIGKILL, -9)."""
    assert r["xcoms"]["return_value"] == {"answer": 42}
    read = (
        "if [ -s /airflow/xcom/return.json ]; then cat /airflow/xcom/return.json; "
        "else echo __airflow_xcom_result_empty__; fi"
    )
    assert r["exec_commands"] == [["/bin/sh", "-c", read], ["/bin/sh"]]
    (pod,) = r["pods"]
    assert pod["exits"] == {"base": 0, "airflow-xcom-sidecar": 0}


@pytest.mark.parametrize("mode", list(MODES))
def test_exec_plugin_args_per_auth_mode(runs: dict[str, dict[str, Any]], mode: str) -> None:
    r = runs[mode]
    d = r["deployment"]
    expected = (
        ["--impersonate_service_account", d["launcher_email"]]
        if d["auth_mode"] == "impersonation"
        else ["--use_application_default_credentials"]
    )
    assert r["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert r["exec"]["args"] == expected


@pytest.mark.parametrize("mode", list(MODES))
def test_every_token_came_through_the_real_chain(
    runs: dict[str, dict[str, Any]], mode: str
) -> None:
    """Who each request was, and who minted its token: in impersonation mode the plugin ran gcloud
    as the Astro identity, which got the launcher's token from IAM Credentials (it holds Token
    Creator); in adc mode the Astro identity's own credentials signed for its token."""
    r = runs[mode]
    d = r["deployment"]
    astro = r["astro_identity"]
    impersonation = d["auth_mode"] == "impersonation"
    user, via = (d["launcher_email"], astro) if impersonation else (astro, "oauth")
    assert {(c["user"], c["via"]) for c in r["calls"]} == {(user, via)}
    google = r["google"]
    assert {(g["endpoint"], g["caller"], g["status"]) for g in google} == (
        {("token", astro, 200), ("generateAccessToken", astro, 200)}
        if impersonation
        else {("token", astro, 200)}
    )
    endpoint = "generateAccessToken" if impersonation else "token"
    issued = {g["token"] for g in google if g["endpoint"] == endpoint}
    if impersonation:
        assert {g["target"] for g in google if "target" in g} == {d["launcher_email"]}
    # Every token the API server accepted is one of those.
    assert {c["token"] for c in r["calls"]} <= issued


def test_hook_client_server_ca_and_namespace(runs: dict[str, dict[str, Any]]) -> None:
    ip = runs["sync-xcom"]["hook"]
    # The task leaves in_cluster unset; the connection's kubeconfig decides.
    assert ip["in_cluster"] is False
    assert runs["sync-xcom"]["pod"]["metadata"]["labels"]["airflow_kpo_in_cluster"] == "False"
    assert ip["host"].startswith("https://127.0.0.1:")
    assert ip["ca"] == runs["sync-xcom"]["ca_pem"]  # pinned exactly: the mocked cluster's CA
    assert ip["namespace"] == "airflow-analytics"
    dns = runs["dns-endpoint"]["hook"]
    assert dns["ca"] is None  # the DNS endpoint's certificate is publicly trusted: nothing pinned


def test_real_kubectl_with_the_same_kubeconfig(runs: dict[str, dict[str, Any]]) -> None:
    kubectl = runs["sync-xcom"]["kubectl"]
    assert kubectl["returncode"] == 0, kubectl["stderr"]
    assert json.loads(kubectl["stdout"])["kind"] == "List"


def test_every_request_maps_to_a_role_rule_and_every_rule_is_used(
    runs: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    observed: dict[tuple[str, str], set[str]] = defaultdict(set)
    granted: set[tuple[str, str]] = set()
    for mode, r in runs.items():
        for rule in r["role_rules"]:
            granted |= {
                (verb, resource) for verb in rule["verbs"] for resource in rule["resources"]
            }
        for verb, resource, namespace in r["checks"]:
            if namespace:  # discovery (/api, /version) is not namespaced RBAC
                observed[(verb, resource)].add(mode)
    table = [
        f"{verb:7} {resource:10} {', '.join(sorted(modes))}"
        for (verb, resource), modes in sorted(observed.items())
    ]
    with capsys.disabled():
        print("\nobserved RBAC checks (verb, resource: modes that needed it):\n" + "\n".join(table))
    assert set(observed) <= granted, set(observed) - granted  # nothing missing
    assert granted <= set(observed), granted - set(observed)  # nothing unused


def test_example_dag_parses_with_a_real_dagbag(tmp_path: Path, export: Any) -> None:
    values = astro_env_values(export("dev")["outputs"], "dev", "analytics", tmp_path)
    env = {k: v for k, v in values.items() if k.startswith("AIRFLOW_VAR_")}
    code = (
        "import json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag({str(ROOT / 'examples')!r})\n"
        "assert 'gke_gpu_example' in bag.dags, bag.import_errors\n"
        "dag = bag.dags['gke_gpu_example']\n"
        "t = dag.get_task('nvidia_smi_0')\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},\n"
        "  'conn': t.kubernetes_conn_id, 'ns': t.namespace, 'in_cluster': t.in_cluster,\n"
        "  'selector': t.node_selector, 'tolerations': [x.to_dict() for x in t.tolerations],\n"
        "  'limits': t.container_resources.limits,\n"
        "  'callbacks': [c.__module__ + '.' + c.__name__ for c in t.callbacks],\n"
        "  'tasks': sorted(dag.task_dict), 'pool': [t.pool, t.pool_slots],\n"
        "  'waits': [t.schedule_timeout_seconds, t.startup_timeout_seconds, t.retries,\n"
        "            t.retry_delay.total_seconds()]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        # An Astro image has the project root on the path: `include.gke_gpu` imports.
        env={
            **os.environ,
            **env,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": str(ROOT / "astro"),
        },
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    # in_cluster is the connection's to say (a kubeconfig for hosted deployments, in-cluster for
    # an agent in this cluster): the task leaves it unset, so one DAG works in both modes.
    assert (parsed["conn"], parsed["ns"], parsed["in_cluster"]) == (
        "gke_gpu",
        "airflow-analytics",
        None,
    )
    assert parsed["selector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "gpu-pool": "l4-spot",
    }
    assert parsed["limits"] == {"nvidia.com/gpu": "1"}
    # The pool's cold-start waits and Spot retries, and the callback that names a lost node.
    assert parsed["waits"] == [900, 900, 3, 60.0]
    assert parsed["callbacks"] == [
        "include.gke_gpu.CheckAuthPlugin",
        "include.gke_gpu.ExplainDisruption",
        "include.gke_gpu.ExplainQuota",
    ]
    # A fan-out of 4 one-GPU tasks, each taking one slot of the deployment's pool (quota 2).
    assert parsed["tasks"] == [f"nvidia_smi_{i}" for i in range(4)]
    assert parsed["pool"] == ["gke_gpu", 1]
    assert {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "present",
        "effect": "NoSchedule",
    } in [{k: v for k, v in t.items() if v is not None} for t in parsed["tolerations"]]
