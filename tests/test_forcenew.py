"""The force-new table (offline/forcenew.py) covers every input the stack sets, and says what the
provider schema says."""

from __future__ import annotations

import pytest

from offline import forcenew, runner
from offline.forcenew import R, U, lookup
from offline.mocks import Registration

POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"


def registration(type_: str, inputs: dict[str, object], custom: bool = True) -> Registration:
    return Registration(
        type_, "x", f"urn:pulumi:t::p::{type_}::x", "", custom, inputs, {}, [], {}, False, [], ""
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_input_path_the_stack_sets_is_classified(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    assert forcenew.coverage_gaps(run.registrations) == []
    # Not vacuous: the stack sets deep paths, and each resolves to an entry.
    paths = {p for r in run.of_type(POOL) for p in forcenew.leaf_paths(r.inputs)}
    path = ("nodeConfig", "guestAccelerators", 0, "gpuDriverInstallationConfig", "gpuDriverVersion")
    assert path in paths
    assert lookup(POOL, path) is R


def test_the_coverage_check_fails_on_an_unknown_property_or_type() -> None:
    pool = registration(POOL, {"nodeConfig": {"machineType": "n2", "brandNewField": True}})
    cluster = registration(CLUSTER, {"someFutureBlock": {"enabled": True}, "location": "x"})
    unknown = registration("gcp:somewhere/thing:Thing", {"name": "a"})
    component = registration("astro-gke-gpu:x:Component", {"anything": 1}, custom=False)
    assert forcenew.coverage_gaps([pool, cluster, unknown, component]) == [
        "gcp:container/cluster:Cluster someFutureBlock.enabled",
        "gcp:container/nodePool:NodePool nodeConfig.brandNewField",
        "gcp:somewhere/thing:Thing (no entry)",
    ]


def test_a_field_inside_a_block_needs_its_own_entry_a_map_key_does_not() -> None:
    assert lookup(POOL, ("nodeConfig", "labels", "gpu-pool")) is U  # a map: any key
    assert lookup(POOL, ("nodeConfig", "metadata", "disable-legacy-endpoints")) is R
    assert lookup(POOL, ("nodeConfig", "somethingNew")) is None  # a block: fields listed
    assert lookup(POOL, ("nodeConfig",)) is forcenew.RB  # adding/removing the block replaces
    assert lookup("unknown:type:T", ("name",)) is None


@pytest.mark.parametrize(
    ("path", "replaces"),
    [
        # resource_container_node_pool.go: ForceNew on these...
        (("cluster",), True),
        (("location",), True),
        (("namePrefix",), True),
        (("initialNodeCount",), True),
        # ...and not on autoscaling, management, upgrade settings or node locations.
        (("autoscaling", "minNodeCount"), False),
        (("autoscaling", "maxNodeCount"), False),
        (("management", "autoUpgrade"), False),
        (("upgradeSettings", "maxSurge"), False),
        (("nodeLocations",), False),
        # node_config.go: machine type and disks in place (magic-modules#9575), the GPU and the
        # node identity force a new pool.
        (("nodeConfig", "machineType"), False),
        (("nodeConfig", "diskSizeGb"), False),
        (("nodeConfig", "guestAccelerators", 0, "type"), True),
        (("nodeConfig", "guestAccelerators", 0, "count"), True),
        (("nodeConfig", "serviceAccount"), True),
        (("nodeConfig", "spot"), True),
        (("nodeConfig", "taints", 0, "value"), False),
    ],
)
def test_node_pool_entries(path: tuple[str | int, ...], replaces: bool) -> None:
    entry = lookup(POOL, path)
    assert entry is not None
    assert entry.replace is replaces


def test_subnet_range_replaces_only_when_it_does_not_grow() -> None:
    entry = lookup("gcp:compute/subnetwork:Subnetwork", ("ipCidrRange",))
    assert entry is not None and entry.when is not None
    assert entry.when("10.10.0.0/20", "10.10.0.0/19") is False  # expansion: update
    assert entry.when("10.10.0.0/20", "10.10.0.0/21") is True  # shrink
    assert entry.when("10.10.0.0/20", "10.20.0.0/20") is True  # moved


def kubeconfig(server: str, user_args: list[str]) -> str:
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: '{server}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        f"users: [{{name: u, user: {{exec: {{args: {user_args}}}}}}}]\n"
    )


def test_kubeconfig_replaces_the_provider_only_when_the_active_cluster_changes() -> None:
    entry = lookup("pulumi:providers:kubernetes", ("kubeconfig",))
    assert entry is not None and entry.when is not None
    before = kubeconfig("https://a.example", ["--x"])
    assert entry.when(before, kubeconfig("https://a.example", ["--y"])) is False  # user only
    assert entry.when(before, kubeconfig("https://b.example", ["--x"])) is True
    assert entry.when(before, "not: [a kubeconfig") is False  # cannot tell: not a replace


def test_every_type_cites_its_source() -> None:
    assert set(forcenew.SOURCES) == set(forcenew.TABLE)
    for type_, source in forcenew.SOURCES.items():
        assert "@" in source, type_
        repo = source.split(" ", 1)[0]
        assert repo in {
            forcenew.TPG,
            forcenew.TPG_BETA,
            "pulumi/pulumi-kubernetes",
        }, type_


def test_every_block_has_fields_of_its_own() -> None:
    for type_, table in forcenew.TABLE.items():
        for key, entry in table.items():
            if entry.block:
                assert any(k.startswith(key + ".") for k in table), (type_, key)
