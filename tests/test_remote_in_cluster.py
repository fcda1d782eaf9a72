"""Astro Remote Execution with the agent in this cluster (prod's batch-remote): in-cluster KPO,
Workload Identity grants, its namespace, service accounts and RBAC, its XCom bucket, the agent
values, and agent pods kept off GPU nodes. Exact values throughout."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from components import custom_roles
from components.config import CONFIG_KEY, load
from offline import runner
from tests.airflow_access_common import (
    BACKEND,
    BATCH_TRIGGERER,
    BATCH_WORKER,
    BINDING,
    CORE_RULES,
    CUSTOM_ROLE,
    NAMESPACE,
    ROLE,
    SA_IAM,
    SECRET_IAM,
    SECRET_VERSION,
    grants,
    payload,
)
from tests.conftest import PROJECT_IAM, SERVICE_ACCOUNT, airflow_side
from tests.remote_common import (
    ACCESSOR,
    BUCKET,
    BUCKET_IAM,
    KMS_IAM,
    KSA,
    XCOM_BACKEND,
    XCOM_ROLE_PROD,
    of,
)


def test_in_cluster_agent_has_exactly_its_grants(prod: runner.Run) -> None:
    assert grants(prod, BATCH_WORKER) == {
        (SECRET_IAM, "airflow-connections-gke_gpu_batch", ACCESSOR),
        (BUCKET_IAM, "acme-ml-prod-batch-remote-xcom", XCOM_ROLE_PROD),
    }
    # The triggerer runs KPO triggers (deferrable: true): it reads the connection too.
    assert grants(prod, BATCH_TRIGGERER) == grants(prod, BATCH_WORKER)
    # No Google service account, no project-level grant, no launcher for it.
    assert [r.name for r in prod.of_type(SERVICE_ACCOUNT) if "batch" in r.name] == []
    assert not [r for r in prod.of_type(PROJECT_IAM) if "batch" in r.name]
    assert of(prod, SA_IAM, "batch") == []


def test_in_cluster_agent_namespace_and_service_accounts(prod: runner.Run) -> None:
    (ns,) = [r for r in prod.of_type(NAMESPACE) if r.name.endswith("-batch-remote-agent-namespace")]
    assert ns.inputs["metadata"] == {
        "name": "astro-agent-batch",
        "labels": {
            "app.kubernetes.io/managed-by": "pulumi",
            "airflow-deployment": "batch-remote",
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": "latest",
        },
    }
    ksas = sorted(
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"])
        for r in airflow_side(prod.of_type(KSA))
    )
    assert ksas == [
        ("astro-agent-batch", "astro-agent-triggerer"),
        ("astro-agent-batch", "astro-agent-worker"),
    ]
    for r in airflow_side(prod.of_type(KSA)):
        assert ns.urn in r.dependencies
        # No annotation: Workload Identity is granted to the principal, not through a Google SA.
        assert set(r.inputs["metadata"]) == {"name", "namespace", "labels"}


def test_in_cluster_rbac_is_exact(prod: runner.Run) -> None:
    (role,) = [r for r in of(prod, ROLE, "batch")]
    assert role.inputs["rules"] == [
        *CORE_RULES,
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    ]
    (binding,) = [r for r in of(prod, BINDING, "batch")]
    assert binding.inputs["metadata"]["namespace"] == "airflow-batch"
    assert binding.inputs["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "kpo-launcher",
    }
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "astro-agent-worker", "namespace": "astro-agent-batch"},
        {
            "kind": "ServiceAccount",
            "name": "astro-agent-triggerer",
            "namespace": "astro-agent-batch",
        },
    ]
    ksa_urns = {r.urn for r in airflow_side(prod.of_type(KSA))}
    assert ksa_urns <= set(binding.dependencies)


def test_a_triggerer_without_deferrable_tasks_gets_only_the_bucket(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(lambda c: c["deployments"][2].update(deferrable=False), stack="prod")
    (binding,) = [r for r in of(run, BINDING, "batch")]
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "astro-agent-worker", "namespace": "astro-agent-batch"}
    ]
    assert grants(run, BATCH_TRIGGERER) == {
        (BUCKET_IAM, "acme-ml-prod-batch-remote-xcom", XCOM_ROLE_PROD)
    }
    (role,) = [r for r in of(run, ROLE, "batch")]
    assert role.inputs["rules"][2] == {
        "apiGroups": [""],
        "resources": ["events"],
        "verbs": ["list"],
    }


def test_in_cluster_connection_has_no_credentials_at_all(prod: runner.Run) -> None:
    assert payload(prod, "batch") == {
        "conn_type": "kubernetes",
        "description": "GKE GPU cluster for KubernetesPodOperator (managed by Pulumi)",
        "extra": {"in_cluster": True, "namespace": "airflow-batch"},
    }
    (version,) = of(prod, SECRET_VERSION, "batch")
    assert version.secret_inputs == {"secretData"}


def test_xcom_bucket_exact(prod: runner.Run) -> None:
    (bucket,) = prod.of_type(BUCKET)
    assert bucket.inputs == {
        "name": "acme-ml-prod-batch-remote-xcom",
        "project": "acme-ml-prod",
        "location": "us-central1",
        "storageClass": "STANDARD",
        "uniformBucketLevelAccess": True,
        "publicAccessPrevention": "enforced",
        "lifecycleRules": [{"action": {"type": "Delete"}, "condition": {"age": 14.0}}],
        "labels": {
            "team": "data-platform",
            "cost-center": "ml-prod",
            "environment": "prod",
            "managed-by": "pulumi",
            "airflow-deployment": "batch-remote",
            "purpose": "airflow-xcom",
        },
        "forceDestroy": False,
    }
    assert (bucket.delete_before_replace, bucket.protect) == (True, True)
    # The bootstrap creates the XCom role (tests/test_day0_roles.py); the stack grants it by name.
    assert prod.of_type(CUSTOM_ROLE) == []
    role = custom_roles.xcom(load(runner.stack_config("prod")[f"astro-gke-gpu:{CONFIG_KEY}"]))
    assert role.role_id == "astroXcomObjects_astro_gpu_prod"
    assert role.permissions == (
        "storage.buckets.get",
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
    )
    assert {r.inputs["role"] for r in prod.of_type(BUCKET_IAM)} >= {
        "projects/acme-ml-prod/roles/astroXcomObjects_astro_gpu_prod"
    }
    # Every storage grant is on the bucket; none on the project.
    assert {r.inputs["bucket"] for r in prod.of_type(BUCKET_IAM)} == {bucket.inputs["name"]}
    assert not [
        r for r in prod.of_type(PROJECT_IAM) if r.inputs["role"].startswith("roles/storage")
    ]


def test_xcom_bucket_cmek_one_grant_per_key(run_with: Callable[..., runner.Run]) -> None:
    key = "projects/acme-ml-prod/locations/us-central1/keyRings/xcom/cryptoKeys/xcom"

    def two_remote_on_one_key(c: dict[str, Any]) -> None:
        batch = c["deployments"][2]
        batch["agent"]["xcom"]["kms_key"] = key
        other = json.loads(json.dumps(batch))
        other.update(name="etl-remote", namespace="airflow-etl", connection_id="gke_gpu_etl")
        other["agent"].update(namespace="astro-agent-etl")
        c["deployments"].append(other)
        # Kueue off: the cohort's quotas (13 GPUs) would no longer fit the l4-flex pool.
        c["kueue"]["enabled"] = False

    run = run_with(two_remote_on_one_key, stack="prod")
    (grant,) = [r for r in run.of_type(KMS_IAM) if "-xcom-kms-" in r.name]
    assert (grant.inputs["cryptoKeyId"], grant.inputs["role"], grant.inputs["member"]) == (
        key,
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "serviceAccount:service-123456789012@gs-project-accounts.iam.gserviceaccount.com",
    )
    buckets = run.of_type(BUCKET)
    assert sorted(b.inputs["name"] for b in buckets) == [
        "acme-ml-prod-batch-remote-xcom",
        "acme-ml-prod-etl-remote-xcom",
    ]
    for b in buckets:
        assert b.inputs["encryption"] == {"defaultKmsKeyName": key}
        assert grant.urn in b.dependencies


def test_in_cluster_outputs_and_agent_values(prod: runner.Run) -> None:
    batch = prod.outputs["airflow"]["batch-remote"]
    kwargs = json.dumps(
        {
            "config_prefix": None,
            "connections_prefix": "airflow-connections",
            "project_id": "acme-ml-prod",
            "sep": "-",
            "variables_prefix": None,
        },
        sort_keys=True,
    )
    scheduling = json.dumps(prod.outputs["gpu_scheduling"], sort_keys=True)
    assert batch == {
        "execution": "remote",
        "connection_id": "gke_gpu_batch",
        "namespace": "airflow-batch",
        "secret_id": "airflow-connections-gke_gpu_batch",
        "secret_project": "acme-ml-prod",
        "secrets_backend": "stack",
        "auth_mode": "in_cluster",
        "launcher_email": None,
        "airflow_pool": {
            "name": "gke_gpu",
            # gpu_quota 2 + its Kueue borrowing_limit 2 (docs/gpu-sharing.md)
            "slots": 4,
            "include_deferred": True,
            "description": (
                "GPU tasks of Astro deployment batch-remote: 4 slots = the GPU quota "
                "(requests.nvidia.com/gpu) of namespace airflow-batch; pool_slots = GPUs per task "
                "(managed by Pulumi, make airflow-pool)"
            ),
        },
        "AIRFLOW__SECRETS__BACKEND": BACKEND,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": kwargs,
        "agent": {
            "placement": "this_cluster",
            "namespace": "astro-agent-batch",
            "service_accounts": ["astro-agent-worker", "astro-agent-triggerer"],
            "google_service_account": None,
            "node_selector": {"workload-class": "system"},
            "xcom_bucket": "acme-ml-prod-batch-remote-xcom",
            "xcom_path": "gs://acme-ml-prod-batch-remote-xcom/xcom",
        },
        "agent_values": {
            "namespace": "astro-agent-batch",
            "createNamespace": False,
            "serviceAccount": {
                "workers": {"create": False, "name": "astro-agent-worker"},
                "triggerer": {"create": False, "name": "astro-agent-triggerer"},
            },
            "secretBackend": BACKEND,
            "xcomBackend": XCOM_BACKEND,
            "commonEnv": [
                {"name": "AIRFLOW__SECRETS__BACKEND_KWARGS", "value": kwargs},
                {
                    "name": "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH",
                    "value": "gs://acme-ml-prod-batch-remote-xcom/xcom",
                },
                {"name": "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD", "value": "0"},
                {"name": "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION", "value": "zip"},
                {"name": "AIRFLOW_VAR_GKE_GPU_CONN_ID", "value": "gke_gpu_batch"},
                {"name": "AIRFLOW_VAR_GKE_GPU_NAMESPACE", "value": "airflow-batch"},
                {"name": "AIRFLOW_VAR_GKE_GPU_POOL", "value": "gke_gpu"},
                {"name": "AIRFLOW_VAR_GKE_GPU_SCHEDULING", "value": scheduling},
            ],
        },
    }


def test_xcom_env_names_are_airflows_config_keys() -> None:
    """Airflow maps [common.io] xcom_objectstorage_* to AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_*
    (configuration parser `_env_var_name`: section with '.' -> '_', upper-cased)."""

    def env_name(section: str, key: str) -> str:
        return f"AIRFLOW__{section.replace('.', '_').upper()}__{key.upper()}"

    from components.airflow import airflow_connection

    assert set(airflow_connection.xcom_env("b")) == {
        env_name("common.io", k)
        for k in (
            "xcom_objectstorage_path",
            "xcom_objectstorage_threshold",
            "xcom_objectstorage_compression",
        )
    }


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_agent_pods_belong_on_the_system_pool_never_on_gpu_nodes(prod: runner.Run) -> None:
    selector = prod.outputs["airflow"]["batch-remote"]["agent"]["node_selector"]
    assert selector == {"workload-class": "system"}
    pools = prod.of_type("gcp:container/nodePool:NodePool")
    selected = [
        p.name
        for p in pools
        if selector.items() <= (p.inputs["nodeConfig"].get("labels") or {}).items()
    ]
    assert selected == ["astro-gpu-prod-system-pool"]
    for pool in pools:
        gpu = bool(pool.inputs["nodeConfig"].get("guestAccelerators"))
        taints = pool.inputs["nodeConfig"].get("taints") or []
        # GPU nodes repel every pod that does not tolerate nvidia.com/gpu ...
        assert gpu == any(t["key"] == "nvidia.com/gpu" for t in taints), pool.name
    # ... and nothing in the agent values tolerates it or requests a GPU.
    values = prod.outputs["airflow"]["batch-remote"]["agent_values"]
    assert not _keys(values) & {"tolerations", "resources", "nvidia.com/gpu"}
