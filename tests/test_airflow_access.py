"""The Airflow access path: identities and IAM per mode, namespace guard rails, RBAC, the
connection secret, and the outputs Astro consumes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from components import config as config_model
from offline import runner
from offline.mocks import PLACEHOLDER_CA_PEM
from tests.conftest import NODE_POOL, PROJECT_IAM, SERVICE_ACCOUNT

SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"

ASTRO_DEV = "astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com"
LAUNCHER_DEV = "analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"
ASTRO_TRAINING = "astro-ml-training@astro-tenant-4821.iam.gserviceaccount.com"
LAUNCHER_TRAINING = "ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"
ASTRO_REPORTING = "astro-reporting@astro-tenant-4821.iam.gserviceaccount.com"
BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
WI_POOL = (
    "principal://iam.googleapis.com/projects/123456789012/locations/global/"
    "workloadIdentityPools/acme-ml-prod.svc.id.goog/subject"
)
BATCH_WORKER = f"{WI_POOL}/ns/astro-agent-batch/sa/astro-agent-worker"
BATCH_TRIGGERER = f"{WI_POOL}/ns/astro-agent-batch/sa/astro-agent-triggerer"

CORE_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["create", "delete", "get", "list", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


def grants_to(run: runner.Run, email: str) -> set[tuple[str, str, str]]:
    """Every IAM grant whose member is `email`: (resource type, resource, role)."""
    member = f"serviceAccount:{email}"
    found = set()
    for r in run.registrations:
        if r.inputs.get("member") != member:
            continue
        target = (
            r.inputs.get("project")
            if r.type == PROJECT_IAM
            else r.inputs.get("serviceAccountId") or r.inputs.get("secretId")
        )
        found.add((r.type, str(target), r.inputs["role"]))
    return found


def in_namespace(run: runner.Run, type_: str, namespace: str) -> runner.Registration:
    found = [r for r in run.of_type(type_) if r.inputs["metadata"].get("namespace") == namespace]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def payload(run: runner.Run, deployment: str) -> dict[str, Any]:
    version = next(
        r for r in run.of_type(SECRET_VERSION) if r.name.endswith(f"-{deployment}-connection-v")
    )
    return json.loads(version.inputs["secretData"])


# --- IAM per mode -------------------------------------------------------------------------------


def test_impersonation_mode_exact_iam(dev: runner.Run) -> None:
    launcher = dev.one(SERVICE_ACCOUNT, "astro-gpu-dev-analytics-launcher")
    assert launcher.inputs["accountId"] == "analytics-kpo"
    role = "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev"
    assert grants_to(dev, LAUNCHER_DEV) == {
        (PROJECT_IAM, "acme-ml-dev", role),
        (SECRET_IAM, "airflow-connections-gke_gpu", "roles/secretmanager.secretAccessor"),
    }
    # The Astro identity may only mint the launcher's tokens: one resource-level binding.
    assert grants_to(dev, ASTRO_DEV) == {
        (
            SA_IAM,
            f"projects/acme-ml-dev/serviceAccounts/{LAUNCHER_DEV}",
            "roles/iam.serviceAccountTokenCreator",
        )
    }


def test_adc_mode_exact_iam(prod: runner.Run) -> None:
    assert [r for r in prod.of_type(SERVICE_ACCOUNT) if "reporting" in r.name] == []
    assert grants_to(prod, ASTRO_REPORTING) == {
        (
            PROJECT_IAM,
            "acme-ml-prod",
            "projects/acme-ml-prod/roles/astroKpoLauncher_astro_gpu_prod",
        ),
        (SECRET_IAM, "airflow-connections-gke_gpu_reporting", "roles/secretmanager.secretAccessor"),
    }


def test_launcher_role_is_authenticate_only(
    dev: runner.Run, run_with: Callable[..., runner.Run]
) -> None:
    role = dev.one(CUSTOM_ROLE)
    assert role.inputs["roleId"] == "astroKpoLauncher_astro_gpu_dev"
    assert role.inputs["permissions"] == ["container.clusters.get", "container.clusters.connect"]
    assert role.inputs["stage"] == "GA"

    def authorized_networks(c: dict[str, Any]) -> None:
        c["cluster"]["control_plane"] = {
            "access": "authorized_networks",
            "authorized_networks": [{"cidr_block": "198.51.100.7/32", "display_name": "astro"}],
        }

    # Without the DNS endpoint nothing checks clusters.connect: it is not granted.
    assert run_with(authorized_networks).one(CUSTOM_ROLE).inputs["permissions"] == [
        "container.clusters.get"
    ]


def test_no_project_level_pod_permissions_or_broad_roles(dev: runner.Run, prod: runner.Run) -> None:
    for run in (dev, prod):
        for role in run.of_type(CUSTOM_ROLE):
            assert not any(
                p.startswith(("container.pods", "container.events"))
                for p in role.inputs["permissions"]
            )
        project_roles = {r.inputs["role"] for r in run.of_type(PROJECT_IAM)}
        assert not project_roles & {
            "roles/iam.serviceAccountTokenCreator",
            "roles/iam.serviceAccountUser",
            "roles/secretmanager.secretAccessor",
            "roles/container.developer",
            "roles/container.admin",
        }
        assert run.of_type("gcp:serviceaccount/key:Key") == []


# --- Namespace, guard rails, RBAC --------------------------------------------------------------


def test_namespace_guard_rails_exact(dev: runner.Run) -> None:
    ns = dev.one(NAMESPACE)
    assert ns.inputs["metadata"] == {
        "name": "airflow-analytics",
        "labels": {
            "app.kubernetes.io/managed-by": "pulumi",
            "airflow-deployment": "analytics",
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": "latest",
        },
    }
    assert in_namespace(dev, QUOTA, "airflow-analytics").inputs["spec"] == {
        "hard": {
            "requests.nvidia.com/gpu": "2",
            "requests.cpu": "64",
            "limits.cpu": "64",
            "requests.memory": "256Gi",
            "limits.memory": "256Gi",
            "pods": "100",
        }
    }
    assert in_namespace(dev, LIMITS, "airflow-analytics").inputs["spec"] == {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": {"cpu": "250m", "memory": "512Mi"},
                "default": {"cpu": "1", "memory": "2Gi"},
            }
        ]
    }
    netpol = in_namespace(dev, NETPOL, "airflow-analytics")
    assert netpol.inputs["metadata"]["name"] == "default-deny-ingress"
    assert netpol.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


@pytest.mark.parametrize(
    ("xcom", "deferrable", "extra_rules", "events_verbs"),
    [
        (False, False, [], ["list"]),
        (
            True,
            False,
            [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}],
            ["list"],
        ),
        (False, True, [], ["list", "watch"]),
        (
            True,
            True,
            [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}],
            ["list", "watch"],
        ),
    ],
)
def test_role_rules_exact_per_mode(
    run_with: Callable[..., runner.Run],
    xcom: bool,
    deferrable: bool,
    extra_rules: list[dict[str, Any]],
    events_verbs: list[str],
) -> None:
    run = run_with(lambda c: c["deployments"][0].update(xcom=xcom, deferrable=deferrable))
    role = in_namespace(run, ROLE, "airflow-analytics")
    assert role.inputs["metadata"]["name"] == "kpo-launcher"
    assert role.inputs["metadata"]["annotations"] == {
        "astro-gke-gpu/do-xcom-push": str(xcom).lower()
    }
    expected = [
        *CORE_RULES,
        {"apiGroups": [""], "resources": ["events"], "verbs": events_verbs},
        *extra_rules,
    ]
    assert role.inputs["rules"] == expected


def test_rbac_has_no_wildcards_secrets_escalation_or_cluster_scope(
    dev: runner.Run, prod: runner.Run
) -> None:
    for run in (dev, prod):
        assert run.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole") == []
        assert run.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding") == []
        for role in run.of_type(ROLE):
            for rule in role.inputs["rules"]:
                values = rule["apiGroups"] + rule["resources"] + rule["verbs"]
                assert "*" not in values
                assert "secrets" not in rule["resources"]
                assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


@pytest.mark.parametrize(
    ("stack", "namespace", "subject"),
    [("dev", "airflow-analytics", LAUNCHER_DEV), ("prod", "airflow-reporting", ASTRO_REPORTING)],
)
def test_role_binding_subject_per_mode(
    stack: str, namespace: str, subject: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    binding = in_namespace(run, BINDING, namespace)
    assert binding.inputs["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "kpo-launcher",
    }
    assert binding.inputs["subjects"] == [
        {"kind": "User", "name": subject, "apiGroup": "rbac.authorization.k8s.io"}
    ]


# --- The connection secret ---------------------------------------------------------------------


def test_secret_id_matches_the_backend_pattern(dev: runner.Run, prod: runner.Run) -> None:
    for run in (dev, prod):
        for secret in run.of_type(SECRET):
            secret_id = secret.inputs["secretId"]
            assert re.fullmatch(r"^[a-zA-Z0-9-_]*$", secret_id) and "--" not in secret_id
    assert dev.one(SECRET).inputs["secretId"] == "airflow-connections-gke_gpu"
    assert {s.inputs["secretId"] for s in prod.of_type(SECRET)} == {
        "airflow-connections-gke_gpu",
        "airflow-connections-gke_gpu_reporting",
        "airflow-connections-gke_gpu_batch",
    }


def test_secret_labels_and_replication(dev: runner.Run, prod: runner.Run) -> None:
    secret = dev.one(SECRET)
    assert secret.inputs["labels"] == {
        "team": "data-platform",
        "cost-center": "ml-dev",
        "environment": "dev",
        "managed-by": "pulumi",
        "airflow-deployment": "analytics",
        "purpose": "airflow-connection",
    }
    assert secret.inputs["replication"] == {"auto": {}}
    for s in prod.of_type(SECRET):
        assert s.inputs["replication"] == {
            "userManaged": {"replicas": [{"location": "us-central1"}, {"location": "us-east1"}]}
        }


def test_payload_is_secret_in_state(dev: runner.Run, prod: runner.Run) -> None:
    for run in (dev, prod):
        for version in run.of_type(SECRET_VERSION):
            assert version.secret_inputs == {"secretData"}


def test_payload_is_a_kubernetes_connection_without_credentials(dev: runner.Run) -> None:
    conn = payload(dev, "analytics")
    assert set(conn) == {"conn_type", "description", "extra"}  # no conn_id, login or password
    assert conn["conn_type"] == "kubernetes"
    assert conn["extra"]["namespace"] == "airflow-analytics"
    assert conn["extra"]["in_cluster"] is False
    text = json.dumps(conn)
    for forbidden in ("token", "client-key", "client-certificate", "password", "username"):
        assert forbidden not in text


def test_kubeconfig_structure_dns_mode(dev: runner.Run) -> None:
    kc = payload(dev, "analytics")["extra"]["kube_config"]
    endpoint = dev.outputs["cluster_endpoint"]
    assert kc == {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        # DNS endpoint: publicly trusted certificate, so no CA is pinned (gcloud does the same).
        "clusters": [{"name": "astro-gpu-dev", "cluster": {"server": f"https://{endpoint}"}}],
        "users": [
            {
                "name": "astro-gpu-dev",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "args": ["--impersonate_service_account", LAUNCHER_DEV],
                        "installHint": kc["users"][0]["user"]["exec"]["installHint"],
                        "provideClusterInfo": False,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [
            {
                "name": "astro-gpu-dev",
                "context": {
                    "cluster": "astro-gpu-dev",
                    "user": "astro-gpu-dev",
                    "namespace": "airflow-analytics",
                },
            }
        ],
        "current-context": "astro-gpu-dev",
    }
    assert "gke-gcloud-auth-plugin" in kc["users"][0]["user"]["exec"]["installHint"]


def test_exec_args_per_mode(prod: runner.Run) -> None:
    training = payload(prod, "ml-training")["extra"]["kube_config"]["users"][0]["user"]["exec"]
    reporting = payload(prod, "reporting")["extra"]["kube_config"]["users"][0]["user"]["exec"]
    assert training["args"] == ["--impersonate_service_account", LAUNCHER_TRAINING]
    assert reporting["args"] == ["--use_application_default_credentials"]


def test_ca_passed_through_unchanged_on_the_ip_endpoint(
    run_with: Callable[..., runner.Run],
) -> None:
    def authorized_networks(c: dict[str, Any]) -> None:
        c["cluster"]["control_plane"] = {
            "access": "authorized_networks",
            "authorized_networks": [{"cidr_block": "198.51.100.7/32", "display_name": "astro"}],
        }

    run = run_with(authorized_networks)
    cluster = run.one("gcp:container/cluster:Cluster")
    ca = cluster.outputs["masterAuth"]["clusterCaCertificate"]
    kc = payload(run, "analytics")["extra"]["kube_config"]
    assert kc["clusters"] == [
        {
            "name": "astro-gpu-dev",
            "cluster": {"server": "https://203.0.113.10", "certificate-authority-data": ca},
        }
    ]
    # Exactly GKE's value: base64 of the PEM once, not base64 of base64.
    assert (
        base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        == PLACEHOLDER_CA_PEM
    )


def test_deployer_provider_uses_adc_and_the_cluster_endpoint(dev: runner.Run) -> None:
    provider = dev.one("pulumi:providers:kubernetes")
    kc = json.loads(provider.inputs["kubeconfig"])
    assert kc["clusters"][0]["cluster"] == {"server": f"https://{dev.outputs['cluster_endpoint']}"}
    assert kc["users"][0]["user"]["exec"]["args"] == ["--use_application_default_credentials"]
    assert "namespace" not in kc["contexts"][0]["context"]


# --- Isolation and ordering ---------------------------------------------------------------------


def test_deployments_share_nothing(prod: runner.Run) -> None:
    namespaces = [r.inputs["metadata"]["name"] for r in prod.of_type(NAMESPACE)]
    assert sorted(namespaces) == [
        "airflow-batch",
        "airflow-ml-training",
        "airflow-reporting",
        "astro-agent-batch",
    ]
    roles = [
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"])
        for r in prod.of_type(ROLE)
    ]
    assert sorted(roles) == [
        ("airflow-batch", "kpo-launcher"),
        ("airflow-ml-training", "kpo-launcher"),
        ("airflow-reporting", "kpo-launcher"),
    ]
    subjects = {
        b.inputs["metadata"]["namespace"]: [(s["kind"], s["name"]) for s in b.inputs["subjects"]]
        for b in prod.of_type(BINDING)
    }
    assert subjects == {
        "airflow-ml-training": [("User", LAUNCHER_TRAINING)],
        "airflow-reporting": [("User", ASTRO_REPORTING)],
        "airflow-batch": [
            ("ServiceAccount", "astro-agent-worker"),
            ("ServiceAccount", "astro-agent-triggerer"),
        ],
    }
    readers = {(r.inputs["secretId"], r.inputs["member"]) for r in prod.of_type(SECRET_IAM)}
    assert readers == {
        ("airflow-connections-gke_gpu", f"serviceAccount:{LAUNCHER_TRAINING}"),
        ("airflow-connections-gke_gpu_reporting", f"serviceAccount:{ASTRO_REPORTING}"),
        ("airflow-connections-gke_gpu_batch", BATCH_WORKER),
        ("airflow-connections-gke_gpu_batch", BATCH_TRIGGERER),
    }
    # Neither Astro identity can reach the other's launcher, namespace or secret.
    assert all("reporting" not in str(target) for _, target, _ in grants_to(prod, ASTRO_TRAINING))
    assert all(target != "gke_gpu_reporting" for _, target, _ in grants_to(prod, LAUNCHER_TRAINING))


def _closure(run: runner.Run, urn: str) -> set[str]:
    """Everything `urn` waits for: dependency edges and its provider, transitively."""
    by_urn = {r.urn: r for r in run.registrations}
    seen: set[str] = set()
    todo = [urn]
    while todo:
        r = by_urn.get(todo.pop())
        if r is None:
            continue
        # A provider reference is "<provider urn>::<provider id>".
        provider_urn = r.provider.rsplit("::", 1)[0] if r.provider else ""
        for dep in [*r.dependencies, provider_urn]:
            if dep and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_kubernetes_objects_and_secrets_never_wait_on_node_pools(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    pools = {r.urn for r in run.of_type(NODE_POOL)}
    checked = 0
    for r in run.registrations:
        if "astro-gke-gpu:airflow:DeploymentAccess" not in r.urn:
            continue  # the access path only (a ComputeClass names its pools on purpose)
        if r.type.startswith("kubernetes:") or r.type.startswith("gcp:secretmanager/"):
            assert not (_closure(run, r.urn) & pools), r.name
            checked += 1
    assert checked >= 9
    # ... while the Kubernetes objects do wait for the cluster (through their provider).
    cluster = run.one("gcp:container/cluster:Cluster").urn
    assert cluster in _closure(run, run.of_type(ROLE)[0].urn)


# --- Outputs -------------------------------------------------------------------------------------


def test_outputs_for_astro(dev: runner.Run, prod: runner.Run) -> None:
    assert dev.outputs["airflow"] == {
        "analytics": {
            "execution": "hosted",
            "connection_id": "gke_gpu",
            "namespace": "airflow-analytics",
            "secret_id": "airflow-connections-gke_gpu",
            "secret_project": "acme-ml-dev",
            "secrets_backend": "stack",
            "auth_mode": "impersonation",
            "launcher_email": LAUNCHER_DEV,
            # gpu_quota 2: the pool's slots; a deferred task keeps its slots (it keeps its pod)
            "airflow_pool": {
                "name": "gke_gpu",
                "slots": 2,
                "include_deferred": True,
                "description": (
                    "GPU tasks of Astro deployment analytics: 2 slots = the GPU quota "
                    "(requests.nvidia.com/gpu) of namespace airflow-analytics; pool_slots = GPUs "
                    "per task (managed by Pulumi, make airflow-pool)"
                ),
            },
            "AIRFLOW__SECRETS__BACKEND": BACKEND,
            "AIRFLOW__SECRETS__BACKEND_KWARGS": dev.outputs["airflow"]["analytics"][
                "AIRFLOW__SECRETS__BACKEND_KWARGS"
            ],
        }
    }
    assert json.loads(dev.outputs["airflow"]["analytics"]["AIRFLOW__SECRETS__BACKEND_KWARGS"]) == {
        "connections_prefix": "airflow-connections",
        "variables_prefix": None,
        "config_prefix": None,
        "sep": "-",
        "project_id": "acme-ml-dev",
        "impersonation_chain": LAUNCHER_DEV,
    }
    reporting = prod.outputs["airflow"]["reporting"]
    assert reporting["launcher_email"] is None
    # Every deployment's pool is sized from its own quota (prod: 8, 1 and 2 GPUs).
    assert {name: d["airflow_pool"]["slots"] for name, d in prod.outputs["airflow"].items()} == {
        "ml-training": 8,
        "reporting": 1,
        "batch-remote": 2,
    }
    assert json.loads(reporting["AIRFLOW__SECRETS__BACKEND_KWARGS"]) == {
        "connections_prefix": "airflow-connections",
        "variables_prefix": None,
        "config_prefix": None,
        "sep": "-",
        "project_id": "acme-ml-prod",
    }
    for key in ("cluster_name", "cluster_location", "cluster_endpoint", "gpu_scheduling"):
        assert key in dev.outputs


# --- Config validation for deployments ----------------------------------------------------------


def _problems(mutate: Callable[[dict[str, Any]], None], stack: str = "dev") -> dict[str, str]:
    raw = json.loads(json.dumps(runner.stack_config(stack)["astro-gke-gpu:platform"]))
    mutate(raw)
    with pytest.raises(config_model.ConfigError) as exc:
        config_model.load(raw)
    return dict(exc.value.problems)


@pytest.mark.parametrize(
    ("field", "value", "path", "fragment"),
    [
        (
            "astro_identity",
            "someone@example.com",
            "deployments[0].astro_identity",
            config_model.SA_EMAIL_RULE,
        ),
        ("namespace", "kube-system", "deployments[0].namespace", "reserved for the system"),
        ("namespace", "gke-managed-x", "deployments[0].namespace", "reserved for the system"),
        ("namespace", "Airflow", "deployments[0].namespace", config_model.NAMESPACE_RULE),
        ("name", "a" * 27, "deployments[0].name", config_model.DEPLOYMENT_NAME_RULE),
        ("connection_id", "gke.gpu", "deployments[0].connection_id", config_model.CONN_ID_RULE),
        ("connection_id", "-gpu", "deployments[0].sep", "contains '--'"),
        ("auth_mode", "keyfile", "deployments[0].auth_mode", "'impersonation' or 'adc'"),
        ("gpu_quota", -1, "deployments[0].gpu_quota", "greater than or equal to 0"),
        ("cpu_quota", "lots", "deployments[0].cpu_quota", config_model.QUANTITY_RULE),
        ("airflow_pool", "gpu pool", "deployments[0].airflow_pool", config_model.AIRFLOW_POOL_RULE),
        ("airflow_pool", "x" * 257, "deployments[0].airflow_pool", config_model.AIRFLOW_POOL_RULE),
        (
            "airflow_pool",
            "default_pool",
            "deployments[0].airflow_pool",
            "not Airflow's default_pool",
        ),
    ],
)
def test_deployment_field_rules(field: str, value: Any, path: str, fragment: str) -> None:
    found = _problems(lambda c: c["deployments"][0].update({field: value}))
    assert path in found and fragment in found[path], found


def test_launcher_account_id_only_in_impersonation_mode() -> None:
    found = _problems(
        lambda c: c["deployments"][0].update(auth_mode="adc", launcher_account_id="my-launcher")
    )
    assert found == {
        "deployments[0].launcher_account_id": "only used with auth_mode 'impersonation'"
    }


def test_deployments_must_be_isolated() -> None:
    def clone(c: dict[str, Any]) -> None:
        c["deployments"].append(dict(c["deployments"][0]))

    found = _problems(clone)
    assert found == {
        "deployments": "; ".join(
            [
                "names must be unique across deployments: analytics",
                "namespaces (task and agent) must be unique across deployments: airflow-analytics",
                "Google identities (astro_identity, agent.google_service_account) must be unique "
                f"across deployments: {ASTRO_DEV}",
                "launcher account ids must be unique across deployments: analytics-kpo",
                "secret ids must be unique across deployments: airflow-connections-gke_gpu",
            ]
        )
    }


def test_secret_manager_replication_rules() -> None:
    found = _problems(lambda c: c.update(secret_manager={"replication": "user_managed"}))
    assert found == {
        "secret_manager.locations": "required (at least one region) with replication 'user_managed'"
    }
    key = "projects/acme-ml-dev/locations/us-central1/keyRings/sm/cryptoKeys/conn"
    found = _problems(lambda c: c.update(secret_manager={"kms_keys": [key]}))
    assert found == {
        "secret_manager.kms_keys": "automatic replication takes exactly one key, in location 'global'"
    }
    found = _problems(
        lambda c: c.update(
            secret_manager={
                "replication": "user_managed",
                "locations": ["us-east1"],
                "kms_keys": [key],
            }
        )
    )
    assert found == {
        "secret_manager.kms_keys": "user_managed replication needs one key per location ['us-east1']"
    }


def test_cmek_grants_the_secret_manager_agent_before_secrets(
    run_with: Callable[..., runner.Run],
) -> None:
    keys = [
        "projects/acme-ml-prod/locations/us-central1/keyRings/sm/cryptoKeys/conn",
        "projects/acme-ml-prod/locations/us-east1/keyRings/sm/cryptoKeys/conn",
    ]
    run = run_with(lambda c: c["secret_manager"].update(kms_keys=keys), stack="prod")
    grants = [
        r
        for r in run.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if "secrets-cmek" in r.name
    ]
    agent = "serviceAccount:service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com"
    assert sorted(
        (g.inputs["cryptoKeyId"], g.inputs["role"], g.inputs["member"]) for g in grants
    ) == [(k, "roles/cloudkms.cryptoKeyEncrypterDecrypter", agent) for k in keys]
    for secret in run.of_type(SECRET):
        assert {g.urn for g in grants} <= set(secret.dependencies)
        assert secret.inputs["replication"] == {
            "userManaged": {
                "replicas": [
                    {
                        "location": "us-central1",
                        "customerManagedEncryption": {"kmsKeyName": keys[0]},
                    },
                    {"location": "us-east1", "customerManagedEncryption": {"kmsKeyName": keys[1]}},
                ]
            }
        }


PDB = "kubernetes:policy/v1:PodDisruptionBudget"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_namespace_refuses_evicting_running_task_pods(
    stack: str, request: pytest.FixtureRequest
) -> None:
    """A drain (surge upgrade, kubectl drain) evicts through the Eviction API: zero allowed
    disruptions over every pod KPO creates (it labels them kubernetes_pod_operator=True)."""
    run: runner.Run = request.getfixturevalue(stack)
    # Task namespaces: an agent's namespace runs the agent, not task pods.
    namespaces = sorted(
        r.inputs["metadata"]["name"] for r in run.of_type(NAMESPACE) if "-agent-" not in r.name
    )
    budgets = run.of_type(PDB)
    assert sorted(b.inputs["metadata"]["namespace"] for b in budgets) == namespaces
    for b in budgets:
        assert b.inputs["metadata"]["name"] == "kpo-pods"
        assert b.inputs["spec"] == {
            "maxUnavailable": 0.0,
            "selector": {"matchLabels": {"kubernetes_pod_operator": "True"}},
        }
        ns = next(
            n
            for n in run.of_type(NAMESPACE)
            if n.inputs["metadata"]["name"] == b.inputs["metadata"]["namespace"]
        )
        assert ns.urn in b.dependencies
