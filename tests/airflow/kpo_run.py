"""Run one real KubernetesPodOperator task (dag.test()) against the fake API server, in a fresh
process, and print what happened as JSON. Used by test_kpo.py; one process per mode keeps
Airflow's import-time configuration clean.

    python kpo_run.py --workdir DIR --stack dev --deployment analytics --xcom 1 --deferrable 0 \\
        --on-finish delete_pod [--dns]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stack_data import astro_env_values, run_stack_python  # noqa: E402

DAG_TEMPLATE = """
import json
import pendulum
from airflow.sdk import DAG, Variable
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

pool = Variable.get("gke_gpu_scheduling", deserialize_json=True)["{pool}"]
with DAG("contract", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    KubernetesPodOperator(
        task_id="gpu",
        kubernetes_conn_id=Variable.get("gke_gpu_conn_id"),
        namespace=Variable.get("gke_gpu_namespace"),
        in_cluster=False,
        image="busybox",
        cmds=["sh", "-c", "echo hi"],
        name="gpu-task",
        do_xcom_push={xcom},
        deferrable={deferrable},
        on_finish_action="{on_finish}",
        get_logs=True,
        poll_interval=0.1,
        startup_check_interval_seconds=1,
        node_selector=pool["node_selector"],
        tolerations=[k8s.V1Toleration(**t) for t in pool["tolerations"]],
        container_resources=k8s.V1ResourceRequirements(limits={{pool["resource_name"]: "1"}}),
    )
"""


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
    args = parser.parse_args()
    work = args.workdir
    (work / "dags").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        AIRFLOW_HOME=str(work / "home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(work / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )

    import fake_kube
    import stub_plugin
    import trustme

    class Env:  # the monkeypatch interface the helpers use
        def setattr(self, obj: object, name: str, value: object) -> None:
            setattr(obj, name, value)

        def setenv(self, key: str, value: str) -> None:
            os.environ[key] = value

    env = Env()
    ca = trustme.CA()
    ca_file = work / "ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    kube = fake_kube.FakeKube(ca=ca, token=stub_plugin.TOKEN)
    address = kube.start()
    plugin_log = stub_plugin.install(work / "bin", env)

    # The stack, run under mocks, reports this CA and address for the cluster.
    export_args = [
        "-m",
        "offline.export",
        "--stack",
        args.stack,
        "--ca-pem-file",
        str(ca_file),
        "--endpoint",
        address,
    ]
    if not args.dns:
        export_args.append("--ip-endpoint")
    for item in args.tune:
        export_args += ["--tune", item]
    data = json.loads(run_stack_python(*export_args))
    # The API server authorizes with the Role the stack generated for this deployment.
    namespace = data["outputs"]["airflow"][args.deployment]["namespace"]
    kube.role_rules, kube.role_namespace = data["roles"][namespace], namespace
    os.environ.update(astro_env_values(data["outputs"], args.stack, args.deployment, work))
    adc = work / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "contract-test",
                "client_secret": "x",
                "refresh_token": "x",
            }
        )
    )
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(adc)
    if args.dns:
        # The DNS endpoint presents a publicly trusted certificate; here "public" trust is the
        # trustme CA, placed where the Kubernetes clients look when no CA is pinned (certifi).
        import certifi

        bundle = work / "public-roots.pem"
        bundle.write_bytes(Path(certifi.where()).read_bytes() + ca.cert_pem.bytes())
        certifi.where = lambda: str(bundle)  # type: ignore[assignment]
        os.environ["SSL_CERT_FILE"] = str(bundle)

    from fake_secret_manager import FakeSecretManager

    astro_identity = {
        "analytics": "astro-analytics-dev",
        "ml-training": "astro-ml-training",
        "reporting": "astro-reporting",
    }[args.deployment]
    FakeSecretManager(
        f"acme-ml-{args.stack}",
        data["secrets"],
        data["secret_readers"],
        f"{astro_identity}@astro-tenant-4821.iam.gserviceaccount.com",
    ).install(env)

    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )
    pool = next(iter(data["outputs"]["gpu_scheduling"]))
    (work / "dags" / "contract.py").write_text(
        DAG_TEMPLATE.format(
            pool=pool,
            xcom=bool(args.xcom),
            deferrable=bool(args.deferrable),
            on_finish=args.on_finish,
        )
    )

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from airflow.utils.session import create_session

    # 2. The hook builds its client from the connection the secrets backend returns.
    hook = KubernetesHook(conn_id=os.environ["AIRFLOW_VAR_GKE_GPU_CONN_ID"])
    configuration = hook.core_v1_client.api_client.configuration
    ca_pinned = Path(configuration.ssl_ca_cert).read_text() if configuration.ssl_ca_cert else None
    hook_view = {"host": configuration.host, "ca": ca_pinned, "namespace": hook.get_namespace()}

    dag = DagBag(str(work / "dags")).get_dag("contract")
    run = dag.test()
    with create_session() as session:
        xcoms = {
            x.key: x.value for x in session.query(XComModel).filter(XComModel.dag_id == "contract")
        }
    pod = next(iter(kube.pods.values()), None)
    kubectl = None
    if args.kubectl:
        # The same kubeconfig, with the real kubectl and the stub plugin.
        kubeconfig = work / "kubeconfig.json"
        payload = json.loads(
            data["secrets"][data["outputs"]["airflow"][args.deployment]["secret_id"]]
        )
        kubeconfig.write_text(json.dumps(payload["extra"]["kube_config"]))
        done = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "get",
                "pods",
                "-n",
                namespace,
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "HOME": str(work)},
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
        "calls": [c.__dict__ for c in kube.calls],
        "plugin_calls": stub_plugin.calls(plugin_log),
        "exec_commands": kube.exec_commands,
        "stdin": kube.stdin_received,
        "pod": pod.manifest if pod else None,
        "pod_deleted": pod.deleted if pod else None,
        "role_rules": data["roles"][namespace],
        "checks": [check for c in kube.calls for check in c.checks],
        "deployment": data["outputs"]["airflow"][args.deployment],
        "hook": hook_view,
        "ca_pem": ca.cert_pem.bytes().decode(),
        "kubectl": kubectl,
        "scheduling": data["outputs"]["gpu_scheduling"],
    }
    kube.stop()
    (work / "result.json").write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
