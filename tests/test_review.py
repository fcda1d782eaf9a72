"""The offline change review (offline/review.py, `make preview BASE=<ref>`): hand-made pairs of
configs, run in-process, compared as a `pulumi up` would apply them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from offline import review, runner
from offline.mocks import Registration
from offline.review import CREATE_BEFORE_DELETE, DELETE_BEFORE_REPLACE, Change

RunWith = Callable[..., runner.Run]

CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
K8S_PROVIDER = "pulumi:providers:kubernetes"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
GPU_POOL_PATH = "nodeConfig.guestAccelerators[0]"


def ops(changes: list[Change]) -> dict[str, tuple[str, list[str]]]:
    return {c.name: (c.op, c.properties) for c in changes}


def urn_of(run: runner.Run, type_: str, name: str) -> str:
    return run.one(type_, name).urn


# --- hand-made config pairs ---------------------------------------------------------------------


def test_no_change_no_changes(dev: runner.Run, run_with: RunWith) -> None:
    assert review.diff(dev.registrations, run_with(lambda p: None).registrations) == []


def test_scaling_a_pool_is_an_update_of_that_pool_only(dev: runner.Run, run_with: RunWith) -> None:
    def scale(p: dict[str, Any]) -> None:
        p["gpu_pools"][0].update(min_nodes=1, max_nodes=4)

    changes = review.diff(dev.registrations, run_with(scale).registrations)
    # min_nodes also sets the pool's initialNodeCount, which the pool ignores (ForceNew). The
    # pool's idle-GPU alert follows its new warm minimum (components/observability/alerts.py), in place.
    assert ops(changes) == {
        "astro-gpu-dev-l4-spot-pool": (
            "update",
            ["autoscaling.maxNodeCount", "autoscaling.minNodeCount"],
        ),
        "astro-gpu-dev-observability-idle-l4-spot": (
            "update",
            [
                "conditions[0].conditionPrometheusQueryLanguage.query",
                "conditions[0].displayName",
                "documentation.content",
                "documentation.subject",
            ],
        ),
    }
    assert all(c.replacement is None and c.hurts == "" for c in changes)


def test_a_machine_type_with_the_same_gpus_is_an_in_place_update(
    dev: runner.Run, run_with: RunWith
) -> None:
    # g2-standard-8 and -12 both carry one L4: only node_config.machine_type changes, which the
    # provider updates in place (a rolling node migration), no new pool.
    def bigger(p: dict[str, Any]) -> None:
        p["gpu_pools"][0]["machine_type"] = "g2-standard-12"

    changes = review.diff(dev.registrations, run_with(bigger).registrations)
    assert ops(changes) == {"astro-gpu-dev-l4-spot-pool": ("update", ["nodeConfig.machineType"])}


def test_a_machine_type_with_more_gpus_replaces_that_pool_and_nothing_else(
    dev: runner.Run, run_with: RunWith
) -> None:
    def two_gpus(p: dict[str, Any]) -> None:
        p["gpu_pools"][0].update(machine_type="g2-standard-24", accelerator_count=2)

    changes = review.diff(dev.registrations, run_with(two_gpus).registrations)
    assert ops(changes) == {
        "astro-gpu-dev-l4-spot-pool": ("replace", [f"{GPU_POOL_PATH}.count"]),
    }
    (pool,) = changes
    assert pool.replacement == CREATE_BEFORE_DELETE
    assert pool.hurts == "GPU node pool astro-gpu-dev-l4-spot"
    # The machine type changes too, in place; only the GPU count forces the new pool.
    assert sorted((p.rendered, p.replaces) for p in pool.changes) == [
        (f"{GPU_POOL_PATH}.count", True),
        ("nodeConfig.machineType", False),
    ]
    # A generated name (namePrefix): the new pool comes up beside the old one, no collision.
    assert pool.notes == []


def test_bumping_the_driver_replaces_the_pool(prod: runner.Run, run_with: RunWith) -> None:
    def latest(p: dict[str, Any]) -> None:
        assert p["gpu_pools"][0]["driver_version"] == "DEFAULT"
        p["gpu_pools"][0]["driver_version"] = "LATEST"

    changes = review.diff(prod.registrations, run_with(latest, "prod").registrations)
    path = f"{GPU_POOL_PATH}.gpuDriverInstallationConfig.gpuDriverVersion"
    # The pool is replaced; its ComputeClass (l4-any) is updated to list the new pool's
    # generated name (known after apply), never replaced.
    assert ops(changes) == {
        "astro-gpu-prod-l4-pool": ("replace", [path]),
        "astro-gpu-prod-l4-any-class": ("update", ["spec.priorities[1].nodepools[0]"]),
    }
    pool = next(c for c in changes if c.name == "astro-gpu-prod-l4-pool")
    assert pool.hurts == "GPU node pool astro-gpu-prod-l4"


def test_moving_the_cluster_to_another_zone_replaces_it_and_what_hangs_off_it(
    dev: runner.Run, run_with: RunWith
) -> None:
    def zone_b(p: dict[str, Any]) -> None:
        p["location"] = "us-central1-b"

    head = run_with(zone_b)
    changes = review.diff(dev.registrations, head.registrations)
    by_urn = {c.urn: c for c in changes}
    provider = head.one(K8S_PROVIDER)
    managed = {r.urn for r in head.registrations if r.provider.startswith(provider.urn + "::")}
    version = head.one(SECRET_VERSION)
    pools = {r.urn for r in head.of_type(POOL)}
    cluster = head.one(CLUSTER).urn
    # Exactly: the cluster, its pools, the Kubernetes provider (its kubeconfig is only known
    # after the new cluster exists, so its DiffConfig replaces it) and everything it manages,
    # and the connection secret's version (its data embeds the cluster endpoint). The network,
    # the identities and the IAM grants stay.
    assert set(by_urn) == {cluster, provider.urn, version.urn} | pools | managed
    assert len(pools) == 2 and len(managed) >= 7
    assert all(c.op == "replace" for c in changes)
    assert by_urn[cluster].properties == ["location"]
    assert by_urn[cluster].replacement == DELETE_BEFORE_REPLACE  # a fixed name
    for pool in pools:
        assert by_urn[pool].properties == ["cluster", "location"]
        assert by_urn[pool].caused_by == [cluster]
    assert by_urn[provider.urn].properties == ["kubeconfig"]
    for urn in managed:
        assert by_urn[urn].properties == ["(provider)"]
        assert by_urn[urn].caused_by == [provider.urn]
    assert by_urn[version.urn].properties == ["secretData"]
    hurting = {c.name: c.hurts for c in changes if c.hurts}
    assert hurting == {
        "astro-gpu-dev-gke": "the cluster",
        "astro-gpu-dev-l4-spot-pool": "GPU node pool astro-gpu-dev-l4-spot",
        "astro-gpu-dev-analytics-namespace": "deployment astro-gpu-dev-analytics: its namespace",
    }


def test_removing_a_deployment_deletes_exactly_its_objects(
    prod: runner.Run, run_with: RunWith
) -> None:
    def drop(p: dict[str, Any]) -> None:
        p["deployments"] = [d for d in p["deployments"] if d["name"] != "reporting"]
        p["kueue"]["deployments"].pop("reporting")  # its Kueue limits go with it

    changes = review.diff(prod.registrations, run_with(drop, "prod").registrations)
    component = prod.one(review.DEPLOYMENT, "astro-gpu-prod-reporting")
    by_urn = {r.urn: r for r in prod.registrations}

    def under(r: Registration) -> bool:
        while r.parent in by_urn:
            if r.parent == component.urn:
                return True
            r = by_urn[r.parent]
        return False

    objects = {component.urn} | {r.urn for r in prod.registrations if under(r)}
    # The quota alert and the dashboard stop naming its namespace: updated in place. Its Kueue
    # queues (prod shares GPUs: docs/gpu-sharing.md) go with it.
    assert {(c.name, c.op) for c in changes if c.urn not in objects} == {
        ("astro-gpu-prod-observability-gpu-quota", "update"),
        ("astro-gpu-prod-observability-dashboard", "update"),
        ("astro-gpu-prod-kueue-clusterqueue-reporting", "delete"),
        ("astro-gpu-prod-kueue-localqueue-airflow-reporting-gpu", "delete"),
    }
    changes = [c for c in changes if c.urn in objects]
    assert {c.urn for c in changes} == objects
    assert len(objects) >= 11
    assert {c.op for c in changes} == {"delete"}
    assert {c.name: c.hurts for c in changes if c.hurts} == {
        "astro-gpu-prod-reporting-connection": "deployment astro-gpu-prod-reporting: its "
        "connection secret",
        "astro-gpu-prod-reporting-namespace": "deployment astro-gpu-prod-reporting: its namespace",
    }
    # prod protects both: the `pulumi up` itself would stop there.
    protected = "protected: `pulumi up` fails on this delete"
    assert {c.name for c in changes if protected in c.notes} == {
        "astro-gpu-prod-reporting-connection",
        "astro-gpu-prod-reporting-namespace",
    }


def test_a_new_node_identity_replaces_pools_and_grants_but_not_the_cluster(
    dev: runner.Run, run_with: RunWith
) -> None:
    def new_account(p: dict[str, Any]) -> None:
        p["node_service_account"]["account_id"] = "astro-gpu-dev-nodes2"

    changes = review.diff(dev.registrations, run_with(new_account).registrations)
    # The cluster's nodeConfig.serviceAccount follows the account too, but the cluster ignores
    # nodeConfig (ignore_changes): no diff there, so no cluster replacement.
    # The account itself is the bootstrap's (protected there): the main stack follows its email.
    assert ops(changes) == {
        "astro-gpu-dev-l4-spot-pool": ("replace", ["nodeConfig.serviceAccount"]),
        "astro-gpu-dev-system-pool": ("replace", ["nodeConfig.serviceAccount"]),
        "astro-gpu-dev-nodes-container-defaultNodeServiceAccount": ("replace", ["member"]),
        "astro-gpu-dev-nodes-monitoring-metricWriter": ("replace", ["member"]),
        "astro-gpu-dev-nodes-stackdriver-resourceMetadata-writer": ("replace", ["member"]),
    }
    pool = next(c for c in changes if c.name == "astro-gpu-dev-system-pool")
    (prop,) = pool.changes
    # Known in the plan (a computed email, no longer an account's output): the new value shows.
    assert not prop.unknown
    assert prop.new == "astro-gpu-dev-nodes2@acme-ml-dev.iam.gserviceaccount.com"


def test_growing_the_subnet_is_an_update_shrinking_it_replaces(
    dev: runner.Run, run_with: RunWith
) -> None:
    def cidr(value: str) -> Callable[[dict[str, Any]], None]:
        return lambda p: p["network"].update(subnet_cidr=value)

    grow = review.diff(dev.registrations, run_with(cidr("10.10.0.0/19")).registrations)
    assert ops(grow) == {"astro-gpu-dev-subnet": ("update", ["ipCidrRange"])}
    shrink = review.diff(dev.registrations, run_with(cidr("10.10.0.0/21")).registrations)
    assert ops(shrink)["astro-gpu-dev-subnet"] == ("replace", ["ipCidrRange"])
    assert ops(shrink)["astro-gpu-dev-gke"] == ("replace", ["subnetwork"])


def test_secrets_are_never_shown(dev: runner.Run, run_with: RunWith) -> None:
    def move(p: dict[str, Any]) -> None:
        p["deployments"][0]["namespace"] = "airflow-analytics-2"

    head = run_with(move)
    r = review.review(dev.registrations, head.registrations, stack="dev", prod_stacks=["prod"])
    version = next(c for c in r.changes if c.type == SECRET_VERSION)
    assert version.properties == ["secretData"]
    text = review.render_text(r)
    assert "          secretData: [secret] changed  [forces replacement]" in text.splitlines()
    for secret in (dev.one(SECRET_VERSION), head.one(SECRET_VERSION)):
        data = secret.inputs["secretData"]
        assert len(data) > 20 and "airflow-analytics" in data
        assert data not in text and json.dumps(data) not in text
        assert data not in json.dumps(review.to_json(r))


# --- prod: refusal and override ----------------------------------------------------------------


def test_prod_refuses_unmarked_hurting_changes_and_allow_replace_overrides(
    prod: runner.Run, run_with: RunWith
) -> None:
    def latest(p: dict[str, Any]) -> None:
        p["gpu_pools"][0]["driver_version"] = "LATEST"

    head = run_with(latest, "prod").registrations
    pool = urn_of(prod, POOL, "astro-gpu-prod-l4-pool")
    refused = review.review(prod.registrations, head, stack="prod", prod_stacks=["prod"])
    assert [c.urn for c in refused.refused] == [pool]
    text = review.render_text(refused)
    assert "!! prod is a production stack (the policy pack's prodStacks): refused (exit 3)." in text
    assert f"!!     ALLOW_REPLACE='{pool}'" in text.splitlines()

    allowed = review.review(
        prod.registrations, head, stack="prod", prod_stacks=["prod"], allow=[pool]
    )
    assert allowed.refused == [] and [c.urn for c in allowed.hurting] == [pool]
    assert "!! Every one is marked intended (ALLOW_REPLACE)." in review.render_text(allowed)
    # A non-production stack flags the same change but does not refuse it.
    dev_like = review.review(prod.registrations, head, stack="prod", prod_stacks=["production"])
    assert dev_like.refused == [] and len(dev_like.hurting) == 1


def test_allow_replace_naming_no_hurting_change_is_reported(
    prod: runner.Run, run_with: RunWith
) -> None:
    r = review.review(
        prod.registrations,
        run_with(lambda p: None, "prod").registrations,
        stack="prod",
        prod_stacks=["prod"],
        allow=["urn:pulumi:prod::astro-gke-gpu::typo"],
    )
    assert r.unmatched_allowed == ["urn:pulumi:prod::astro-gke-gpu::typo"]
    assert review.render_text(r).splitlines()[-1] == (
        "warning: ALLOW_REPLACE names urn:pulumi:prod::astro-gke-gpu::typo, which is no "
        "hurting change"
    )


def test_the_hurting_rules_name_types_the_stack_registers(prod: runner.Run) -> None:
    types = {r.type for r in prod.registrations}
    assert {review.GPU_POOL, review.DEPLOYMENT, review.CLUSTER, review.NODE_POOL} <= types
    assert {review.REMOTE_AGENT} <= types
    assert set(review.DEPLOYMENT_PARTS) <= types
    # The one rule for a type the stack no longer registers: an account of a base from before the
    # bootstrap owned them (docs/day0.md, "Migrating"; tests/test_day0_accounts.py).
    assert review.ACCOUNT not in types
    assert set(review.AGENT_PARTS) <= types


def test_removing_a_remote_deployment_names_its_agents_live_objects(
    prod: runner.Run, run_with: RunWith
) -> None:
    """An agent in this cluster runs in its namespace, as its service accounts, with its XComs in
    its bucket: deleting any of them breaks it, so each is named (and refused in prod)."""

    def drop(p: dict[str, Any]) -> None:
        p["deployments"] = [d for d in p["deployments"] if d["name"] != "batch-remote"]
        p["kueue"]["deployments"].pop("batch-remote")  # its Kueue limits go with it

    changes = review.diff(prod.registrations, run_with(drop, "prod").registrations)
    owner = "deployment astro-gpu-prod-batch-remote: its"
    agent = "astro-gpu-prod-batch-remote-agent"
    assert {c.name: c.hurts for c in changes if c.hurts} == {
        "astro-gpu-prod-batch-remote-connection": f"{owner} connection secret",
        "astro-gpu-prod-batch-remote-namespace": f"{owner} namespace",
        f"{agent}-namespace": f"{owner} agent namespace {agent}-namespace",
        f"{agent}-ksa-astro-agent-worker": (
            f"{owner} agent service account {agent}-ksa-astro-agent-worker"
        ),
        f"{agent}-ksa-astro-agent-triggerer": (
            f"{owner} agent service account {agent}-ksa-astro-agent-triggerer"
        ),
        f"{agent}-xcom": f"{owner} XCom bucket {agent}-xcom",
    }
    assert {c.op for c in changes if c.hurts} == {"delete"}


# --- hand-made registrations: options and paths -----------------------------------------------


def reg(type_: str, name: str, inputs: dict[str, Any], **options: Any) -> Registration:
    r = Registration(
        type_,
        name,
        f"urn:pulumi:t::p::{type_}::{name}",
        "",
        True,
        inputs,
        {},
        [],
        {},
        False,
        [],
        "",
    )
    for key, value in options.items():
        setattr(r, key, value)
    return r


ACCOUNT = "gcp:serviceaccount/account:Account"


def test_replace_on_changes_and_ignore_changes_are_honoured() -> None:
    old = reg(ACCOUNT, "a", {"accountId": "a", "description": "x", "displayName": "d"})
    new = reg(ACCOUNT, "a", {"accountId": "a", "description": "y", "displayName": "e"})
    assert ops(review.diff([old], [new])) == {"a": ("update", ["description", "displayName"])}
    new.replace_on_changes = ["description"]
    assert ops(review.diff([old], [new])) == {"a": ("replace", ["description"])}
    new.ignore_changes = ["description", "displayName"]
    assert review.diff([old], [new]) == []


def test_create_before_delete_with_a_fixed_name_is_flagged() -> None:
    inputs = {"cluster": "c", "name": "gpu", "location": "z1", "nodeConfig": {"spot": False}}
    old = reg(POOL, "p", inputs)
    new = reg(POOL, "p", {**inputs, "nodeConfig": {"spot": True}})
    (change,) = review.diff([old], [new])
    assert change.replacement == CREATE_BEFORE_DELETE
    assert change.notes == [
        "create-before-delete keeps cluster=c, name=gpu: the replacement cannot be created "
        "beside the old one (already exists); set delete_before_replace or let the provider "
        "generate the name"
    ]
    new.delete_before_replace = True
    (change,) = review.diff([old], [new])
    assert change.replacement == DELETE_BEFORE_REPLACE and change.notes == []


def test_kubernetes_objects_keeping_their_name_are_replaced_delete_first() -> None:
    rb = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
    meta = {"name": "b", "namespace": "ns"}
    old = reg(rb, "b", {"metadata": meta, "roleRef": {"name": "r1"}})
    new = reg(rb, "b", {"metadata": meta, "roleRef": {"name": "r2"}})
    (change,) = review.diff([old], [new])
    assert (change.op, change.properties, change.replacement) == (
        "replace",
        ["roleRef.name"],
        DELETE_BEFORE_REPLACE,
    )


def test_a_moved_resource_shows_as_a_delete_and_a_create_and_is_called_a_rename() -> None:
    old = reg(ACCOUNT, "a", {"accountId": "a"})
    new = reg(ACCOUNT, "a", {"accountId": "a"})
    new.urn = "urn:pulumi:t::p::astro-gke-gpu:x:Parent$" + ACCOUNT + "::a"
    changes = review.diff([old], [new])
    assert [(c.op, c.urn) for c in changes] == [("create", new.urn), ("delete", old.urn)]
    assert all("looks like a rename" in c.notes[0] for c in changes)


def test_protected_and_retained_resources_are_annotated() -> None:
    old = reg(ACCOUNT, "a", {"accountId": "a"}, protect=True, retain_on_delete=True)
    (change,) = review.diff([old], [])
    assert change.notes == [
        "protected: `pulumi up` fails on this delete",
        "retain_on_delete: removed from the stack, left in the cloud",
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("autoscaling", "minNodeCount"), "autoscaling.minNodeCount"),
        (("nodeConfig", "guestAccelerators", 0, "count"), "nodeConfig.guestAccelerators[0].count"),
        (
            ("metadata", "labels", "app.kubernetes.io/name"),
            'metadata.labels["app.kubernetes.io/name"]',
        ),
        (("nodeConfig", "labels", "gpu-pool"), 'nodeConfig.labels["gpu-pool"]'),
    ],
)
def test_paths_render_and_parse_as_pulumi_spells_them(
    path: tuple[str | int, ...], text: str
) -> None:
    assert review.render_path(path) == text
    assert review.parse_path(text) == path


def test_parse_path_accepts_wildcards_and_rejects_garbage() -> None:
    assert review.parse_path("spec.containers[*].image") == ("spec", "containers", "*", "image")
    with pytest.raises(ValueError):
        review.parse_path("a..b")


def test_a_stack_missing_at_base_has_no_registrations_there(tmp_path: Path) -> None:
    from offline import registrations

    assert registrations.registrations(tmp_path, "dev") == {
        "stack": "dev",
        "missing_stack": True,
        "registrations": [],
    }
    r = review.review(
        [],
        [reg(ACCOUNT, "a", {"accountId": "a"})],
        stack="dev",
        prod_stacks=[],
        note="no stack file at BASE: every resource is new",
    )
    assert review.render_text(r).splitlines()[1:3] == [
        "    note: no stack file at BASE: every resource is new",
        "    + create  gcp:serviceaccount/account:Account  a",
    ]
