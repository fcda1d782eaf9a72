"""Astro Remote Execution: a remote deployment with its agent in this cluster (in-cluster KPO,
Workload Identity) or elsewhere (the hosted path as the agent's Google service account), its XCom
bucket, the agent values, a deployment that keeps its own secrets backend, and isolation from the
hosted deployments on the same cluster. Exact values throughout."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components import agent as remote_agent
from components import config
from offline import runner
from tests.conftest import PROJECT_IAM, SERVICE_ACCOUNT, raw_platform

SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
KMS_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
NAMESPACE = "kubernetes:core/v1:Namespace"
KSA = "kubernetes:core/v1:ServiceAccount"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"

BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
XCOM_BACKEND = "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
POOL_PROD = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-ml-prod.svc.id.goog/subject"
POOL_DEV = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-ml-dev.svc.id.goog/subject"
WORKER = f"{POOL_PROD}/ns/astro-agent-batch/sa/astro-agent-worker"
TRIGGERER = f"{POOL_PROD}/ns/astro-agent-batch/sa/astro-agent-triggerer"
XCOM_ROLE_PROD = "projects/acme-ml-prod/roles/astroXcomObjects_astro_gpu_prod"
XCOM_ROLE_DEV = "projects/acme-ml-dev/roles/astroXcomObjects_astro_gpu_dev"
LAUNCHER_ROLE_DEV = "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev"
AGENT_GSA = "astro-agent-batch@acme-agents.iam.gserviceaccount.com"
ACCESSOR = "roles/secretmanager.secretAccessor"
ASTRO_TRAINING = "astro-ml-training@astro-tenant-4821.iam.gserviceaccount.com"
LAUNCHER_TRAINING = "ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"
ASTRO_REPORTING = "astro-reporting@astro-tenant-4821.iam.gserviceaccount.com"
CORE_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["create", "delete", "get", "list", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


def grants(run: runner.Run, member: str) -> set[tuple[str, str, str]]:
    """Every IAM grant to `member`: (resource type, what it is on, role)."""
    found = set()
    for r in run.registrations:
        if r.inputs.get("member") != member:
            continue
        target = (
            r.inputs.get("project")
            if r.type == PROJECT_IAM
            else r.inputs.get("serviceAccountId")
            or r.inputs.get("secretId")
            or r.inputs.get("bucket")
            or r.inputs.get("cryptoKeyId")
        )
        found.add((r.type, str(target), r.inputs["role"]))
    return found


def of(run: runner.Run, type_: str, deployment: str) -> list[runner.Registration]:
    return [r for r in run.of_type(type_) if f"-{deployment}-" in r.name]


def payload(run: runner.Run, deployment: str) -> dict[str, Any]:
    (version,) = [r for r in of(run, SECRET_VERSION, deployment)]
    return dict(json.loads(version.inputs["secretData"]))


def remote_external(auth_mode: str = "impersonation") -> Callable[[dict[str, Any]], None]:
    """dev's analytics as a remote deployment whose agent runs outside the cluster."""

    def mutate(c: dict[str, Any]) -> None:
        d = c["deployments"][0]
        del d["astro_identity"]
        d.update(
            execution="remote",
            auth_mode=auth_mode,
            agent={"placement": "external", "google_service_account": AGENT_GSA},
        )

    return mutate


def remote_in_cluster(**agent: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        d = c["deployments"][0]
        del d["astro_identity"], d["auth_mode"]
        d.update(
            execution="remote",
            agent={
                "placement": "this_cluster",
                "namespace": "astro-agent",
                "kubernetes_service_account": "agent-worker",
                **agent,
            },
        )

    return mutate


def problems(mutate: Callable[[dict[str, Any]], None], stack: str = "dev") -> dict[str, str]:
    raw = raw_platform(stack)
    mutate(raw)
    with pytest.raises(config.ConfigError) as exc:
        config.load(raw)
    return dict(exc.value.problems)


# --- Config -------------------------------------------------------------------------------------


def _remote_with_identity(c: dict[str, Any]) -> None:
    remote_external()(c)
    c["deployments"][0]["astro_identity"] = (
        "astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com"
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["deployments"][0].pop("astro_identity"),
            {"deployments[0].astro_identity": "required with execution 'hosted'"},
        ),
        (
            lambda c: c["deployments"][0].update(
                agent={"placement": "external", "google_service_account": AGENT_GSA}
            ),
            {"deployments[0].agent": "only used with execution 'remote'"},
        ),
        (
            lambda c: (
                c["deployments"][0].pop("astro_identity"),
                c["deployments"][0].update(execution="remote"),
            ),
            {"deployments[0].agent": "required with execution 'remote'"},
        ),
        (
            _remote_with_identity,
            {
                "deployments[0].astro_identity": "not used with execution 'remote': tasks run as "
                "the agent's identity (`agent`), not the Astro deployment's"
            },
        ),
        (
            lambda c: (
                remote_in_cluster()(c)
                or c["deployments"][0]["agent"].update(
                    namespace=None, kubernetes_service_account=None
                )
            ),
            {
                "deployments[0].agent.namespace": "required with placement 'this_cluster'",
                "deployments[0].agent.kubernetes_service_account": "required with placement 'this_cluster'",
            },
        ),
        (
            lambda c: remote_in_cluster(google_service_account=AGENT_GSA)(c),
            {"deployments[0].agent.google_service_account": "only used with placement 'external'"},
        ),
        (
            lambda c: (
                remote_external()(c)
                or c["deployments"][0]["agent"].update(
                    google_service_account=None, namespace="astro-agent"
                )
            ),
            {
                "deployments[0].agent.namespace": "only used with placement 'this_cluster'",
                "deployments[0].agent.google_service_account": "required with placement 'external'",
            },
        ),
        (
            remote_in_cluster(namespace="airflow-analytics"),
            {
                "deployments[0].agent": "agent.namespace airflow-analytics is the task namespace: "
                "the agent needs its own (a task pod may run as any service account of its namespace)"
            },
        ),
        (
            remote_in_cluster(namespace="kube-system"),
            {
                "deployments[0].agent.namespace": "kube-system is reserved for the system; pick a "
                "namespace of your own"
            },
        ),
        (
            remote_in_cluster(triggerer_service_account="default"),
            {
                "deployments[0].agent.triggerer_service_account": "not the namespace's `default` "
                "service account (every pod there runs as it); name a dedicated one"
            },
        ),
        (
            remote_in_cluster(kubernetes_service_account="Agent_Worker"),
            {"deployments[0].agent.kubernetes_service_account": config.deployments.KSA_NAME_RULE},
        ),
        (
            lambda c: remote_in_cluster()(c) or c["deployments"][0].update(auth_mode="adc"),
            {
                "deployments[0]": "auth_mode: not used with agent placement 'this_cluster' "
                "(KubernetesPodOperator runs in-cluster as the agent's service account)"
            },
        ),
        (
            remote_in_cluster(xcom={"retention_days": 0}),
            {
                "deployments[0].agent.xcom.retention_days": "Input should be greater than or equal to 1"
            },
        ),
        (
            remote_in_cluster(
                xcom={
                    "kms_key": "projects/acme-ml-dev/locations/europe-west4/keyRings/r/cryptoKeys/k"
                }
            ),
            {
                "deployments[0].agent.xcom.kms_key": "the key must be in the bucket's location, "
                "the cluster region us-central1"
            },
        ),
        (
            remote_in_cluster(xcom={"kms_key": "my-key"}),
            {
                "deployments[0].agent.xcom.kms_key": "must be "
                "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"
            },
        ),
    ],
)
def test_remote_config_rules(
    mutate: Callable[[dict[str, Any]], None], expected: dict[str, str]
) -> None:
    assert problems(mutate) == expected


def test_remote_deployments_are_isolated_from_each_other_and_from_hosted_ones() -> None:
    def two_agents_one_namespace(c: dict[str, Any]) -> None:
        remote_in_cluster()(c)
        second = json.loads(json.dumps(c["deployments"][0]))
        second.update(name="other", namespace="airflow-other", connection_id="other")
        c["deployments"].append(second)

    assert problems(two_agents_one_namespace) == {
        "deployments": "namespaces (task and agent) must be unique across deployments: astro-agent"
    }

    def agent_is_a_hosted_identity(c: dict[str, Any]) -> None:
        hosted = json.loads(json.dumps(c["deployments"][0]))
        hosted.update(name="hosted", namespace="airflow-hosted", connection_id="hosted")
        hosted.update(astro_identity=AGENT_GSA, launcher_account_id="hosted-kpo")
        remote_external()(c)
        c["deployments"].append(hosted)

    assert problems(agent_is_a_hosted_identity) == {
        "deployments": "Google identities (astro_identity, agent.google_service_account) must be "
        f"unique across deployments: {AGENT_GSA}"
    }


def test_xcom_bucket_name_rules() -> None:
    def googly(c: dict[str, Any]) -> None:
        remote_in_cluster()(c)
        c["deployments"][0]["name"] = "google-ads"

    assert problems(googly) == {
        "deployments": "deployments[0].name: the XCom bucket acme-ml-dev-google-ads-xcom would "
        "start with 'goog' or contain 'google', which Cloud Storage bucket names may not"
    }
    # The longest names fit Cloud Storage's 63 characters.
    assert len(config.deployments.xcom_bucket_name("a" * 30, "b" * 26)) == 62


def test_existing_backend_in_another_project_cannot_use_the_stacks_cmek() -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["secret_manager"] = {
            "kms_keys": ["projects/acme-ml-dev/locations/global/keyRings/sm/cryptoKeys/conn"]
        }
        c["deployments"][0]["existing_secrets_backend"] = {"project_id": "acme-shared-secrets"}

    assert problems(mutate) == {
        "deployments": "deployments[0].existing_secrets_backend.project_id: "
        "secret_manager.kms_keys are granted to the Secret Manager agent of acme-ml-dev only, "
        "not of acme-shared-secrets"
    }


def test_workload_identity_principal_format() -> None:
    """GKE docs: principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/
    workloadIdentityPools/PROJECT_ID.svc.id.goog/subject/ns/NAMESPACE/sa/KSA_NAME."""
    assert remote_agent.workload_principal("42", "p-1", "ns", "sa") == (
        "principal://iam.googleapis.com/projects/42/locations/global/"
        "workloadIdentityPools/p-1.svc.id.goog/subject/ns/ns/sa/sa"
    )


# --- In-cluster (prod's batch-remote) ------------------------------------------------------------


def test_in_cluster_agent_has_exactly_its_grants(prod: runner.Run) -> None:
    assert grants(prod, WORKER) == {
        (SECRET_IAM, "airflow-connections-gke_gpu_batch", ACCESSOR),
        (BUCKET_IAM, "acme-ml-prod-batch-remote-xcom", XCOM_ROLE_PROD),
    }
    # The triggerer runs KPO triggers (deferrable: true): it reads the connection too.
    assert grants(prod, TRIGGERER) == grants(prod, WORKER)
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
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in prod.of_type(KSA)
    )
    assert ksas == [
        ("astro-agent-batch", "astro-agent-triggerer"),
        ("astro-agent-batch", "astro-agent-worker"),
    ]
    for r in prod.of_type(KSA):
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
    ksa_urns = {r.urn for r in prod.of_type(KSA)}
    assert ksa_urns <= set(binding.dependencies)


def test_a_triggerer_without_deferrable_tasks_gets_only_the_bucket(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(lambda c: c["deployments"][2].update(deferrable=False), stack="prod")
    (binding,) = [r for r in of(run, BINDING, "batch")]
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "astro-agent-worker", "namespace": "astro-agent-batch"}
    ]
    assert grants(run, TRIGGERER) == {
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
    role = next(r for r in prod.of_type(CUSTOM_ROLE) if "Xcom" in r.inputs["roleId"])
    assert role.inputs["roleId"] == "astroXcomObjects_astro_gpu_prod"
    assert role.inputs["permissions"] == [
        "storage.buckets.get",
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
    ]
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
            "slots": 2,
            "include_deferred": True,
            "description": (
                "GPU tasks of Astro deployment batch-remote: 2 slots = the GPU quota "
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

    from components import airflow_connection

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


# --- External placement ---------------------------------------------------------------------------


def test_external_agent_impersonates_a_launcher_like_astro(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(remote_external())
    launcher = "analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"
    assert grants(run, f"serviceAccount:{AGENT_GSA}") == {
        (
            SA_IAM,
            f"projects/acme-ml-dev/serviceAccounts/{launcher}",
            "roles/iam.serviceAccountTokenCreator",
        ),
        (BUCKET_IAM, "acme-ml-dev-analytics-xcom", XCOM_ROLE_DEV),
    }
    assert grants(run, f"serviceAccount:{launcher}") == {
        (PROJECT_IAM, "acme-ml-dev", LAUNCHER_ROLE_DEV),
        (SECRET_IAM, "airflow-connections-gke_gpu", ACCESSOR),
    }
    assert run.of_type(KSA) == []
    assert [r.inputs["metadata"]["name"] for r in run.of_type(NAMESPACE)] == ["airflow-analytics"]
    (binding,) = run.of_type(BINDING)
    assert binding.inputs["subjects"] == [
        {"kind": "User", "name": launcher, "apiGroup": "rbac.authorization.k8s.io"}
    ]
    extra = payload(run, "analytics")["extra"]
    assert extra["in_cluster"] is False
    assert extra["kube_config"]["users"][0]["user"]["exec"]["args"] == [
        "--impersonate_service_account",
        launcher,
    ]
    out = run.outputs["airflow"]["analytics"]
    assert out["auth_mode"] == "impersonation"
    assert out["agent"] == {
        "placement": "external",
        "namespace": None,
        "service_accounts": [],
        "google_service_account": AGENT_GSA,
        "node_selector": None,
        "xcom_bucket": "acme-ml-dev-analytics-xcom",
        "xcom_path": "gs://acme-ml-dev-analytics-xcom/xcom",
    }
    values = out["agent_values"]
    assert list(values) == ["secretBackend", "xcomBackend", "commonEnv"]
    assert json.loads(values["commonEnv"][0]["value"])["impersonation_chain"] == launcher


def test_external_agent_in_adc_mode_holds_the_grants_itself(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(remote_external("adc"))
    assert [r for r in run.of_type(SERVICE_ACCOUNT) if "analytics" in r.name] == []
    assert grants(run, f"serviceAccount:{AGENT_GSA}") == {
        (PROJECT_IAM, "acme-ml-dev", LAUNCHER_ROLE_DEV),
        (SECRET_IAM, "airflow-connections-gke_gpu", ACCESSOR),
        (BUCKET_IAM, "acme-ml-dev-analytics-xcom", XCOM_ROLE_DEV),
    }
    exec_ = payload(run, "analytics")["extra"]["kube_config"]["users"][0]["user"]["exec"]
    assert exec_["args"] == ["--use_application_default_credentials"]


# --- A deployment that keeps its own secrets backend ----------------------------------------------


def test_hosted_deployment_keeps_its_own_backend(run_with: Callable[..., runner.Run]) -> None:
    reader = "airflow-secrets@acme-shared-secrets.iam.gserviceaccount.com"

    def mutate(c: dict[str, Any]) -> None:
        c["deployments"][0].update(
            connections_prefix="airflow-conn",
            existing_secrets_backend={"project_id": "acme-shared-secrets", "reader": reader},
        )

    run = run_with(mutate)
    (secret,) = run.of_type(SECRET)
    assert (secret.inputs["project"], secret.inputs["secretId"]) == (
        "acme-shared-secrets",
        "airflow-conn-gke_gpu",
    )
    readers = [
        (r.inputs["project"], r.inputs["secretId"], r.inputs["member"])
        for r in run.of_type(SECRET_IAM)
    ]
    assert readers == [("acme-shared-secrets", "airflow-conn-gke_gpu", f"serviceAccount:{reader}")]
    # The launcher still authenticates KPO to the cluster, but reads no secret.
    launcher = "serviceAccount:analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"
    assert grants(run, launcher) == {(PROJECT_IAM, "acme-ml-dev", LAUNCHER_ROLE_DEV)}
    out = run.outputs["airflow"]["analytics"]
    assert (out["secrets_backend"], out["secret_project"]) == ("existing", "acme-shared-secrets")
    assert "AIRFLOW__SECRETS__BACKEND" not in out
    assert "AIRFLOW__SECRETS__BACKEND_KWARGS" not in out


def test_existing_backend_reads_as_the_deployments_own_identity_by_default(
    run_with: Callable[..., runner.Run],
) -> None:
    run = run_with(lambda c: c["deployments"][0].update(existing_secrets_backend={}))
    members = [r.inputs["member"] for r in run.of_type(SECRET_IAM)]
    assert members == [
        "serviceAccount:astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com"
    ]
    assert run.one(SECRET).inputs["project"] == "acme-ml-dev"


def test_in_cluster_agent_with_its_own_backend(run_with: Callable[..., runner.Run]) -> None:
    def mutate(c: dict[str, Any]) -> None:
        remote_in_cluster()(c)
        c["deployments"][0]["existing_secrets_backend"] = {}

    run = run_with(mutate)
    worker = f"{POOL_DEV}/ns/astro-agent/sa/agent-worker"
    assert [r.inputs["member"] for r in run.of_type(SECRET_IAM)] == [worker]
    values = run.outputs["airflow"]["analytics"]["agent_values"]
    assert "secretBackend" not in values
    assert [e["name"] for e in values["commonEnv"]] == [
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION",
        "AIRFLOW_VAR_GKE_GPU_CONN_ID",
        "AIRFLOW_VAR_GKE_GPU_NAMESPACE",
        "AIRFLOW_VAR_GKE_GPU_POOL",
        "AIRFLOW_VAR_GKE_GPU_SCHEDULING",
    ]
    assert values["serviceAccount"] == {
        "workers": {"create": False, "name": "agent-worker"},
        "triggerer": {"create": False, "name": "agent-worker"},
    }


# --- Hosted and remote on one cluster -------------------------------------------------------------


def test_hosted_and_remote_deployments_on_one_cluster_are_isolated(prod: runner.Run) -> None:
    hosted = [f"serviceAccount:{e}" for e in (ASTRO_TRAINING, LAUNCHER_TRAINING, ASTRO_REPORTING)]
    for member in hosted:
        for _, target, _ in grants(prod, member):
            assert "batch" not in target, (member, target)
    for member in (WORKER, TRIGGERER):
        targets = {target for _, target, _ in grants(prod, member)}
        assert targets == {"airflow-connections-gke_gpu_batch", "acme-ml-prod-batch-remote-xcom"}
    # Each task namespace is bound to its own deployment only; no agent service account lives in
    # a task namespace, where a task pod could run as it.
    task_namespaces = {"airflow-ml-training", "airflow-reporting", "airflow-batch"}
    for binding in prod.of_type(BINDING):
        for subject in binding.inputs["subjects"]:
            if subject["kind"] == "ServiceAccount":
                assert binding.inputs["metadata"]["namespace"] == "airflow-batch"
                assert subject["namespace"] not in task_namespaces
    assert {r.inputs["metadata"]["namespace"] for r in prod.of_type(KSA)} == {"astro-agent-batch"}
