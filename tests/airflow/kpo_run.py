"""Run one real KubernetesPodOperator task (dag.test()) through the real auth chain, in a fresh
process, and write what happened to DIR/result.json. Used by test_kpo.py and test_auth_chain.py;
one process per run keeps Airflow's import-time configuration clean. Its environment set-up is in
kpo_env.py, the node drain in drainer.py.

The chain: the connection from the secrets backend -> the Kubernetes client runs the real
`gke-gcloud-auth-plugin` with the kubeconfig's args -> (impersonation) the real `gcloud`, signed in
as the deployment's Astro identity, asks the fake IAM Credentials endpoint for a launcher token ->
the session's real API server (kube_real.py) has the token looked up by its webhook, as GKE maps
it to the identity's email, and its RBAC authorizes it (behind the DNS endpoint's IAM gate, the
one part of that path that is Google's), all from the stack's exported registrations.

    python kpo_run.py --workdir DIR --stack dev --deployment analytics --xcom 1 --deferrable 0 \\
        --on-finish delete_pod [--dns] [--namespace NS] [--revoke-token-creator] [--no-plugin]

A GPU task's lifecycle, at a time scale (`--time-scale 0.01`: the stack's sourced minutes become
seconds, through the stack's own budget function): `--cold-start`, `--image-pull`, `--run-seconds`
shape the pod's life (kwok's Stages, GKE's stand-in kube_gke.py); `--timeouts default|hints`
passes KubernetesPodOperator its own defaults or the pool's exported hints (both scaled); `--retries-from-hint`,
`--preempt N`, `--drain`, `--token-lifetime`. `--in-cluster` runs a Remote Execution deployment's
task the way its agent does: the connection says in_cluster (the DAG, like the guide's, does not
set it), the Kubernetes client reads a service-account token and CA from files, and no plugin or
gcloud is involved. `--hint-labels` puts the hint's labels on the pod (Kueue's queue label, as
`gpu_task` does); `--kueue-hold S` fills the Kueue cohort first and frees the task's queue once
its pod has waited S seconds gated; `--kueue-borrow` fills only the task's own queue, so the task
runs on GPUs the cohort lends (kube_kueue.py; the session must run Kueue).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# The Astro project's root is on the path in an Astro image: `include/` imports as `include.…`.
sys.path.insert(0, str(HERE.parents[1] / "astro"))
from drainer import Drainer  # noqa: E402
from kpo_env import external_agent_stack, in_cluster_env, migrate_db, path_without  # noqa: E402
from kube_gke import COMPLETE, PULL, stage_delay  # noqa: E402
from kube_real import RUN_LABEL, RealRun  # noqa: E402
from stack_data import agent_env_values, astro_env_values, export_for  # noqa: E402

PLUGIN = "gke-gcloud-auth-plugin"
XCOM_VALUE = {"answer": 42}  # what an XCom run's task returns

DAG_TEMPLATE = """
import json
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Variable
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from include.gke_gpu import CheckAuthPlugin, ExplainDisruption
from kubernetes.client import models as k8s

pool = Variable.get("gke_gpu_scheduling", deserialize_json=True)["{pool}"]
with DAG("contract", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    KubernetesPodOperator(
        task_id="gpu",
        kubernetes_conn_id=Variable.get("gke_gpu_conn_id"),
        namespace={namespace},
        image="busybox",{extra}
        cmds=["sh", "-c", {command!r}],
        name="gpu-task",
        do_xcom_push={xcom},
        deferrable={deferrable},
        on_finish_action="{on_finish}",
        get_logs=True,
        poll_interval=0.1,
        startup_check_interval_seconds=1,
        callbacks={callbacks},
        node_selector=pool["node_selector"],
        tolerations=[k8s.V1Toleration(**t) for t in pool["tolerations"] if t["key"] != {drop!r}],
        container_resources=k8s.V1ResourceRequirements(limits={{pool["resource_name"]: "1"}}),
    )
"""


class ErrorLog(logging.Handler):
    """What a user reads in the task log: every error record, with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--deployment", default="analytics")
    parser.add_argument("--xcom", type=int, default=0)
    parser.add_argument("--deferrable", type=int, default=0)
    parser.add_argument("--on-finish", default="delete_pod")
    parser.add_argument("--dns", action="store_true", help="DNS endpoint mode: no CA pinned")
    parser.add_argument("--tune", action="append", default=[], help="passed to offline.export")
    parser.add_argument(
        "--kubectl", action="store_true", help="also run the real kubectl with the kubeconfig"
    )
    parser.add_argument(
        "--namespace-of", help="launch into this other deployment's namespace, not the connection's"
    )
    parser.add_argument(
        "--revoke-token-creator",
        action="store_true",
        help="the fake IAM enforces the stack's bindings minus the Astro identity's Token Creator",
    )
    parser.add_argument(
        "--revoke-launcher-role",
        action="store_true",
        help="the fake IAM enforces the stack's project grants minus the deployment subject's",
    )
    parser.add_argument("--no-plugin", action="store_true", help=f"{PLUGIN} not on PATH")
    parser.add_argument("--token-lifetime", type=float, default=3600)
    parser.add_argument("--pool", help="a key of gpu_scheduling (default: the first)")
    parser.add_argument("--time-scale", type=float, help="scaled hints from offline.export")
    parser.add_argument("--timeouts", choices=("none", "default", "hints"), default="none")
    parser.add_argument("--retries-from-hint", action="store_true")
    parser.add_argument("--cold-start", type=float, default=0.0)
    parser.add_argument("--image-pull", type=float, default=0.0)
    parser.add_argument(
        "--pull-seconds",
        type=float,
        default=0.0,
        help="the image pull on a node that is there (no scale-up): the pod is Pending this long",
    )
    parser.add_argument("--run-seconds", type=float, default=0.0)
    parser.add_argument("--preempt", type=int, default=0, help="the first N pods are preempted")
    parser.add_argument("--drain", action="store_true", help="evict the running pod, as a drain")
    parser.add_argument(
        "--from-zero",
        action="store_true",
        help="the GPU pools start at zero nodes and GKE's autoscaler (kube_gke.py) adds them; "
        "implied by --cold-start, --image-pull and --preempt",
    )
    parser.add_argument("--in-cluster", action="store_true", help="a Remote Execution agent")
    parser.add_argument(
        "--external-agent",
        metavar="GOOGLE_SERVICE_ACCOUNT",
        help="the deployment as Remote Execution with its agent outside the cluster, running as this",
    )
    parser.add_argument("--drop-toleration", help="leave out the hint's toleration of this key")
    parser.add_argument(
        "--hint-labels", action="store_true", help="the hint's labels on the pod, as gpu_task"
    )
    parser.add_argument(
        "--kueue-hold",
        type=float,
        metavar="SECONDS",
        help="the Kueue cohort's GPUs all taken; the task's queue freed once its pod waited this",
    )
    parser.add_argument(
        "--kueue-borrow",
        action="store_true",
        help="only the task's own Kueue queue full: the task runs on GPUs the cohort lends",
    )
    parser.add_argument(
        "--no-callbacks", action="store_true", help="a DAG without include/gke_gpu.py's callbacks"
    )
    parser.add_argument("--db-template", type=Path, help="copy this migrated airflow.db")
    args = parser.parse_args()
    work = args.workdir
    (work / "dags").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        AIRFLOW_HOME=str(work / "home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(work / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )

    import fake_google
    import trustme

    class Env:  # the monkeypatch interface the helpers use
        def setattr(self, obj: object, name: str, value: object) -> None:
            setattr(obj, name, value)

        def setenv(self, key: str, value: str) -> None:
            os.environ[key] = value

    env = Env()
    ca = trustme.CA()  # the DNS endpoint's "public" CA
    real = RealRun(work.name, ca)
    ca_file = real.kube.ca
    address = real.endpoint(args.dns)

    # The stack, run under mocks, reports this CA and address for the cluster.
    export_args = ["-m", "offline.export", "--stack", args.stack, "--ca-pem-file", str(ca_file)]
    if not args.dns:
        export_args.append("--ip-endpoint")
    for item in args.tune:
        export_args += ["--tune", item]
    if args.time_scale:
        export_args += ["--time-scale", str(args.time_scale)]
    if args.external_agent:
        export_args += ["--config-file", str(external_agent_stack(args, work))]
    data = export_for(export_args, address)
    deployment = data["outputs"]["airflow"][args.deployment]
    namespace = deployment["namespace"]
    target_namespace = (
        data["outputs"]["airflow"][args.namespace_of]["namespace"] if args.namespace_of else None
    )
    # The stack's objects, server-side, and nodes for its GPU pools.
    from_zero = args.from_zero or args.cold_start or args.image_pull or args.preempt
    gke = {
        "cold_start": args.cold_start,
        "image_pull": args.image_pull,
        "preempt_first": args.preempt,
        "run_seconds": args.run_seconds,
    }
    # A drain or a filled Kueue cohort changes what other runs of the stack would see.
    alone = bool(args.drain or args.kueue_hold or args.kueue_borrow)
    real.setup(data, target_namespace or namespace, gke if from_zero else None, alone)
    if args.in_cluster:
        agent = deployment["agent"]
        # The agent's worker: its Kubernetes service account, and through Workload Identity the
        # Google principal of that service account (what the stack granted the secret to).
        astro_identity = next(
            m["member"]
            for m in data["secret_iam_members"]
            if m["secretId"] == deployment["secret_id"]
            and m["member"].endswith(f"/ns/{agent['namespace']}/sa/{agent['service_accounts'][0]}")
        )
        subject = f"system:serviceaccount:{agent['namespace']}:{agent['service_accounts'][0]}"
    elif args.external_agent:
        # The agent runs outside the cluster as its Google service account: the hosted path, with
        # that identity in the Astro identity's place.
        astro_identity = deployment["agent"]["google_service_account"]
        subject = deployment["launcher_email"] or astro_identity
    else:
        astro_identity = data["astro_identities"][args.deployment]
        subject = deployment["launcher_email"] or astro_identity  # the RoleBinding's User
    if args.revoke_token_creator:
        data["service_account_iam_members"] = [
            b
            for b in data["service_account_iam_members"]
            if b["member"] != f"serviceAccount:{astro_identity}"
        ]
    if args.revoke_launcher_role:
        data["project_iam_members"] = [
            m for m in data["project_iam_members"] if m["member"] != f"serviceAccount:{subject}"
        ]

    # Google (token endpoint + IAM Credentials) and the API server decide from the stack's grants.
    registry = fake_google.TokenRegistry(lifetime=args.token_lifetime)
    google = fake_google.FakeGoogle.from_export(data, registry)
    google.start()
    real.gate(data)

    if args.in_cluster:
        # The pod's token: one the TokenRequest API issues for the agent's service account (the
        # API server's ServiceAccount authenticator and RBAC decide).
        agent = deployment["agent"]
        token = real.service_account_token(agent["namespace"], agent["service_accounts"][0])
        ca_pem = real.kube.ca.read_bytes()
        os.environ.update(in_cluster_env(token, ca_pem, work, address))
        os.environ.update(agent_env_values(data["outputs"], args.stack, args.deployment, work))
    else:
        # This worker is the deployment's Astro identity; gcloud is signed in as it.
        worker = fake_google.worker_env(google, astro_identity, work / "worker")
        os.environ.update(worker)
        if deployment["auth_mode"] == "impersonation":
            fake_google.activate_gcloud(worker)
        handoff = agent_env_values if args.external_agent else astro_env_values
        os.environ.update(handoff(data["outputs"], args.stack, args.deployment, work))
    if args.no_plugin:
        os.environ["PATH"] = path_without(PLUGIN, work)
    if args.dns:
        # The DNS endpoint presents a publicly trusted certificate; here "public" trust is the
        # trustme CA, placed where the Kubernetes clients look when no CA is pinned (certifi).
        import certifi

        bundle = work / "public-roots.pem"
        bundle.write_bytes(Path(certifi.where()).read_bytes() + ca.cert_pem.bytes())
        certifi.where = lambda: str(bundle)  # type: ignore[assignment]
        os.environ["SSL_CERT_FILE"] = str(bundle)

    from fake_secret_manager import FakeSecretManager, accessors

    readers = accessors(data["secret_iam_members"])
    FakeSecretManager(f"acme-ml-{args.stack}", data["secrets"], readers, astro_identity).install(
        env
    )

    if args.db_template:  # a migrated metadata database, made once per session
        (work / "home").mkdir(parents=True, exist_ok=True)
        shutil.copy(args.db_template, work / "home" / "airflow.db")
    else:
        migrate_db(work / "home")
    pool = args.pool or next(iter(data["outputs"]["gpu_scheduling"]))
    extra = ""
    if args.time_scale:
        scaled = data["scaled_scheduling"]
        hint = scaled["hints"][pool]
        if args.timeouts == "default":
            waits = [scaled["kpo_default_timeout_seconds"]] * 2
        else:
            waits = [hint["schedule_timeout_seconds"], hint["startup_timeout_seconds"]]
        if args.timeouts != "none":
            extra += f"\n        schedule_timeout_seconds={waits[0]!r},"
            extra += f"\n        startup_timeout_seconds={waits[1]!r},"
        if args.retries_from_hint:
            extra += f"\n        retries={hint['retries']!r},"
            extra += f"\n        retry_delay=timedelta(seconds={hint['retry_delay_seconds']!r}),"
    annotations = {}
    if args.run_seconds:
        # kwok ends the containers after the pod's annotation (tests/kube/stages/pod-complete.yaml):
        # the task's own run time, which no container runs here.
        annotations[COMPLETE] = stage_delay(args.run_seconds)
    if args.pull_seconds:  # kwok starts the pod after this (tests/kube/stages/pod-run.yaml)
        annotations[PULL] = stage_delay(args.pull_seconds)
    if annotations:
        extra += f"\n        annotations={annotations!r},"
    # The run's own label (kube_real.RUN_LABEL): runs sharing the stack tell their pods apart.
    labels = f"{{{RUN_LABEL!r}: {work.name!r}}}"
    if args.hint_labels:  # the queue label, when Kueue is on (include/gke_gpu.py from_hint)
        labels = f'{{**pool.get("labels", {{}}), **{labels}}}'
    extra += f"\n        labels={labels},"
    # The task's command; with XCom, it writes the value where the sidecar reads it (the
    # provider's documented pattern; kube_runtime.py runs it).
    command = "echo hi"
    if args.xcom:
        command += (
            f"; mkdir -p /airflow/xcom; echo '{json.dumps(XCOM_VALUE)}' > /airflow/xcom/return.json"
        )
    (work / "dags" / "contract.py").write_text(
        DAG_TEMPLATE.format(
            command=command,
            pool=pool,
            extra=extra,
            drop=args.drop_toleration,
            callbacks="[]" if args.no_callbacks else "[CheckAuthPlugin, ExplainDisruption]",
            xcom=bool(args.xcom),
            deferrable=bool(args.deferrable),
            on_finish=args.on_finish,
            namespace=repr(target_namespace)
            if target_namespace
            else 'Variable.get("gke_gpu_namespace")',
        )
    )

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.models.xcom import XComModel
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from airflow.utils.session import create_session

    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # the fakes' own access logs
    # 2. The hook builds its client from the connection the secrets backend returns.
    hook = KubernetesHook(conn_id=os.environ["AIRFLOW_VAR_GKE_GPU_CONN_ID"])
    configuration = hook.core_v1_client.api_client.configuration
    ca_pinned = Path(configuration.ssl_ca_cert).read_text() if configuration.ssl_ca_cert else None
    hook_view = {
        "host": configuration.host,
        "ca": ca_pinned,
        "namespace": hook.get_namespace(),
        "in_cluster": hook.is_in_cluster,
    }

    dag = DagBag(str(work / "dags")).get_dag("contract")
    drain: Drainer | None = None
    if args.drain:
        drain = Drainer(real, data["outputs"]["gpu_scheduling"][pool])
    if args.kueue_hold:
        real.kueue_hold(data, data["outputs"]["gpu_scheduling"][pool], args.kueue_hold)
    elif args.kueue_borrow:
        real.kueue_hold(data, data["outputs"]["gpu_scheduling"][pool], 0.0, borrow=True)
    run = dag.test()
    if drain:
        drain.join()
    tries = {}
    with create_session() as session:
        xcoms = {
            x.key: x.value for x in session.query(XComModel).filter(XComModel.dag_id == "contract")
        }
        # Every try's state: the retried ones from the history, the last from the instance.
        for model in (TaskInstanceHistory, TaskInstance):
            for ti in session.query(model).filter_by(dag_id="contract"):
                tries[ti.try_number] = str(ti.state)
    kubectl = None
    if args.kubectl:
        # The same kubeconfig, with the real kubectl, plugin and gcloud.
        kubeconfig = work / "kubeconfig.json"
        payload = json.loads(data["secrets"][deployment["secret_id"]])
        kubeconfig.write_text(json.dumps(payload["extra"]["kube_config"]))
        done = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "get",
                "pods",
                "-n",
                target_namespace or namespace,
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        kubectl = {
            "returncode": done.returncode,
            "stdout": done.stdout,
            "stderr": done.stderr[-2000:],
        }
    result = {
        "state": str(run.state),
        "xcoms": xcoms,
        "google": google.requests,
        "astro_identity": astro_identity,
        "cluster": data["cluster"],
        "target_namespace": target_namespace,
        "exec": None
        if args.in_cluster
        else json.loads(data["secrets"][deployment["secret_id"]])["extra"]["kube_config"]["users"][
            0
        ]["user"]["exec"],
        "connection_extra": json.loads(data["secrets"][deployment["secret_id"]])["extra"],
        "errors": errors.lines,
        "role_rules": data["roles"][namespace],
        "deployment": deployment,
        "hook": hook_view,
        "kubectl": kubectl,
        "scheduling": data["outputs"]["gpu_scheduling"],
        "scaled": data.get("scaled_scheduling"),
        "pool": pool,
        "tries": tries,
        "drain": drain.results if drain else None,
        "tokens": {
            m.token: {"identity": m.identity, "expires": m.expires, "via": m.via}
            for m in registry.all()
        },
        "lifetime": args.token_lifetime,
        "lock_waited": real.kube.lock_waited,
        "subject": subject,
        # What the API server saw: its audit log and pods.
        **real.result(registry),
    }
    real.finish()
    google.stop()
    (work / "result.json").write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
