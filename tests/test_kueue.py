"""Opt-in GPU sharing with Kueue (`kueue`, components/gke/kueue.py), under Pulumi's mocks: what prod's
stack registers, read against prod's own inputs (Pulumi.prod.yaml), what dev does not, the
hints a DAG author's `gpu_task` reads, the quota and Airflow pool sizing, the keyed config errors,
and a first preview. The behaviour on a real control plane: tests/kube/test_kueue.py."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest
import yaml

from components.config import ConfigError, load
from offline import runner
from offline.mocks import PlaceholderMocks, RecordingMonitor
from tests.config_common import assert_problem, problems
from tests.conftest import CONFIG_KEY, raw_platform
from tests.test_bootstrap import InputsOnly
from tests.test_gpu_capacity import CLASS_TOLERATION, GPU_TOLERATION

KUEUE = "astro-gke-gpu:kueue:Kueue"
CHART = "kubernetes:helm.sh/v4:Chart"
FLAVOR = "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor"
CLUSTER_QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"
LOCAL_QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue"
QUOTA = "kubernetes:core/v1:ResourceQuota"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


@pytest.fixture(scope="module")
def prod_inputs() -> dict[str, Any]:
    return copy.deepcopy(runner.stack_config("prod")[CONFIG_KEY])


def by_type(run: runner.Run, type_: str) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in run.registrations if r.type == type_}


def test_prod_installs_the_pinned_chart_limited_to_the_deployments_namespaces(
    prod: runner.Run, prod_inputs: dict[str, Any]
) -> None:
    (chart,) = [r for r in prod.registrations if r.type == CHART]
    assert chart.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert prod_inputs["kueue"]["version"] == "v0.19.2"
    assert chart.inputs["version"] == "0.19.2"
    assert chart.inputs["namespace"] == "kueue-system"
    assert chart.parent.endswith(f"{KUEUE}::astro-gpu-prod-kueue")
    config = yaml.safe_load(chart.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    namespaces = sorted(d["namespace"] for d in prod_inputs["deployments"])
    assert namespaces == ["airflow-batch", "airflow-ml-training", "airflow-reporting"]
    assert config == {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}
            ]
        },
        "internalCertManagement": {"enable": True},
        "integrations": {"frameworks": ["pod"]},
        "fairSharing": {
            "preemptionStrategies": ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]
        },
    }


def test_one_flavor_per_gpu_pool_with_its_node_labels_and_tolerations(
    prod: runner.Run, prod_inputs: dict[str, Any]
) -> None:
    flavors = by_type(prod, FLAVOR)
    assert sorted(flavors) == sorted(p["name"] for p in prod_inputs["gpu_pools"])
    members = prod_inputs["gpu_classes"][0]["pools"]
    for name, flavor in flavors.items():
        if name in members:
            assert flavor["spec"] == {
                "nodeLabels": {"gpu-pool": name, "cloud.google.com/compute-class": "l4-any"},
                "tolerations": [GPU_TOLERATION, CLASS_TOLERATION],
            }
        else:
            assert flavor["spec"] == {
                "nodeLabels": {"gpu-pool": name},
                "tolerations": [GPU_TOLERATION],
            }


def test_one_cluster_queue_per_deployment_in_one_cohort(
    prod: runner.Run, prod_inputs: dict[str, Any]
) -> None:
    queues = by_type(prod, CLUSTER_QUEUE)
    kueue = prod_inputs["kueue"]
    # The flavors in the class's priority order, then the other pools.
    order = [*prod_inputs["gpu_classes"][0]["pools"], "a100"]
    assert sorted(queues) == sorted(d["name"] for d in prod_inputs["deployments"])
    for d in prod_inputs["deployments"]:
        limits = kueue["deployments"][d["name"]]
        spec = queues[d["name"]]["spec"]
        gpu = {"name": "nvidia.com/gpu", "nominalQuota": str(d["gpu_quota"])}
        gpu["borrowingLimit"] = str(limits["borrowing_limit"])
        if "lending_limit" in limits:
            gpu["lendingLimit"] = str(limits["lending_limit"])
        assert spec == {
            "cohortName": "astro-gpu",
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": d["namespace"]}},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [
                {
                    "coveredResources": ["nvidia.com/gpu", "cpu", "memory"],
                    "flavors": [
                        {
                            "name": flavor,
                            "resources": [
                                gpu,
                                {"name": "cpu", "nominalQuota": d.get("cpu_quota", "64")},
                                {"name": "memory", "nominalQuota": d.get("memory_quota", "256Gi")},
                            ],
                        }
                        for flavor in order
                    ],
                }
            ],
            "flavorFungibility": {
                "whenCanBorrow": "TryNextFlavor",
                "whenCanPreempt": "TryNextFlavor",
            },
            "preemption": {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"},
            "fairSharing": {"weight": str(limits.get("fair_sharing_weight", 1))},
        }
    assert queues["ml-training"]["spec"]["fairSharing"] == {"weight": "2"}
    reporting_gpu = queues["reporting"]["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
    assert reporting_gpu == {
        "name": "nvidia.com/gpu",
        "nominalQuota": "1",
        "borrowingLimit": "2",
        "lendingLimit": "1",
    }


def test_one_local_queue_per_namespace_and_every_object_waits_for_the_chart(
    prod: runner.Run, prod_inputs: dict[str, Any]
) -> None:
    locals_ = [r.inputs for r in prod.registrations if r.type == LOCAL_QUEUE]
    found = [
        (q["metadata"]["namespace"], q["metadata"]["name"], q["spec"]["clusterQueue"])
        for q in locals_
    ]
    assert sorted(found) == sorted(
        (d["namespace"], "gpu", d["name"]) for d in prod_inputs["deployments"]
    )
    (chart,) = [r for r in prod.registrations if r.type == CHART]
    kueue_objects = [
        r for r in prod.registrations if r.type in (FLAVOR, CLUSTER_QUEUE, LOCAL_QUEUE)
    ]
    assert len(kueue_objects) == 4 + 3 + 3
    for r in kueue_objects:
        assert chart.urn in r.dependencies, r.name
        assert r.parent.endswith(f"{KUEUE}::astro-gpu-prod-kueue")
        assert r.name.startswith("astro-gpu-prod-kueue-")


FIREWALL = "gcp:compute/firewall:Firewall"
CLUSTER = "gcp:container/cluster:Cluster"


def test_the_control_plane_may_call_the_webhook_on_the_nodes_and_nothing_more(
    prod: runner.Run, prod_inputs: dict[str, Any]
) -> None:
    """Private nodes behind a deny-all: GKE's own rule opens tcp:443 and tcp:10250 only, so
    without this rule the pod webhook (failurePolicy Fail) refuses every queued task's pod."""
    rule = prod.one(FIREWALL, "astro-gpu-prod-kueue-webhook-firewall")
    assert rule.parent.endswith(f"{KUEUE}::astro-gpu-prod-kueue")
    vpc = prod.one("gcp:compute/network:Network")
    # The bootstrap owns the node account; the stack (and the rule) name it by its email.
    account_id = prod_inputs["node_service_account"]["account_id"]
    account = f"{account_id}@acme-ml-prod.iam.gserviceaccount.com"
    cluster = prod.one(CLUSTER)
    # A Private Service Connect cluster reports no control-plane /28, only its endpoint.
    assert "masterIpv4CidrBlock" not in cluster.inputs["privateClusterConfig"]
    endpoint = cluster.outputs["privateClusterConfig"]["privateEndpoint"]
    assert rule.inputs == {
        "name": "astro-gpu-prod-kueue-webhook",
        "project": "acme-ml-prod",
        "network": vpc.outputs["selfLink"],
        "description": (
            "GKE control plane to Kueue's webhook (tcp:9443) on the stack's nodes (managed by "
            "Pulumi)"
        ),
        "direction": "INGRESS",
        "priority": 1000,
        "sourceRanges": [f"{endpoint}/32"],
        "targetServiceAccounts": [account],
        "allows": [{"protocol": "tcp", "ports": ["9443"]}],
        "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
    }
    assert rule.delete_before_replace is True
    # Evaluated before the network's deny-all, and the pools run as the account it targets.
    deny = prod.one(FIREWALL, "astro-gpu-prod-deny-all-ingress")
    assert rule.inputs["priority"] < deny.inputs["priority"] == 65534
    for pool in prod.of_type("gcp:container/nodePool:NodePool"):
        assert pool.inputs["nodeConfig"]["serviceAccount"] == account, pool.name
        assert "tags" not in pool.inputs["nodeConfig"], pool.name
    # Kueue's own objects are validated by that webhook: they wait for the rule.
    for r in prod.registrations:
        if r.type in (FLAVOR, CLUSTER_QUEUE, LOCAL_QUEUE):
            assert rule.urn in r.dependencies, r.name


def test_the_control_plane_range_is_the_peered_28_or_the_psc_endpoint() -> None:
    from types import SimpleNamespace

    from components.gke.kueue import control_plane_ranges

    peered = SimpleNamespace(
        master_ipv4_cidr_block="172.16.0.32/28", private_endpoint="172.16.0.34"
    )
    psc = SimpleNamespace(master_ipv4_cidr_block=None, private_endpoint="10.40.0.5")
    neither = SimpleNamespace(master_ipv4_cidr_block=None, private_endpoint=None)
    assert control_plane_ranges(peered) == ["172.16.0.32/28"]
    assert control_plane_ranges(psc) == ["10.40.0.5/32"]
    # A preview may not know yet; an update never sends an empty source (that would be 0.0.0.0/0).
    assert control_plane_ranges(neither, dry_run=True) == []
    with pytest.raises(ValueError, match="reports neither privateClusterConfig.masterIpv4Cidr"):
        control_plane_ranges(neither)
    with pytest.raises(ValueError, match="no source range for Kueue's webhook firewall rule"):
        control_plane_ranges(None)


def test_hints_carry_the_queue_label_and_the_queue_wait(
    prod: runner.Run, prod_inputs: dict[str, Any]
) -> None:
    hints = prod.outputs["gpu_scheduling"]
    dev = runner.run("dev").outputs["gpu_scheduling"]
    assert sorted(hints) == ["a100", "l4", "l4-any", "l4-flex", "l4-spot"]
    for name, hint in hints.items():
        assert hint["labels"] == {QUEUE_LABEL: "gpu"}, name
    # 30 minutes of queueing on top of the cold-start budget (KPO's schedule timeout runs while
    # Kueue holds the pod gated); dev (Kueue off) keeps the budget alone: 900 s for an L4 pool.
    assert prod_inputs["kueue"].get("queue_wait_minutes") is None
    assert dev["l4-spot"]["schedule_timeout_seconds"] == 900
    assert hints["l4-spot"]["schedule_timeout_seconds"] == 900 + 30 * 60
    assert "labels" not in dev["l4-spot"]
    # Class members select by gpu-pool only (Kueue adds the class label at admission).
    assert hints["l4"]["node_selector"] == {"gpu-pool": "l4"}
    assert hints["a100"]["node_selector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-tesla-a100",
        "gpu-pool": "a100",
    }


def test_quota_and_airflow_pool_leave_room_for_borrowing(
    prod: runner.Run, prod_inputs: dict[str, Any]
) -> None:
    quotas = {
        r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"]["requests.nvidia.com/gpu"]
        for r in prod.registrations
        if r.type == QUOTA
    }
    for d in prod_inputs["deployments"]:
        ceiling = d["gpu_quota"] + prod_inputs["kueue"]["deployments"][d["name"]]["borrowing_limit"]
        assert quotas[d["namespace"]] == str(ceiling)
        assert prod.outputs["airflow"][d["name"]]["airflow_pool"]["slots"] == ceiling
    assert quotas == {"airflow-ml-training": "12", "airflow-reporting": "3", "airflow-batch": "4"}


def test_dev_has_no_kueue() -> None:
    dev = runner.run("dev")
    assert not [r for r in dev.registrations if "kueue" in r.type.lower() or r.type == CHART]
    assert raw_platform("dev").get("kueue") is None


def test_a_first_preview_registers_the_same_objects(prod: runner.Run) -> None:
    mocks = InputsOnly()
    first = runner.run("prod", mocks=mocks, monitor=RecordingMonitor(mocks), preview=True)
    assert sorted((r.type, r.name) for r in first.registrations) == sorted(
        (r.type, r.name) for r in prod.registrations
    )


# --- Config errors: one keyed error each, before any resource ----------------------------


def _kueue(raw: dict[str, Any], **changes: Any) -> None:
    raw["kueue"].update(changes)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda raw: raw["kueue"]["deployments"].update(unknown={}),
            "deployments: no deployment named unknown",
        ),
        (
            lambda raw: raw["kueue"]["deployments"]["reporting"].update(lending_limit=2),
            "deployments.reporting.lending_limit 2 exceeds its gpu_quota 1",
        ),
        (
            lambda raw: raw["deployments"][0].update(gpu_quota=10),
            "the deployments' gpu_quota total 13 exceeds GPU pool l4-flex's capacity 12",
        ),
        (
            lambda raw: raw["kueue"]["deployments"]["ml-training"].update(borrowing_limit=5),
            "deployments.ml-training: gpu_quota 8 + borrowing_limit 5 exceeds GPU pool "
            "l4-flex's capacity 12",
        ),
        (
            lambda raw: raw["gpu_pools"][0].pop("zones"),
            "GPU pool l4 must list its zones",
        ),
        (
            lambda raw: _kueue(raw, provisioning_request={"pools": ["l4"]}),
            "provisioning_request.pools: l4 is not a flex-start GPU pool",
        ),
    ],
)
def test_unsafe_sharing_is_one_keyed_error(mutate: Any, fragment: str) -> None:
    assert_problem(problems(mutate, "prod"), "kueue", fragment)


NODE_POOL = "gcp:container/nodePool:NodePool"
QUEUED_TOLERATION = {
    "key": "cloud.google.com/gke-queued",
    "operator": "Equal",
    "value": "true",
    "effect": "NoSchedule",
}


def _queued(raw: dict[str, Any]) -> None:
    _kueue(raw, provisioning_request={"pools": ["l4-flex"]})


def test_queued_provisioning_is_set_on_the_checked_flex_start_pool_only(
    prod: runner.Run, run_with: Any
) -> None:
    """`kueue.provisioning_request.pools` (the existing flex-start shape, no per-pool key): that
    pool is created with queued_provisioning and every other setting GKE requires of it; the
    others, and prod as shipped (no provisioning_request), are not."""
    queued = run_with(_queued, "prod")
    pools = {r.name: r.inputs for r in queued.of_type(NODE_POOL)}
    flex = pools["astro-gpu-prod-l4-flex-pool"]
    assert flex["queuedProvisioning"] == {"enabled": True}
    assert flex["nodeConfig"]["flexStart"] is True
    assert flex["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 2, "locationPolicy": "ANY"}
    assert flex["initialNodeCount"] == 0
    assert flex["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert flex["management"] == {"autoRepair": False, "autoUpgrade": True}
    assert "placementPolicy" not in flex  # queued pools take no compact placement
    others = {n: i for n, i in pools.items() if n != "astro-gpu-prod-l4-flex-pool"}
    assert sorted(others) == [
        "astro-gpu-prod-a100-pool",
        "astro-gpu-prod-l4-pool",
        "astro-gpu-prod-l4-spot-pool",
        "astro-gpu-prod-system-pool",
    ]
    assert not [n for n, i in others.items() if "queuedProvisioning" in i]
    assert not [r.name for r in prod.of_type(NODE_POOL) if "queuedProvisioning" in r.inputs]
    # The pool's flavor tolerates GKE's queued taint (Kueue adds it at admission there only),
    # and only that flavor gets the ProvisioningRequest check.
    flavors = by_type(queued, FLAVOR)
    assert flavors["l4-flex"]["spec"]["tolerations"] == [
        GPU_TOLERATION,
        {**CLASS_TOLERATION, "value": "l4-any"},
        QUEUED_TOLERATION,
    ]
    for name in ("l4", "l4-spot", "a100"):
        assert QUEUED_TOLERATION not in flavors[name]["spec"]["tolerations"], name
    for cq in by_type(queued, CLUSTER_QUEUE).values():
        assert cq["spec"]["admissionChecksStrategy"] == {
            "admissionChecks": [{"name": "dws-prov", "onFlavors": ["l4-flex"]}]
        }


def test_turning_queued_provisioning_on_replaces_the_pool_beside_the_old_one(
    prod: runner.Run, run_with: Any
) -> None:
    """The change review (`make preview BASE=...`, offline/review.py) reads the provider's
    ForceNew (offline/forcenew_tables/container.py): the pool is replaced, create-before-delete
    under its generated name; the flavor and the ClusterQueues are updated in place; the class
    is updated to the new pool's name. Nothing else changes."""
    from offline import review

    changes = review.diff(prod.registrations, run_with(_queued, "prod").registrations)
    ops = {c.name: (c.op, c.properties) for c in changes}
    assert ops["astro-gpu-prod-l4-flex-pool"] == ("replace", ["queuedProvisioning"])
    (pool,) = [c for c in changes if c.name == "astro-gpu-prod-l4-flex-pool"]
    assert pool.replacement == review.CREATE_BEFORE_DELETE
    assert pool.notes == []
    replaced = sorted(c.name for c in changes if c.op == "replace")
    assert replaced == ["astro-gpu-prod-l4-flex-pool"]
    updated = sorted(c.name for c in changes if c.op == "update")
    assert "astro-gpu-prod-kueue-resourceflavor-l4-flex" in updated
    # The check and its config are new objects; nothing is deleted.
    assert sorted(c.name for c in changes if c.op == "create") == [
        "astro-gpu-prod-kueue-admissioncheck-dws-prov",
        "astro-gpu-prod-kueue-provisioningrequestconfig-dws-prov",
    ]
    assert not [c.name for c in changes if c.op == "delete"]


def test_the_queued_stack_is_covered_by_every_table(run_with: Any) -> None:
    """What prod registers with queued provisioning on has a ForceNew entry, a deploy-role entry
    and a day-2 decision (the shipped stacks alone never register the check's two kinds)."""
    from components.day0 import deploy_permissions
    from offline import forcenew
    from tests.test_day2 import DECISIONS

    queued = run_with(_queued, "prod")
    types = {r.type for r in queued.registrations if r.custom}
    assert {
        "kubernetes:kueue.x-k8s.io/v1beta2:AdmissionCheck",
        "kubernetes:kueue.x-k8s.io/v1beta2:ProvisioningRequestConfig",
    } <= types
    assert forcenew.coverage_gaps(queued.registrations) == []
    assert deploy_permissions.coverage_gaps(types) == []
    assert sorted(types - set(DECISIONS)) == []


def test_provisioning_request_without_kueue_is_one_keyed_error() -> None:
    found = problems(
        lambda raw: _kueue(raw, enabled=False, provisioning_request={"pools": ["l4-flex"]}), "prod"
    )
    assert found == {
        "kueue": "provisioning_request: only with kueue.enabled (a queued-provisioning pool gets "
        "nodes only through the ProvisioningRequests Kueue creates)"
    }


def test_a_repeated_provisioning_pool_is_one_keyed_error() -> None:
    found = problems(
        lambda raw: _kueue(raw, provisioning_request={"pools": ["l4-flex", "l4-flex"]}), "prod"
    )
    assert found == {"kueue.provisioning_request.pools": "pools must be unique"}


def test_a_bad_queued_pool_registers_nothing() -> None:
    monitor = RecordingMonitor(PlaceholderMocks())
    cfg = runner.stack_config("prod")
    platform = copy.deepcopy(cfg[CONFIG_KEY])
    _kueue(platform, provisioning_request={"pools": ["l4"]})
    with pytest.raises(Exception, match="provisioning_request.pools: l4 is not a flex-start"):
        runner.run("prod", config={**cfg, CONFIG_KEY: platform}, monitor=monitor)
    assert [r.type for r in monitor.registrations if r.custom] == []


def test_only_the_tested_release() -> None:
    found = problems(lambda raw: _kueue(raw, version="v0.18.0"), "prod")
    assert_problem(found, "kueue.version", "only Kueue v0.19.2 is tested")


def test_enabling_it_without_deployments_is_refused() -> None:
    raw = raw_platform("dev")
    raw["deployments"] = []
    raw["kueue"] = {"enabled": True}
    with pytest.raises(ConfigError) as exc:
        load(raw)
    assert (
        dict(exc.value.problems)["kueue"]
        == "enabled without deployments: there is nothing to queue"
    )


def test_the_rule_goes_into_the_networks_project() -> None:
    from components.gke.network import project_of

    assert project_of("projects/acme-host/global/networks/shared", "acme-ml-prod") == "acme-host"
    # The stack's own VPC (an output, its self link): the stack's project.
    assert project_of(pulumi.Output.from_input("x"), "acme-ml-prod") == "acme-ml-prod"
