"""Every Kubernetes object the dev and prod stacks and the opt-in DCGM exporter register, applied
server-side to a real kube-apiserver (validation, defaulting, admission), and what the real
admission plugins then do with the pods a task starts: PodSecurity, LimitRanger, ResourceQuota.

CRDs come from named sources: ClusterPodMonitoring from GoogleCloudPlatform/prometheus-engine
(tests/kube/crds/, with its commit); Kueue's (prod's GPU sharing) from the sigs.k8s.io/kueue
module tools/kubebin/go.mod pins (`make kube-bin` copies them). GKE's ComputeClass CRD
(cloud.google.com/v1) is installed by GKE itself and published nowhere, so ComputeClass objects
are the one kind not applied here; the policy pack and the unit tests check them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from offline import runner
from tests.kube.controlplane import ControlPlane

NOT_INSTALLABLE = {"ComputeClass"}  # GKE's own CRD: no public source
RUNS = {
    "dev": ("dev", False),
    "prod": ("prod", False),
    "dev-dcgm-self-deployed": ("dev", True),
}


@pytest.fixture(scope="module")
def rendered(
    stack_objects: Callable[..., list[dict[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    return {key: stack_objects(*args) for key, args in RUNS.items()}


@pytest.fixture(scope="module")
def applied(control_plane: ControlPlane, rendered: dict[str, list[dict[str, Any]]]) -> ControlPlane:
    for key in RUNS:
        control_plane.apply([o for o in rendered[key] if o["kind"] not in NOT_INSTALLABLE])
    return control_plane


def _key(o: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = o["metadata"]
    return o["apiVersion"], o["kind"], meta.get("namespace", ""), meta["name"]


def _server_object(plane: ControlPlane, o: dict[str, Any]) -> dict[str, Any]:
    meta = o["metadata"]
    group = o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else ""
    resource = f"{o['kind'].lower()}.{group}" if group else o["kind"].lower()
    args = [resource, meta["name"]] + (["-n", meta["namespace"]] if "namespace" in meta else [])
    found: dict[str, Any] = plane.get(*args, "--show-managed-fields")
    return found


@pytest.mark.parametrize("key", list(RUNS))
def test_every_object_is_accepted_server_side(
    applied: ControlPlane, rendered: dict[str, list[dict[str, Any]]], key: str
) -> None:
    objects = rendered[key]
    skipped = {o["kind"] for o in objects if o["kind"] in NOT_INSTALLABLE}
    # prod has the one ComputeClass; nothing else is left out.
    assert skipped == ({"ComputeClass"} if key == "prod" else set())
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Role", "RoleBinding", "ResourceQuota", "LimitRange"} <= kinds
    if key == "dev-dcgm-self-deployed":
        assert {"DaemonSet", "ConfigMap", "ClusterPodMonitoring"} <= kinds
    for o in objects:
        if o["kind"] in NOT_INSTALLABLE:
            continue
        live = _server_object(applied, o)
        # Owned by the field manager pulumi-kubernetes uses, through an Apply.
        managers = {(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]}
        assert ("pulumi-kubernetes", "Apply") in managers, _key(o)
        for field in ("labels", "annotations"):
            for name, value in (o["metadata"].get(field) or {}).items():
                assert live["metadata"][field][name] == value, (_key(o), field, name)


def test_applying_again_changes_nothing(
    applied: ControlPlane, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    """A second `pulumi up` with no change is a no-op on the server: no object's resourceVersion
    moves (the rendered objects carry no field the server rewrites)."""
    objects = [o for o in rendered["prod"] if o["kind"] not in NOT_INSTALLABLE]
    before = {_key(o): _server_object(applied, o)["metadata"]["resourceVersion"] for o in objects}
    applied.apply(objects)
    after = {_key(o): _server_object(applied, o)["metadata"]["resourceVersion"] for o in objects}
    assert after == before


def _pod(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "base", "image": "busybox", **spec.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container], **spec},
    }


def _dry_run(plane: ControlPlane, pod: dict[str, Any]) -> Any:
    return plane.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod), check=False
    )


def test_pod_security_baseline_refuses_a_privileged_task_pod(applied: ControlPlane) -> None:
    """The deployment namespaces enforce PodSecurity `baseline` (and warn at `restricted`): the
    real admission plugin refuses a privileged container and a hostPath volume."""
    privileged = _pod(
        "airflow-analytics", "privileged", container={"securityContext": {"privileged": True}}
    )
    done = _dry_run(applied, privileged)
    assert done.returncode == 1
    assert (
        'violates PodSecurity "baseline:latest": privileged (container "base" must not set'
        in done.stderr
    )
    host = _pod("airflow-analytics", "host", volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    done = _dry_run(applied, host)
    assert 'violates PodSecurity "baseline:latest": hostPath volumes (volume "h")' in done.stderr
    plain = _dry_run(applied, _pod("airflow-analytics", "plain"))
    assert plain.returncode == 0, plain.stderr
    # restricted is a warning only: the plain busybox pod is admitted with it.
    assert 'would violate PodSecurity "restricted:latest"' in plain.stderr


def test_limit_range_gives_a_task_without_resources_the_configured_defaults(
    applied: ControlPlane,
) -> None:
    config = runner.stack_config("dev")[f"{runner.PROJECT}:platform"]
    analytics = next(d for d in config["deployments"] if d["name"] == "analytics")
    expected = {"cpu": "250m", "memory": "512Mi"}, {"cpu": "1", "memory": "2Gi"}
    defaults = analytics.get("container_defaults", {})
    assert not defaults or (defaults.get("cpu_request"), defaults.get("memory_request")) == (
        expected[0]["cpu"],
        expected[0]["memory"],
    )
    done = _dry_run(applied, _pod("airflow-analytics", "no-resources"))
    resources = json.loads(done.stdout)["spec"]["containers"][0]["resources"]
    assert resources == {"requests": expected[0], "limits": expected[1]}


def test_resource_quota_refuses_more_gpus_than_the_deployment_holds(
    applied: ControlPlane,
) -> None:
    """The real ResourceQuota admission, its own message: dev's analytics holds
    requests.nvidia.com/gpu from its `gpu_quota`."""
    config = runner.stack_config("dev")[f"{runner.PROJECT}:platform"]
    quota = next(d for d in config["deployments"] if d["name"] == "analytics")["gpu_quota"]
    applied.kubectl(
        "wait", "--for=jsonpath={.status.hard.requests\\.nvidia\\.com/gpu}=" + str(quota),
        "resourcequota/kpo-quota", "-n", "airflow-analytics", "--timeout=60s",
    )  # fmt: skip
    over = _pod(
        "airflow-analytics", "too-many",
        container={"resources": {"limits": {"nvidia.com/gpu": str(quota + 1)}}},
    )  # fmt: skip
    done = _dry_run(applied, over)
    assert done.returncode == 1
    assert (
        'pods "too-many" is forbidden: exceeded quota: kpo-quota, requested: '
        f"requests.nvidia.com/gpu={quota + 1}, used: requests.nvidia.com/gpu=0, "
        f"limited: requests.nvidia.com/gpu={quota}"
    ) in done.stderr
    within = copy.deepcopy(over)
    within["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = str(quota)
    assert _dry_run(applied, within).returncode == 0
