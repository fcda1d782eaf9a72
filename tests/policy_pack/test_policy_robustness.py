"""The policy pack never crashes (a crash would fail every `pulumi preview` that uses it): every
property made unknown, as during a first preview, and odd values in every property path."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi.runtime.rpc import UNKNOWN

from offline import runner
from offline.analyzer import PolicyPackServer


def test_unknown_values_never_crash_the_pack(
    pack: PolicyPackServer, stacks: dict[str, runner.Run]
) -> None:
    """Every top-level property of every resource made unknown in turn (as during preview):
    the analyzer answers every call, and anything it reports for unknowns is advisory."""
    calls = 0
    deferred: set[str] = set()
    for stack, run in stacks.items():
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
        expected = {"stack-launcher-only-cluster-role"}  # the bootstrap (ci) has custom roles
        if stack != "ci":
            expected.add("stack-gpu-pool-has-cpu-pool")
        assert {v.policy for v in stack_verdicts} >= expected
    assert calls > 200
    # The unknown path was really taken, by most resource policies, not skipped.
    assert len(deferred) >= 25, sorted(deferred)


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
