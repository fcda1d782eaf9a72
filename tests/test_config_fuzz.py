"""Property: a config either validates and the program runs, or it fails with one ConfigError
before any resource is registered. Never half-created, never another exception."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import ConfigError
from offline import runner
from offline.mocks import PlaceholderMocks, RecordingMonitor
from tests.conftest import CONFIG_KEY

BASE = runner.stack_config("dev")

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaf_paths(v, (*prefix, k))] + [prefix]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaf_paths(v, (*prefix, i))] + [prefix]
    return [prefix]


PATHS = [p for p in leaf_paths(BASE[CONFIG_KEY]) if p]


def set_path(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def run_once(platform: dict[str, Any]) -> tuple[RecordingMonitor, BaseException | None]:
    monitor = RecordingMonitor(PlaceholderMocks())
    try:
        runner.run("dev", config={**BASE, CONFIG_KEY: platform}, monitor=monitor)
    except ConfigError as exc:
        return monitor, exc
    return monitor, None


# Values each of which breaks exactly the rule named beside it.
INVALID: list[tuple[tuple[Any, ...], st.SearchStrategy[Any]]] = [
    (
        ("project_id",),
        st.from_regex(r"[A-Z][a-z0-9-]{5,20}|[a-z]{1,4}|[a-z][a-z0-9-]{30,40}", fullmatch=True),
    ),
    (("location",), st.text(alphabet="abcxyz-0123", min_size=1, max_size=20)),
    (("gpu_pools", 0, "accelerator_count"), st.integers(min_value=2, max_value=16)),
    (
        ("gpu_pools", 0, "accelerator_type"),
        st.sampled_from(["nvidia-tesla-t4", "nvidia-tesla-a100", "nvidia-b200"]),
    ),
    (("gpu_pools", 0, "min_nodes"), st.integers(min_value=3, max_value=1000)),
    (("gpu_pools", 0, "name"), st.from_regex(r"[A-Z_.][a-z]{0,10}|[a-z]{41,50}", fullmatch=True)),
    (
        ("network", "pods_cidr"),
        st.sampled_from(["10.10.0.0/22", "8.8.0.0/16", "10.10.0.5/20", "bogus"]),
    ),
    (("cluster", "name"), st.from_regex(r"[0-9][a-z]{1,10}|[a-z]+_[a-z]+", fullmatch=True)),
    (("system_pool", "max_nodes"), st.integers(max_value=0)),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_invalid_values_fail_before_any_registration(data: st.DataObject) -> None:
    platform = copy.deepcopy(BASE[CONFIG_KEY])
    chosen = data.draw(
        st.lists(st.sampled_from(range(len(INVALID))), min_size=1, max_size=3, unique=True)
    )
    for index in chosen:
        path, strategy = INVALID[index]
        set_path(platform, path, data.draw(strategy))
    monitor, error = run_once(platform)
    assert isinstance(error, ConfigError), "an invalid config was accepted"
    assert monitor.registrations == []
    assert error.problems  # every problem named with its path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=json_value)
def test_any_mutation_is_all_or_nothing(path: tuple[Any, ...], value: Any) -> None:
    platform = copy.deepcopy(BASE[CONFIG_KEY])
    set_path(platform, path, value)
    monitor, error = run_once(platform)  # any exception other than ConfigError fails the test
    if error is not None:
        assert monitor.registrations == []
    else:
        assert any(r.type == "gcp:container/cluster:Cluster" for r in monitor.registrations)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_valid_stacks_register(stack: str) -> None:
    assert len(runner.run(stack).registrations) > 10
