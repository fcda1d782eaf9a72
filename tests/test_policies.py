"""The policy pack, driven through its real Analyzer gRPC service as the Pulumi engine drives it.

Inputs are the resources the stack program actually registers under mocks (dev and prod), and
mutated copies of them: each policy must flag its violation at its level and leave the compliant
original alone.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2
from pulumi.runtime.rpc import UNKNOWN

from components import catalog
from offline import runner
from offline.analyzer import PolicyPackServer, Verdict
from offline.mocks import Registration
from tests.test_day0_policies import DAY0_POLICIES

Mutation = Callable[[list[Registration]], list[Registration]]


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackServer]:
    with PolicyPackServer() as server:
        yield server


@pytest.fixture(scope="module")
def stacks() -> dict[str, runner.Run]:
    return {"dev": runner.run("dev"), "prod": runner.run("prod")}


def find(regs: list[Registration], type_suffix: str, name: str | None = None) -> Registration:
    found = [r for r in regs if r.type.endswith(type_suffix) and (name is None or r.name == name)]
    assert found, f"no {type_suffix} {name}"
    return found[0]


def edit(type_suffix: str, name: str | None, change: Callable[[dict[str, Any]], None]) -> Mutation:
    """Mutate the wire inputs of one registered resource."""

    def mutate(regs: list[Registration]) -> list[Registration]:
        target = find(regs, type_suffix, name)
        wire = copy.deepcopy(target.wire)
        change(wire)
        return [dataclasses.replace(r, wire=wire) if r is target else r for r in regs]

    return mutate


def add(type_: str, name: str, wire: dict[str, Any], parent_of: str | None = None) -> Mutation:
    def mutate(regs: list[Registration]) -> list[Registration]:
        parent = find(regs, parent_of).urn if parent_of else ""
        stack = runner.PROJECT
        urn = f"urn:pulumi:{regs[0].urn.split('::')[0].removeprefix('urn:pulumi:')}::{stack}::{type_}::{name}"
        new = Registration(
            type_, name, urn, parent, True, {}, {}, [], {}, False, [], "", set(), wire
        )
        return [*regs, new]

    return mutate


def remove(type_suffix: str, name: str | None = None) -> Mutation:
    def mutate(regs: list[Registration]) -> list[Registration]:
        target = find(regs, type_suffix, name)
        return [r for r in regs if r is not target]

    return mutate


def retype(type_suffix: str, new_type: str) -> Mutation:
    def mutate(regs: list[Registration]) -> list[Registration]:
        target = find(regs, type_suffix)
        return [dataclasses.replace(r, type=new_type) if r is target else r for r in regs]

    return mutate


def set_path(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(wire: dict[str, Any]) -> None:
        node = wire
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        if value is DELETE:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value

    return change


DELETE = object()
CLUSTER = "container/cluster:Cluster"
POOL = "container/nodePool:NodePool"
GPU_POOL_DEV = "astro-gpu-dev-l4-spot-pool"
ROLE = "rbac.authorization.k8s.io/v1:Role"
FIREWALL = "compute/firewall:Firewall"
BUCKET = "storage/bucket:Bucket"
BUCKET_IAM = "storage/bucketIAMMember:BucketIAMMember"


def _secret_payload(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(wire: dict[str, Any]) -> None:
        holder = wire["secretData"]
        text = holder["value"] if isinstance(holder, dict) else holder
        payload = json.loads(text)
        change(payload)
        wire["secretData"] = json.dumps(payload)

    return apply


def _open_to_the_world(wire: dict[str, Any]) -> None:
    wire["controlPlaneEndpointsConfig"]["ipEndpointsConfig"]["enabled"] = True
    wire["masterAuthorizedNetworksConfig"] = {
        "cidrBlocks": [{"cidrBlock": "0.0.0.0/0", "displayName": "all"}]
    }


def _add_token(payload: dict[str, Any]) -> None:
    payload["extra"]["kube_config"]["users"][0]["user"]["token"] = "ya29.static-token"


def _in_cluster_project_grant(regs: list[Registration]) -> list[Registration]:
    """A project-level grant under the in-cluster deployment, which needs none."""
    parent = find(regs, "airflow:DeploymentAccess", "astro-gpu-prod-batch-remote").urn
    grant = {"project": "acme-ml-prod", "role": "roles/container.developer", "member": "x"}
    added = add("gcp:projects/iAMMember:IAMMember", "batch-project-grant", grant)(regs)
    return [*added[:-1], dataclasses.replace(added[-1], parent=parent)]


# (policy, stack, level, mutation, message fragment, policy config)
CASES: list[tuple[str, str, str, Mutation, str, dict[str, Any]]] = [
    (
        "gke-private-nodes",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("privateClusterConfig", "enablePrivateNodes", value=False)),
        "enablePrivateNodes",
        {},
    ),
    (
        "gke-control-plane-not-public",
        "dev",
        "mandatory",
        edit(CLUSTER, None, _open_to_the_world),
        "0.0.0.0/0 opens the control plane to the internet",
        {},
    ),
    (
        "gke-workload-identity",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("workloadIdentityConfig", value=DELETE)),
        "workloadPool",
        {},
    ),
    (
        "gke-shielded-nodes",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("enableShieldedNodes", value=False)),
        "enableShieldedNodes",
        {},
    ),
    (
        "gke-network-policy",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("datapathProvider", value="LEGACY_DATAPATH")),
        "Dataplane V2",
        {},
    ),
    (
        "gke-release-channel",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("releaseChannel", "channel", value="UNSPECIFIED")),
        "releaseChannel",
        {},
    ),
    (
        "gke-no-client-certificate",
        "dev",
        "mandatory",
        edit(
            CLUSTER,
            None,
            set_path("masterAuth", "clientCertificateConfig", "issueClientCertificate", value=True),
        ),
        "issueClientCertificate",
        {},
    ),
    (
        "gke-legacy-abac-disabled",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("enableLegacyAbac", value=True)),
        "enableLegacyAbac",
        {},
    ),
    (
        "gke-logging-monitoring",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("loggingService", value="none")),
        "loggingService",
        {},
    ),
    (
        "gke-vpc-native",
        "dev",
        "mandatory",
        edit(CLUSTER, None, set_path("networkingMode", value="ROUTES")),
        "VPC-native",
        {},
    ),
    (
        "gke-labels",
        "dev",
        "advisory",
        edit(CLUSTER, None, set_path("resourceLabels", value={})),
        "resourceLabels",
        {},
    ),
    (
        "gke-deletion-protection-prod",
        "prod",
        "mandatory",
        edit(CLUSTER, None, set_path("deletionProtection", value=False)),
        "stack prod is production",
        {},
    ),
    (
        "gke-allowed-region",
        "dev",
        "mandatory",
        lambda regs: regs,
        "outside the allowed regions europe-west4",
        {"allowedRegions": ["europe-west4"]},
    ),
    (
        "node-gke-metadata-server",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            set_path("nodeConfig", "workloadMetadataConfig", "mode", value="GCE_METADATA"),
        ),
        "GKE_METADATA",
        {},
    ),
    (
        "node-secure-boot-integrity",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            set_path("nodeConfig", "shieldedInstanceConfig", "enableSecureBoot", value=False),
        ),
        "enableSecureBoot",
        {},
    ),
    (
        "node-auto-repair-upgrade",
        "dev",
        "mandatory",
        edit(POOL, GPU_POOL_DEV, set_path("management", "autoUpgrade", value=False)),
        "autoUpgrade",
        {},
    ),
    (
        "node-dedicated-service-account",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            set_path(
                "nodeConfig",
                "serviceAccount",
                value="123456789012-compute@developer.gserviceaccount.com",
            ),
        ),
        "default compute service account",
        {},
    ),
    (
        "gpu-pool-taint",
        "dev",
        "mandatory",
        edit(POOL, GPU_POOL_DEV, set_path("nodeConfig", "taints", value=[])),
        "nvidia.com/gpu=present:NoSchedule",
        {},
    ),
    (
        "gpu-accelerator-allowed",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            lambda w: w["nodeConfig"]["guestAccelerators"][0].update(type="nvidia-tesla-k80"),
        ),
        "nvidia-tesla-k80 is not allowed",
        {},
    ),
    (
        "gpu-max-nodes",
        "dev",
        "mandatory",
        edit(POOL, GPU_POOL_DEV, set_path("autoscaling", "maxNodeCount", value=64)),
        "64 exceeds the cap of 16",
        {},
    ),
    (
        "gpu-scale-to-zero-non-prod",
        "dev",
        "advisory",
        edit(POOL, GPU_POOL_DEV, set_path("autoscaling", "minNodeCount", value=1)),
        "scale to zero",
        {},
    ),
    (
        "iam-no-primitive-roles",
        "dev",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-dev-nodes-monitoring-metricWriter",
            set_path("role", value="roles/editor"),
        ),
        "roles/editor is a primitive role",
        {},
    ),
    (
        "iam-no-service-account-keys",
        "dev",
        "mandatory",
        add("gcp:serviceaccount/key:Key", "nodes-key", {"serviceAccountId": "astro-gpu-dev-nodes"}),
        "static credentials",
        {},
    ),
    (
        "iam-no-public-members",
        "dev",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-dev-nodes-monitoring-metricWriter",
            set_path("member", value="allAuthenticatedUsers"),
        ),
        "allAuthenticatedUsers makes this resource public",
        {},
    ),
    (
        "iam-no-project-level-impersonation",
        "dev",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-dev-analytics-cluster-access",
            set_path("role", value="roles/iam.serviceAccountTokenCreator"),
        ),
        "reaches every service account",
        {},
    ),
    (
        "iam-no-project-pod-permissions",
        "dev",
        "mandatory",
        edit(
            "projects/iAMCustomRole:IAMCustomRole",
            None,
            lambda w: w["permissions"].append("container.pods.create"),
        ),
        "container.pods.create in a project-level custom role",
        {},
    ),
    (
        "rbac-no-cluster-scope",
        "dev",
        "mandatory",
        retype(ROLE, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"),
        "ClusterRole grants across every namespace",
        {},
    ),
    (
        "rbac-no-wildcards",
        "dev",
        "mandatory",
        edit(ROLE, None, lambda w: w["rules"][0].update(verbs=["*"])),
        "rules[0].verbs contains '*'",
        {},
    ),
    (
        "rbac-no-secrets",
        "dev",
        "mandatory",
        edit(
            ROLE,
            None,
            lambda w: w["rules"].append(
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
            ),
        ),
        "grants access to secrets",
        {},
    ),
    (
        "rbac-no-escalation",
        "dev",
        "mandatory",
        edit(ROLE, None, lambda w: w["rules"][0]["verbs"].append("bind")),
        "grants bind",
        {},
    ),
    (
        "rbac-exec-only-with-xcom",
        "dev",
        "mandatory",
        edit(
            ROLE,
            None,
            set_path("metadata", "annotations", "astro-gke-gpu/do-xcom-push", value="false"),
        ),
        "pods/exec is granted but the deployment does not use do_xcom_push",
        {},
    ),
    (
        "secret-kubeconfig-no-static-credentials",
        "dev",
        "mandatory",
        edit("secretmanager/secretVersion:SecretVersion", None, _secret_payload(_add_token)),
        "holds static credentials (token)",
        {},
    ),
    (
        "secret-labels",
        "dev",
        "advisory",
        edit("secretmanager/secret:Secret", None, set_path("labels", value={})),
        "no labels",
        {},
    ),
    (
        "secret-no-public-access",
        "dev",
        "mandatory",
        edit(
            "secretmanager/secretIamMember:SecretIamMember",
            None,
            set_path("member", value="allUsers"),
        ),
        "allUsers could read this secret",
        {},
    ),
    (
        "gke-intranode-visibility-prod",
        "prod",
        "mandatory",
        edit(CLUSTER, None, set_path("enableIntranodeVisibility", value=False)),
        "stack prod is production: enableIntranodeVisibility must be true",
        {},
    ),
    (
        "gke-binary-authorization-prod",
        "prod",
        "mandatory",
        edit(CLUSTER, None, set_path("binaryAuthorization", "evaluationMode", value="DISABLED")),
        "must enforce the project policy, not DISABLED",
        {},
    ),
    (
        "firewall-no-world-ingress",
        "dev",
        "mandatory",
        edit(
            FIREWALL,
            None,
            set_path("allows", value=[{"protocol": "tcp", "ports": ["22"]}]),
        ),
        "an INGRESS rule that allows traffic must not take 0.0.0.0/0",
        {},
    ),
    (
        "firewall-logging",
        "dev",
        "mandatory",
        edit(FIREWALL, None, set_path("logConfig", value=DELETE)),
        "firewall rule logging must be on",
        {},
    ),
    (
        "network-explicit-deny-ingress",
        "dev",
        "mandatory",
        remove(FIREWALL),
        "network astro-gpu-dev has no explicit, logged deny-all INGRESS rule",
        {},
    ),
    (
        "kpo-pods-disruption-budget",
        "dev",
        "mandatory",
        edit("policy/v1:PodDisruptionBudget", None, set_path("spec", "maxUnavailable", value=1)),
        "a budget over KubernetesPodOperator pods must allow no disruption",
        {},
    ),
    (
        "gpu-compute-class-taint",
        "dev",
        "mandatory",
        edit(
            POOL,
            GPU_POOL_DEV,
            set_path("nodeConfig", "labels", "cloud.google.com/compute-class", value="l4-any"),
        ),
        "a pool in ComputeClass l4-any must also carry the taint cloud.google.com/compute-class=l4-any:NoSchedule",
        {},
    ),
    (
        "gpu-flex-start-pool",
        "dev",
        "mandatory",
        edit(POOL, GPU_POOL_DEV, set_path("nodeConfig", "flexStart", value=True)),
        "a flex-start pool cannot also be spot.",
        {},
    ),
    (
        "gpu-zone-offers-accelerator",
        "dev",
        "advisory",
        edit(POOL, GPU_POOL_DEV, set_path("nodeLocations", value=["us-central1-f"])),
        "us-central1-f do(es) not offer nvidia-l4 as far as the catalog knows",
        {},
    ),
    (
        "stack-gpu-pool-has-cpu-pool",
        "dev",
        "mandatory",
        remove(POOL, "astro-gpu-dev-system-pool"),
        "has no CPU pool beside it",
        {},
    ),
    (
        "stack-airflow-deployment-complete",
        "dev",
        "mandatory",
        remove("rbac.authorization.k8s.io/v1:RoleBinding"),
        "lacks its RoleBinding",
        {},
    ),
    (
        "stack-airflow-deployment-complete",
        "dev",
        "mandatory",
        remove("policy/v1:PodDisruptionBudget"),
        "lacks its PodDisruptionBudget",
        {},
    ),
    (
        "stack-launcher-only-cluster-role",
        "dev",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-dev-analytics-cluster-access",
            set_path("role", value="roles/container.developer"),
        ),
        "gets roles/container.developer on the project",
        {},
    ),
    # --- Remote Execution (prod's batch-remote: agent in the cluster) ---
    (
        "xcom-bucket-hardened",
        "prod",
        "mandatory",
        edit(BUCKET, None, set_path("publicAccessPrevention", value="inherited")),
        "publicAccessPrevention must be 'enforced'",
        {},
    ),
    (
        "xcom-bucket-hardened",
        "prod",
        "mandatory",
        edit(BUCKET, None, set_path("uniformBucketLevelAccess", value=False)),
        "uniformBucketLevelAccess must be true",
        {},
    ),
    (
        "xcom-bucket-expires-objects",
        "prod",
        "mandatory",
        edit(BUCKET, None, set_path("lifecycleRules", value=[])),
        "no lifecycle rule deletes objects after an age in days",
        {},
    ),
    (
        "storage-grants-bucket-scoped",
        "prod",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-prod-ml-training-cluster-access",
            set_path("role", value="roles/storage.objectUser"),
        ),
        "roles/storage.objectUser on the project reaches every bucket",
        {},
    ),
    (
        "storage-grants-bucket-scoped",
        "prod",
        "mandatory",
        edit(BUCKET_IAM, None, set_path("role", value="roles/storage.admin")),
        "roles/storage.admin administers the bucket",
        {},
    ),
    (
        "iam-no-public-members",
        "prod",
        "mandatory",
        edit(BUCKET_IAM, None, set_path("member", value="allUsers")),
        "allUsers makes this resource public",
        {},
    ),
    (
        "rbac-service-account-subject-isolated",
        "prod",
        "mandatory",
        edit(
            "rbac.authorization.k8s.io/v1:RoleBinding",
            "astro-gpu-prod-batch-remote-binding",
            lambda w: w["subjects"][0].update(namespace="airflow-batch"),
        ),
        "service account astro-agent-worker lives in the namespace it may launch pods in",
        {},
    ),
    (
        "rbac-service-account-subject-isolated",
        "prod",
        "mandatory",
        edit(
            "rbac.authorization.k8s.io/v1:RoleBinding",
            "astro-gpu-prod-batch-remote-binding",
            lambda w: w["subjects"][1].update(name="default"),
        ),
        "subjects[1] is a `default` service account",
        {},
    ),
    (
        "stack-remote-agent-isolated",
        "prod",
        "mandatory",
        add(
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            "foreign-xcom-reader",
            {
                "bucket": "acme-ml-prod-batch-remote-xcom",
                "role": "roles/storage.objectViewer",
                "member": "serviceAccount:ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com",
            },
        ),
        "foreign-xcom-reader grants on the XCom bucket of astro-gpu-prod-batch-remote-agent from "
        "outside it",
        {},
    ),
    (
        "stack-remote-agent-isolated",
        "prod",
        "mandatory",
        remove(BUCKET),
        "remote agent astro-gpu-prod-batch-remote-agent has 0 XCom buckets; expected 1",
        {},
    ),
    (
        "secret-kubeconfig-no-static-credentials",
        "prod",
        "mandatory",
        edit(
            "secretmanager/secretVersion:SecretVersion",
            "astro-gpu-prod-batch-remote-connection-v",
            _secret_payload(lambda p: p["extra"].update(kube_config={"users": []})),
        ),
        "sets both in_cluster and kube_config",
        {},
    ),
    (
        "stack-launcher-only-cluster-role",
        "prod",
        "mandatory",
        _in_cluster_project_grant,
        "the launcher of astro-gpu-prod-batch-remote gets roles/container.developer on the project",
        {},
    ),
]


def verdicts_for(
    pack: PolicyPackServer, regs: list[Registration], config: dict[str, Any], policy: str
) -> list[Verdict]:
    pack.configure({policy: config} if config else {})
    try:
        return [v for v in pack.analyze_all(regs) if v.policy == policy]
    finally:
        pack.configure({})


@pytest.mark.parametrize(
    ("policy", "stack", "level", "mutate", "fragment", "config"), CASES, ids=[c[0] for c in CASES]
)
def test_each_policy_flags_its_violation_and_spares_the_original(
    pack: PolicyPackServer,
    stacks: dict[str, runner.Run],
    policy: str,
    stack: str,
    level: str,
    mutate: Mutation,
    fragment: str,
    config: dict[str, Any],
) -> None:
    original = stacks[stack].registrations
    if not config:  # a config-driven case's original is the same resources under default config
        assert verdicts_for(pack, original, {}, policy) == []
    found = verdicts_for(pack, mutate(list(original)), config, policy)
    assert found, f"{policy} did not fire"
    assert {v.level for v in found} == {level}
    assert any(fragment in v.message for v in found), [v.message for v in found]


def test_zone_advisory_stays_silent_for_accelerators_the_table_does_not_track(
    pack: PolicyPackServer, stacks: dict[str, runner.Run]
) -> None:
    """T4 is in no zone entry: a T4 pool in a listed zone is unknown, not wrong (L4 there is)."""
    policy = "gpu-zone-offers-accelerator"

    def accelerator(kind: str) -> Callable[[dict[str, Any]], None]:
        def change(wire: dict[str, Any]) -> None:
            wire["nodeLocations"] = ["us-central1-f"]
            wire["nodeConfig"]["guestAccelerators"][0]["type"] = kind

        return change

    original = stacks["dev"].registrations
    t4 = edit(POOL, GPU_POOL_DEV, accelerator("nvidia-tesla-t4"))(list(original))
    assert verdicts_for(pack, t4, {}, policy) == []
    l4 = edit(POOL, GPU_POOL_DEV, accelerator("nvidia-l4"))(list(original))
    assert [v.message for v in verdicts_for(pack, l4, {}, policy)] == [
        "Each zone of a GPU pool offers its accelerator.\n"
        "us-central1-f do(es) not offer nvidia-l4 as far as the catalog knows; check `gcloud "
        "compute accelerator-types list` before relying on it."
    ]


# Policies whose violation cases live in their own module's tests (tests/test_observability.py).
CASES_ELSEWHERE = {"gpu-pool-dcgm-metrics", "rbac-cluster-binding-read-only"}


def test_every_policy_has_a_violation_case(pack: PolicyPackServer) -> None:
    names = {p.name for p in pack.info().policies}
    assert (
        names == {c[0] for c in CASES} | CASES_ELSEWHERE | DAY0_POLICIES
    )  # day-0 cases: test_day0_policies.py


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_pass_every_policy(
    pack: PolicyPackServer, stacks: dict[str, runner.Run], stack: str
) -> None:
    assert pack.analyze_all(stacks[stack].registrations) == []


def test_pack_metadata(pack: PolicyPackServer) -> None:
    info = pack.info()
    assert info.name == "astro-gke-gpu-policies"
    assert info.supportsConfig
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert {n for n, lvl in levels.items() if lvl == analyzer_pb2.ADVISORY} == {
        "gke-labels",
        "gpu-pool-dcgm-metrics",
        "gpu-scale-to-zero-non-prod",
        "gpu-zone-offers-accelerator",
        "secret-labels",
    }
    assert all(lvl in (analyzer_pb2.ADVISORY, analyzer_pb2.MANDATORY) for lvl in levels.values())
    for p in info.policies:
        assert p.description.endswith(".") and len(p.description.split(". ")) == 1, p.name
    tagged = {p.name: list(p.tags) for p in info.policies}
    assert tagged["gke-private-nodes"] == ["CIS GKE 5.6.5", "CKV_GCP_64"]
    assert tagged["iam-no-service-account-keys"] == ["CIS GCP 1.4", "CKV2_GCP_3"]


def test_config_schema_and_defaults_without_config(
    pack: PolicyPackServer, stacks: dict[str, runner.Run]
) -> None:
    schemas = {p.name: p.configSchema for p in pack.info().policies}
    assert set(schemas["gpu-accelerator-allowed"].properties) == {"allowedAcceleratorTypes"}
    assert set(schemas["gpu-max-nodes"].properties) == {"maxNodesPerPool"}
    assert set(schemas["gke-allowed-region"].properties) == {"allowedRegions"}
    assert set(schemas["gke-deletion-protection-prod"].properties) == {"prodStacks"}
    # The SDK applies no schema defaults: with no config at all, the pack's own defaults hold.
    pack.configure({})
    assert pack.analyze_all(stacks["prod"].registrations) == []


def test_default_accelerators_match_the_stack_catalog() -> None:
    from astro_gke_policies import gke

    assert set(gke.DEFAULT_ACCELERATORS) == set(catalog.ACCELERATORS)
    assert {"nvidia-gb200", "nvidia-rtx-pro-6000"} <= set(gke.DEFAULT_ACCELERATORS)


def test_pack_gpu_zones_match_the_stack_catalog() -> None:
    from astro_gke_policies import capacity

    assert capacity.GPU_ZONES == catalog.GPU_ZONES


def test_prod_stacks_is_configurable(pack: PolicyPackServer, stacks: dict[str, runner.Run]) -> None:
    found = verdicts_for(
        pack, stacks["dev"].registrations, {"prodStacks": ["dev"]}, "gke-deletion-protection-prod"
    )
    # The SDK sends "<description>\n<message>".
    assert [(v.level, v.message) for v in found] == [
        (
            "mandatory",
            "Production clusters have deletion protection on.\n"
            "stack dev is production: deletionProtection must be true.",
        )
    ]


def test_stricter_caps_by_config(pack: PolicyPackServer, stacks: dict[str, runner.Run]) -> None:
    found = verdicts_for(pack, stacks["dev"].registrations, {"maxNodesPerPool": 1}, "gpu-max-nodes")
    assert [v.message.splitlines()[-1] for v in found] == [
        "autoscaling.maxNodeCount 2 exceeds the cap of 1 GPU nodes per pool."
    ]
    found = verdicts_for(
        pack,
        stacks["dev"].registrations,
        {"allowedAcceleratorTypes": ["nvidia-tesla-t4"]},
        "gpu-accelerator-allowed",
    )
    assert [v.message.splitlines()[-1] for v in found] == [
        "accelerator nvidia-l4 is not allowed (allowed: nvidia-tesla-t4)."
    ]


def test_unknown_values_never_crash_the_pack(
    pack: PolicyPackServer, stacks: dict[str, runner.Run]
) -> None:
    """Every top-level property of every resource made unknown in turn (as during preview):
    the analyzer answers every call, and anything it reports for unknowns is advisory."""
    calls = 0
    deferred: set[str] = set()
    for run in stacks.values():
        for r in run.registrations:
            for key in r.wire:
                verdicts = pack.analyze(r, {**r.wire, key: UNKNOWN})
                calls += 1
                unknown = [v for v in verdicts if "during preview" in v.message]
                assert all(v.level == "advisory" for v in unknown), unknown
                deferred |= {v.policy for v in unknown}
        everything_unknown = [
            dataclasses.replace(r, wire={k: UNKNOWN for k in r.wire}) for r in run.registrations
        ]
        stack_verdicts = pack.analyze_stack(everything_unknown)
        assert all(v.level == "advisory" for v in stack_verdicts), stack_verdicts
        assert {v.policy for v in stack_verdicts} >= {
            "stack-gpu-pool-has-cpu-pool",
            "stack-launcher-only-cluster-role",
        }
    assert calls > 200
    # The unknown path was really taken, by most resource policies, not skipped.
    assert len(deferred) >= 25, sorted(deferred)


# --- robustness: odd property values never crash the pack ---------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**31), 2**31),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=5,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        if SECRET_SIG_KEY in value:  # a secret envelope: the engine always sends it well-formed
            return [prefix]
        return [prefix] + [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [prefix] + [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_odd_property_values_never_crash_the_pack(
    pack: PolicyPackServer, stacks: dict[str, runner.Run], data: st.DataObject
) -> None:
    """Any registered resource with any property replaced by any JSON value: the analyzer answers
    (a crash would fail every `pulumi preview` using the pack) and reports at a known level."""
    run = stacks[data.draw(st.sampled_from(["dev", "prod"]))]
    r = data.draw(st.sampled_from([r for r in run.registrations if r.wire]))
    path = data.draw(st.sampled_from([p for p in _paths(r.wire) if p]))
    wire = copy.deepcopy(r.wire)
    node: Any = wire
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(json_values)
    verdicts = pack.analyze(r, wire)  # raises grpc.RpcError if a policy crashed
    assert all(v.level in ("mandatory", "advisory") for v in verdicts)


ODD_VALUES: list[Any] = [None, True, 0, 1.5, "", "x", [], {}, [1, "a"], {"a": 1}]


def test_every_property_path_with_odd_values_never_crashes(
    pack: PolicyPackServer, stacks: dict[str, runner.Run]
) -> None:
    """Systematic sweep (the hypothesis test above samples; this covers every path): each property
    path of each dev resource, replaced by each of ten awkward values, gets an answer."""
    calls = 0
    for r in stacks["dev"].registrations:
        for path in (p for p in _paths(r.wire) if p):
            for value in ODD_VALUES:
                wire = copy.deepcopy(r.wire)
                node: Any = wire
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = value
                pack.analyze(r, wire)  # raises grpc.RpcError if a policy crashed
                calls += 1
    assert calls > 1000
