"""System and GPU node pools: every flag, exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline import runner
from tests.conftest import NODE_POOL

LABELS_DEV = {
    "team": "data-platform",
    "cost-center": "ml-dev",
    "environment": "dev",
    "managed-by": "pulumi",
}
NODE_SA_DEV = "astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com"
TIMEOUT_KEYS = (
    "schedule_timeout_seconds",
    "startup_timeout_seconds",
    "retries",
    "retry_delay_seconds",
)


def hardened(
    machine: str,
    disk: float,
    spot: bool,
    sa: str,
    labels: dict[str, str],
    res_labels: dict[str, str],
) -> dict[str, Any]:
    return {
        "machineType": machine,
        "diskSizeGb": disk,
        "diskType": "pd-balanced",
        "imageType": "COS_CONTAINERD",
        "spot": spot,
        "serviceAccount": sa,
        "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
        "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
        "workloadMetadataConfig": {"mode": "GKE_METADATA"},
        "metadata": {"disable-legacy-endpoints": "true"},
        "gvnic": {"enabled": True},
        "gcfsConfig": {"enabled": True},
        "labels": labels,
        "resourceLabels": res_labels,
    }


def test_dev_gpu_pool_exact(dev: runner.Run) -> None:
    pool = dev.one(NODE_POOL, "astro-gpu-dev-l4-spot-pool")
    node_config = hardened(
        "g2-standard-8", 100.0, True, NODE_SA_DEV, {"gpu-pool": "l4-spot"}, LABELS_DEV
    )
    node_config["taints"] = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    node_config["guestAccelerators"] = [
        {
            "type": "nvidia-l4",
            "count": 1.0,
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
        }
    ]
    assert pool.inputs == {
        "namePrefix": "l4-spot-",
        "project": "acme-ml-dev",
        "location": "us-central1-a",
        "cluster": "projects/acme-ml-dev/locations/us-central1-a/clusters/astro-gpu-dev",
        "initialNodeCount": 0.0,
        "autoscaling": {"minNodeCount": 0.0, "maxNodeCount": 2.0, "locationPolicy": "ANY"},
        "management": {"autoRepair": True, "autoUpgrade": True},
        "upgradeSettings": {"strategy": "SURGE", "maxSurge": 1.0, "maxUnavailable": 0.0},
        "nodeConfig": node_config,
    }


def test_dev_system_pool_exact(dev: runner.Run) -> None:
    pool = dev.one(NODE_POOL, "astro-gpu-dev-system-pool")
    assert pool.inputs == {
        "namePrefix": "system-",
        "project": "acme-ml-dev",
        "location": "us-central1-a",
        "cluster": "projects/acme-ml-dev/locations/us-central1-a/clusters/astro-gpu-dev",
        "initialNodeCount": 1.0,
        "autoscaling": {"minNodeCount": 1.0, "maxNodeCount": 2.0, "locationPolicy": "ANY"},
        "management": {"autoRepair": True, "autoUpgrade": True},
        "upgradeSettings": {"strategy": "SURGE", "maxSurge": 1.0, "maxUnavailable": 0.0},
        "nodeConfig": hardened(
            "e2-standard-2", 50.0, True, NODE_SA_DEV, {"workload-class": "system"}, LABELS_DEV
        ),
    }


def test_prod_pools_on_demand_balanced_zoned(prod: runner.Run) -> None:
    l4 = prod.one(NODE_POOL, "astro-gpu-prod-l4-pool").inputs
    a100 = prod.one(NODE_POOL, "astro-gpu-prod-a100-pool").inputs
    system = prod.one(NODE_POOL, "astro-gpu-prod-system-pool").inputs
    for pool in (l4, a100, system):
        assert pool["nodeConfig"]["spot"] is False
        assert pool["autoscaling"]["locationPolicy"] == "BALANCED"
        assert pool["location"] == "us-central1"
        assert (
            pool["nodeConfig"]["serviceAccount"]
            == "astro-gpu-prod-nodes@acme-ml-prod.iam.gserviceaccount.com"
        )
    assert l4["nodeLocations"] == ["us-central1-a", "us-central1-b"]
    assert l4["nodeConfig"]["guestAccelerators"] == [
        {
            "type": "nvidia-l4",
            "count": 2.0,
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"},
        }
    ]
    assert a100["nodeConfig"]["guestAccelerators"] == [
        {
            "type": "nvidia-tesla-a100",
            "count": 1.0,
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"},
            "gpuSharingConfig": {
                "gpuSharingStrategy": "TIME_SHARING",
                "maxSharedClientsPerGpu": 2.0,
            },
        }
    ]
    assert "nodeLocations" not in system


def test_every_gpu_pool_tainted_and_only_gpu_pools(prod: runner.Run, dev: runner.Run) -> None:
    taint = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    for run in (dev, prod):
        for pool in run.of_type(NODE_POOL):
            node = pool.inputs["nodeConfig"]
            has_gpu = bool(node.get("guestAccelerators"))
            # ComputeClass members carry the class taint after the GPU taint (test_gpu_capacity).
            klass = node["labels"].get("cloud.google.com/compute-class")
            wanted = taint + (
                [{"key": "cloud.google.com/compute-class", "value": klass, "effect": "NO_SCHEDULE"}]
                if klass
                else []
            )
            assert node.get("taints") == (wanted if has_gpu else None), pool.name


def test_mig_partition_rendered(run_with: Callable[..., runner.Run]) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["gpu_pools"][0].update(
            machine_type="a2-highgpu-1g",
            accelerator_type="nvidia-tesla-a100",
            partition_size="1g.5gb",
        )

    pool = run_with(mutate).one(NODE_POOL, "astro-gpu-dev-l4-spot-pool")
    assert pool.inputs["nodeConfig"]["guestAccelerators"] == [
        {
            "type": "nvidia-tesla-a100",
            "count": 1.0,
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
            "gpuPartitionSize": "1g.5gb",
        }
    ]


def test_pools_wait_for_node_identity_bindings(prod: runner.Run) -> None:
    identity = prod.one("astro-gke-gpu:iam:NodeServiceAccount")
    bindings = {
        r.urn
        for r in prod.registrations
        if r.parent == identity.urn and r.type.lower().endswith("iammember")
    }
    assert len(bindings) == 4  # three project roles + one repository
    for pool in prod.of_type(NODE_POOL):
        assert bindings <= set(pool.dependencies), pool.name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_scheduling_hints_output(stack: str, request: pytest.FixtureRequest) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    hints = run.outputs["gpu_scheduling"]
    first = next(iter(hints.values()))
    assert first["tolerations"][0] == {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "present",
        "effect": "NoSchedule",
    }
    assert first["resource_name"] == "nvidia.com/gpu"
    if stack == "dev":
        assert hints == {
            "l4-spot": {
                # spot: the autoscaler's own 15 min node limit; a 15 min image-pull budget
                "schedule_timeout_seconds": 900,
                "startup_timeout_seconds": 900,
                "retries": 3,
                "retry_delay_seconds": 60,
                "node_selector": {
                    "cloud.google.com/gke-accelerator": "nvidia-l4",
                    "gpu-pool": "l4-spot",
                },
                "tolerations": first["tolerations"],
                "resource_name": "nvidia.com/gpu",
                "gpus_per_node": 1,
                "pool_slots_per_gpu": 1,
            }
        }
    else:
        assert sorted(hints) == ["a100", "l4", "l4-any", "l4-flex", "l4-spot"]
        assert hints["a100"]["node_selector"] == {
            "cloud.google.com/gke-accelerator": "nvidia-tesla-a100",
            "gpu-pool": "a100",
        }
        assert hints["l4"]["gpus_per_node"] == 2
        for pool in ("l4", "a100"):  # on-demand: the 10 min slow end of a GPU scale-up
            assert {k: hints[pool][k] for k in TIMEOUT_KEYS} == {
                # plus prod's 30 min Kueue queue wait (docs/gpu-sharing.md)
                "schedule_timeout_seconds": 600 + 30 * 60,
                "startup_timeout_seconds": 900,
                "retries": 1,
                "retry_delay_seconds": 60,
            }


# --- Day 2: what a change does to a pool ----------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_pools_generated_names_and_initial_size_ignored(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    pools = run.of_type(NODE_POOL)
    assert len(pools) == {"dev": 2, "prod": 5}[stack]
    for pool in pools:
        # No fixed name: a replacement creates `<name>-<suffix>` beside the old pool.
        assert "name" not in pool.inputs, pool.name
        # initialNodeCount forces a new pool; set once, ignored afterwards.
        assert pool.ignore_changes == ["initialNodeCount"], pool.name
        assert pool.protect is False, pool.name


def test_generated_pool_names_fit_gke(run_with: Callable[..., runner.Run]) -> None:
    """The longest pool names the config accepts (30) and a short one stay within GKE's 40."""

    def mutate(c: dict[str, Any]) -> None:
        c["gpu_pools"][0]["name"] = "g" * 30
        c["system_pool"] = {**c["system_pool"], "name": "s"}

    run = run_with(mutate)
    names = {p.inputs["namePrefix"]: p.outputs["name"] for p in run.of_type(NODE_POOL)}
    assert set(names) == {"g" * 30 + "-", "s-"}
    assert len(names["g" * 30 + "-"]) == 40  # prefix of 31 + 9 random characters
    assert len(names["s-"]) == 26  # prefix of 2 + 24-digit timestamp and counter


def test_scheduling_hints_never_name_the_gke_pool(dev: runner.Run) -> None:
    """Pods select a pool by its node labels, which a replacement keeps: the hints hold no
    generated GKE pool name."""
    pool = dev.one(NODE_POOL, "astro-gpu-dev-l4-spot-pool")
    hints = dev.outputs["gpu_scheduling"]["l4-spot"]
    assert pool.outputs["name"] not in str(hints)
    assert hints["node_selector"]["gpu-pool"] == pool.inputs["nodeConfig"]["labels"]["gpu-pool"]


def test_scaling_a_pool_changes_only_autoscaling(run_with: Callable[..., runner.Run]) -> None:
    """min_nodes 0 -> 1 (a warm GPU node): the inputs differ only in autoscaling and in the
    ignored initialNodeCount, so `pulumi up` updates the pool in place."""
    before = run_with(lambda c: None).one(NODE_POOL, "astro-gpu-dev-l4-spot-pool")
    after = run_with(lambda c: c["gpu_pools"][0].update(min_nodes=1)).one(
        NODE_POOL, "astro-gpu-dev-l4-spot-pool"
    )
    changed = {
        k
        for k in before.inputs.keys() | after.inputs.keys()
        if before.inputs.get(k) != after.inputs.get(k)
    }
    assert changed == {"autoscaling", "initialNodeCount"}
    assert set(after.ignore_changes) >= {"initialNodeCount"}
    assert after.inputs["autoscaling"] == {
        "minNodeCount": 1.0,
        "maxNodeCount": 2.0,
        "locationPolicy": "ANY",
    }


def test_upgrade_strategies_exact(prod: runner.Run) -> None:
    """prod's l4 pool: autoscaled blue-green, tasks keep a day on cordoned nodes; a100: surge."""
    l4 = prod.one(NODE_POOL, "astro-gpu-prod-l4-pool").inputs
    a100 = prod.one(NODE_POOL, "astro-gpu-prod-a100-pool").inputs
    assert l4["upgradeSettings"] == {
        "strategy": "BLUE_GREEN",
        "blueGreenSettings": {"autoscaledRolloutPolicy": {"waitForDrainDuration": "86400s"}},
    }
    assert a100["upgradeSettings"] == {"strategy": "SURGE", "maxSurge": 1.0, "maxUnavailable": 0.0}


def test_blue_green_without_a_wait_sends_gkes_default(run_with: Callable[..., runner.Run]) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["gpu_pools"][0]["upgrade_strategy"] = "AUTOSCALED_BLUE_GREEN"

    pool = run_with(mutate).one(NODE_POOL, "astro-gpu-dev-l4-spot-pool")
    assert pool.inputs["upgradeSettings"] == {
        "strategy": "BLUE_GREEN",
        "blueGreenSettings": {"autoscaledRolloutPolicy": {"waitForDrainDuration": "259200s"}},
    }
