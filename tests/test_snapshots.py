"""Snapshots of every resource each stack registers, with its inputs and dependency edges, so an
unintended infrastructure change fails review. After an intended change: `make snapshots`, then
review the diff of tests/__snapshots__/ like any other code."""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from offline import plan, runner


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_registered_resources(
    stack: str, request: pytest.FixtureRequest, snapshot_json: SnapshotAssertion
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    assert plan.build(run, [])["resources"] == snapshot_json
