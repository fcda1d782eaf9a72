"""The offline monitor answers exactly as the SDK's MockMonitor would."""

from __future__ import annotations

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

from offline import runner


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_reply_struct_equals_the_sdk_serializer(stack: str, request: pytest.FixtureRequest) -> None:
    """RecordingMonitor builds replies with Struct.update; the SDK's MockMonitor uses
    rpc.serialize_properties. For every state the stack's mocks produce, both give the same Struct."""
    run: runner.Run = request.getfixturevalue(stack)
    monitor_states = [r for r in run.registrations if r.custom]
    assert len(monitor_states) > 20
    for r in monitor_states:
        state = {**r.wire, **{k: v for k, v in r.outputs.items() if k not in r.wire}}
        expected = _sync_await(rpc.serialize_properties(state, {}))
        actual = struct_pb2.Struct()
        actual.update(state)
        assert json_format.MessageToDict(actual) == json_format.MessageToDict(expected), r.name
