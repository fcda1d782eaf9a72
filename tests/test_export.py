"""`python -m offline.export`: what the contract suite's fake Google and Kubernetes endpoints enforce
comes from the program's registrations, exactly."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from types import ModuleType

import pytest

from offline import runner
from offline.export import export
from offline.mocks import PLACEHOLDER_CA_PEM

DEV_LAUNCHER = "analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"
DEV_ASTRO = "astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com"
DEV_ROLE = "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev"
DEV_NODES = "serviceAccount:astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com"
RBAC = "rbac.authorization.k8s.io"


def test_dev_iam_and_rbac() -> None:
    data = export("dev", PLACEHOLDER_CA_PEM, None, False)
    assert data["cluster"] == {
        "project": "acme-ml-dev",
        "location": "us-central1-a",
        "name": "astro-gpu-dev",
    }
    assert data["astro_identities"] == {"analytics": DEV_ASTRO}
    assert data["custom_roles"] == {
        DEV_ROLE: ["container.clusters.get", "container.clusters.connect"]
    }
    assert sorted(data["project_iam_members"], key=lambda m: m["role"]) == [
        {"project": "acme-ml-dev", "role": DEV_ROLE, "member": f"serviceAccount:{DEV_LAUNCHER}"},
        {
            "project": "acme-ml-dev",
            "role": "roles/container.defaultNodeServiceAccount",
            "member": DEV_NODES,
        },
        {"project": "acme-ml-dev", "role": "roles/monitoring.metricWriter", "member": DEV_NODES},
        {
            "project": "acme-ml-dev",
            "role": "roles/stackdriver.resourceMetadata.writer",
            "member": DEV_NODES,
        },
    ]
    assert data["service_account_iam_members"] == [
        {
            "service_account_id": f"projects/acme-ml-dev/serviceAccounts/{DEV_LAUNCHER}",
            "role": "roles/iam.serviceAccountTokenCreator",
            "member": f"serviceAccount:{DEV_ASTRO}",
        }
    ]
    assert data["rbac_roles"] == [
        {
            "namespace": "airflow-analytics",
            "name": "kpo-launcher",
            "rules": data["roles"]["airflow-analytics"],
        }
    ]
    assert data["role_bindings"] == [
        {
            "namespace": "airflow-analytics",
            "name": "kpo-launcher",
            "role_ref": {"apiGroup": RBAC, "kind": "Role", "name": "kpo-launcher"},
            "subjects": [{"apiGroup": RBAC, "kind": "User", "name": DEV_LAUNCHER}],
        }
    ]


def test_prod_adc_identity_is_its_own_subject() -> None:
    data = export("prod", PLACEHOLDER_CA_PEM, None, False)
    reporting = "astro-reporting@astro-tenant-4821.iam.gserviceaccount.com"
    training_astro = "astro-ml-training@astro-tenant-4821.iam.gserviceaccount.com"
    training = "ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"
    role = "projects/acme-ml-prod/roles/astroKpoLauncher_astro_gpu_prod"
    assert data["astro_identities"] == {"ml-training": training_astro, "reporting": reporting}
    assert sorted(m["member"] for m in data["project_iam_members"] if m["role"] == role) == [
        f"serviceAccount:{reporting}",
        f"serviceAccount:{training}",
    ]
    # Token Creator only where a launcher is impersonated.
    assert [
        (b["member"], b["service_account_id"]) for b in data["service_account_iam_members"]
    ] == [(f"serviceAccount:{training_astro}", f"projects/acme-ml-prod/serviceAccounts/{training}")]
    assert sorted(
        (b["namespace"], [s["name"] for s in b["subjects"]]) for b in data["role_bindings"]
    ) == [
        ("airflow-batch", ["astro-agent-worker", "astro-agent-triggerer"]),
        ("airflow-ml-training", [training]),
        ("airflow-reporting", [reporting]),
    ]
    # The in-cluster agent: no Astro identity; its service accounts on its XCom bucket only.
    pool = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-ml-prod.svc.id.goog/subject/ns/astro-agent-batch/sa"
    assert sorted(data["bucket_iam_members"], key=lambda m: m["member"]) == [
        {
            "bucket": "acme-ml-prod-batch-remote-xcom",
            "role": "projects/acme-ml-prod/roles/astroXcomObjects_astro_gpu_prod",
            "member": f"{pool}/{ksa}",
        }
        for ksa in ("astro-agent-triggerer", "astro-agent-worker")
    ]
    assert sorted(
        m["member"]
        for m in data["secret_iam_members"]
        if m["secretId"] == "airflow-connections-gke_gpu_batch"
    ) == [f"{pool}/astro-agent-triggerer", f"{pool}/astro-agent-worker"]


def test_ip_endpoint_launcher_role_has_no_connect() -> None:
    data = export("dev", PLACEHOLDER_CA_PEM, None, True)
    assert data["custom_roles"] == {DEV_ROLE: ["container.clusters.get"]}


def test_cli_prints_the_same_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "offline.export", "--stack", "dev"],
        cwd=runner.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == export("dev", PLACEHOLDER_CA_PEM, None, False)


def _stack_data() -> ModuleType:
    """tests/airflow/stack_data.py (the contract suite's, plain Python), loaded by path."""
    path = runner.ROOT / "tests" / "airflow" / "stack_data.py"
    spec = importlib.util.spec_from_file_location("contract_stack_data", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("stack", "ip_endpoint"), [("dev", False), ("prod", True)])
def test_an_export_for_the_endpoint_stand_in_is_the_export_for_any_endpoint(
    stack: str, ip_endpoint: bool
) -> None:
    """The contract suite exports each stack configuration once, for a stand-in endpoint, and puts
    each run's own address in its place (stack_data.export_for): the same as the program's own
    export for that address, in both endpoint modes."""
    stack_data = _stack_data()
    address = "127.0.0.1:43210"
    made = json.dumps(export(stack, PLACEHOLDER_CA_PEM, stack_data.ENDPOINT_STANDIN, ip_endpoint))
    direct = export(stack, PLACEHOLDER_CA_PEM, address, ip_endpoint)
    assert stack_data.ENDPOINT_STANDIN in made and address not in made
    assert stack_data.for_endpoint(made, address) == direct
    # The address reached the hosted connections' kubeconfigs (an in-cluster agent's has none).
    servers = {
        cluster["cluster"]["server"]
        for secret in direct["secrets"].values()
        for cluster in json.loads(secret)["extra"].get("kube_config", {}).get("clusters", [])
    }
    assert servers == {f"https://{address}"}


def test_node_pools_budgets_and_classes_for_the_fake_scheduler() -> None:
    """What the contract suite's kwok nodes and GKE's autoscaler stand-in (tests/airflow/
    gke_autoscaler.py) take from the stack: each pool's labels and taints as its nodes carry them
    (registered plus GKE's own), the disruption budgets, the class priorities."""
    data = export("prod", PLACEHOLDER_CA_PEM, None, False)
    pools = {p["labels"].get("gpu-pool", "system"): p for p in data["node_pools"]}
    assert sorted(pools) == ["a100", "l4", "l4-flex", "l4-spot", "system"]
    spot = pools["l4-spot"]
    assert spot["name"].startswith("l4-spot-")
    assert spot["labels"] == {
        "cloud.google.com/compute-class": "l4-any",
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "cloud.google.com/gke-nodepool": spot["name"],
        "cloud.google.com/gke-spot": "true",
        "gpu-pool": "l4-spot",
        "kubernetes.io/arch": "amd64",
    }
    assert spot["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "cloud.google.com/compute-class", "value": "l4-any", "effect": "NoSchedule"},
    ]
    assert (spot["gpus"], spot["min_nodes"], spot["max_nodes"]) == (2, 0, 4)
    system = pools["system"]
    assert system["taints"] == [] and system["gpus"] == 0
    assert (system["min_nodes"], system["max_nodes"]) == (1, 3)
    assert data["compute_classes"] == {
        "l4-any": [pools["l4-spot"]["name"], pools["l4"]["name"], pools["l4-flex"]["name"]]
    }
    assert data["pod_disruption_budgets"] == [
        {
            "namespace": namespace,
            "name": "kpo-pods",
            "spec": {
                "minAvailable": 100,
                "selector": {"matchLabels": {"kubernetes_pod_operator": "True"}},
            },
        }
        for namespace in ("airflow-batch", "airflow-ml-training", "airflow-reporting")
    ]
    assert "scaled_scheduling" not in data


def test_scaled_scheduling_is_the_hint_functions_at_a_time_scale() -> None:
    data = export("prod", PLACEHOLDER_CA_PEM, None, False, time_scale=0.01)
    scaled = data["scaled_scheduling"]
    assert scaled["factor"] == 0.01 and scaled["kpo_default_timeout_seconds"] == 1.2
    real = data["outputs"]["gpu_scheduling"]
    assert set(scaled["hints"]) == set(real) == {"a100", "l4", "l4-any", "l4-flex", "l4-spot"}
    for name, hint in scaled["hints"].items():
        # Placement is unchanged; every wait is the real one x 0.01.
        assert {k: v for k, v in hint.items() if not k.endswith("_seconds")} == {
            k: v for k, v in real[name].items() if not k.endswith("_seconds")
        }
        for key in ("schedule_timeout_seconds", "startup_timeout_seconds", "retry_delay_seconds"):
            assert hint[key] == pytest.approx(real[name][key] * 0.01), (name, key)


def test_kueue_manager_config_is_the_charts() -> None:
    """The contract suite starts the real Kueue with the Configuration prod gives its chart."""
    prod = export("prod", PLACEHOLDER_CA_PEM, None, False)
    config = prod["kueue_manager_config"]
    assert (config["apiVersion"], config["kind"]) == (
        "config.kueue.x-k8s.io/v1beta2",
        "Configuration",
    )
    assert config["manageJobsWithoutQueueName"] is False
    assert config["integrations"] == {"frameworks": ["pod"]}
    assert config["managedJobsNamespaceSelector"] == {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "In",
                "values": ["airflow-batch", "airflow-ml-training", "airflow-reporting"],
            }
        ]
    }
    # Kueue is opt-in: dev has none.
    assert export("dev", PLACEHOLDER_CA_PEM, None, False)["kueue_manager_config"] is None
