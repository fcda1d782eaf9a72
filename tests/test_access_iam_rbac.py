"""The Airflow access path, IAM and Kubernetes: identities and IAM per auth mode, the namespace's
guard rails (quota, limits, network policy, disruption budget), and RBAC. Exact values."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components import custom_roles
from components.config import CONFIG_KEY, load
from offline import runner
from tests.airflow_access_common import (
    ASTRO_DEV,
    ASTRO_REPORTING,
    BINDING,
    CORE_RULES,
    CUSTOM_ROLE,
    LAUNCHER_DEV,
    LIMITS,
    NAMESPACE,
    NETPOL,
    QUOTA,
    ROLE,
    SA_IAM,
    SECRET_IAM,
    grants_to,
    in_namespace,
)
from tests.conftest import PROJECT_IAM, SERVICE_ACCOUNT, airflow_side

# --- IAM per mode -------------------------------------------------------------------------------


def test_impersonation_mode_exact_iam(dev: runner.Run) -> None:
    # The launcher account and the Astro identity's Token Creator grant on it (its one grant: it
    # may only mint the launcher's tokens) are the bootstrap's: tests/test_day0_accounts.py.
    assert dev.of_type(SERVICE_ACCOUNT) == []
    assert dev.of_type(SA_IAM) == []
    role = "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev"
    assert grants_to(dev, LAUNCHER_DEV) == {
        (PROJECT_IAM, "acme-ml-dev", role),
        (SECRET_IAM, "airflow-connections-gke_gpu", "roles/secretmanager.secretAccessor"),
    }
    assert grants_to(dev, ASTRO_DEV) == set()


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


def test_launcher_role_is_authenticate_only(dev: runner.Run) -> None:
    # The bootstrap creates the role (tests/test_day0_roles.py); the stack grants it by name.
    role = custom_roles.launcher(load(runner.stack_config("dev")[f"astro-gke-gpu:{CONFIG_KEY}"]))
    assert role.role_id == "astroKpoLauncher_astro_gpu_dev"
    assert role.permissions == ("container.clusters.get", "container.clusters.connect")
    assert role.stage == "GA"
    assert dev.of_type(CUSTOM_ROLE) == []
    grants = {r.inputs["role"] for r in dev.of_type(PROJECT_IAM)}
    assert "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev" in grants

    platform = copy.deepcopy(runner.stack_config("dev")[f"astro-gke-gpu:{CONFIG_KEY}"])
    platform["cluster"]["control_plane"] = {
        "access": "authorized_networks",
        "authorized_networks": [{"cidr_block": "198.51.100.7/32", "display_name": "astro"}],
    }
    # Without the DNS endpoint nothing checks clusters.connect: it is not granted.
    assert custom_roles.launcher(load(platform)).permissions == ("container.clusters.get",)


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
    (ns,) = airflow_side(dev.of_type(NAMESPACE))
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
        # The one cluster-scoped grant is kube-state-metrics' read-only role
        # (tests/test_observability.py has its exact rules); launchers never get one.
        cluster_roles = run.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
        assert [r.name for r in cluster_roles] == [
            f"astro-gpu-{run.stack}-kube-state-metrics-reader"
        ]
        assert {v for r in cluster_roles for rule in r.inputs["rules"] for v in rule["verbs"]} == {
            "list",
            "watch",
        }
        assert (
            airflow_side(run.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"))
            == []
        )
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
        r.inputs["metadata"]["name"]
        for r in airflow_side(run.of_type(NAMESPACE))
        if "-agent-" not in r.name
    )
    budgets = run.of_type(PDB)
    assert sorted(b.inputs["metadata"]["namespace"] for b in budgets) == namespaces
    pods_quota = {
        q.inputs["metadata"]["namespace"]: q.inputs["spec"]["hard"]["pods"]
        for q in run.of_type("kubernetes:core/v1:ResourceQuota")
    }
    for b in budgets:
        assert b.inputs["metadata"]["name"] == "kpo-pods"
        # An integer at least the namespace's pod quota (tests/kube/test_disruption_budget.py).
        assert b.inputs["spec"] == {
            "minAvailable": float(pods_quota[b.inputs["metadata"]["namespace"]]),
            "selector": {"matchLabels": {"kubernetes_pod_operator": "True"}},
        }
        ns = next(
            n
            for n in run.of_type(NAMESPACE)
            if n.inputs["metadata"]["name"] == b.inputs["metadata"]["namespace"]
        )
        assert ns.urn in b.dependencies
