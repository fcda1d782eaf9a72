"""The pack's servicer converts a request's properties with `struct_to_dict` instead of the SDK's
`json_format.MessageToDict` (policies/astro_gke_policies/dispatch.py): the same values, of the same
types, with the keys in the same order, and the same refusal of NaN and infinities."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from astro_gke_policies.dispatch import struct_to_dict
from google.protobuf import json_format, struct_pb2

from offline import runner
from offline.analyzer import analyze_request, stack_request


def _typed(value: Any) -> Any:
    """The value with its key order (a Struct's map order, not insertion order) and every Python
    type spelled out (1.0 == 1 == True otherwise)."""
    if isinstance(value, dict):
        return ["dict", [(k, _typed(v)) for k, v in value.items()]]
    if isinstance(value, list):
        return ["list", [_typed(v) for v in value]]
    return [type(value).__name__, value]


def _same(struct: struct_pb2.Struct) -> None:
    assert _typed(struct_to_dict(struct)) == _typed(json_format.MessageToDict(struct))


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_every_request_of_the_stacks(stack_name: str) -> None:
    regs = runner.run(stack_name).registrations
    for r in regs:
        _same(analyze_request(r).properties)
    for resource in stack_request(regs).resources:
        _same(resource.properties)
    # properties compared (dev: 199 since its launcher role moved to the bootstrap)
    assert sum(len(r.wire) for r in regs) > 190


def test_odd_values() -> None:
    struct = struct_pb2.Struct()
    struct.update(
        {
            "z": None,
            "a": [1, 1.5, -0.0, 2**60, "", "ü", True, False, None, [], {}, [[{"k": [None]}]]],
            "m": {"b": {"c": {}}, "a": 1e308, "": "empty key"},
            "secret": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"},
        }
    )
    struct.fields["unset"].CopyFrom(struct_pb2.Value())  # no kind: null, as MessageToDict
    struct.fields["a"].list_value.values.add()
    _same(struct)
    assert json.dumps(struct_to_dict(struct)) == json.dumps(json_format.MessageToDict(struct))
    assert sorted(struct_to_dict(struct)) == ["a", "m", "secret", "unset", "z"]


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_nan_and_infinities_are_refused_alike(number: float) -> None:
    struct = struct_pb2.Struct()
    struct.update({"x": {"y": [number]}})
    with pytest.raises(ValueError) as sdk:
        json_format.MessageToDict(struct)
    with pytest.raises(ValueError) as ours:
        struct_to_dict(struct)
    assert str(ours.value) == str(sdk.value)
