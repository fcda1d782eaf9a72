"""gpu-accelerator-allowed names a bad accelerator type by its index and kind, never by Python's
repr of the value (a proxy's repr carries a memory address, so the message changed from run to
run). Through the pack's real Analyzer service, on the dev stack's GPU pool."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from offline import runner
from offline.analyzer import PolicyPackServer
from offline.mocks import Registration

POLICY = "gpu-accelerator-allowed"
ALLOWED = "nvidia-tesla-t4, nvidia-l4"


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackServer]:
    with PolicyPackServer() as server:
        server.configure({POLICY: {"allowedAcceleratorTypes": ["nvidia-tesla-t4", "nvidia-l4"]}})
        yield server


@pytest.fixture(scope="module")
def gpu_pool() -> Registration:
    pools = [
        r
        for r in runner.run("dev").registrations
        if r.type == "gcp:container/nodePool:NodePool"
        and r.wire.get("nodeConfig", {}).get("guestAccelerators")
    ]
    assert len(pools) == 1
    return pools[0]


def _messages(pack: PolicyPackServer, pool: Registration, kinds: list[Any]) -> list[str]:
    wire = copy.deepcopy(pool.wire)
    template = wire["nodeConfig"]["guestAccelerators"][0]
    accelerators: list[Any] = []
    for kind in kinds:
        accelerator = {k: v for k, v in template.items() if k != "type"}
        if kind is not ...:  # ...: no type at all
            accelerator["type"] = kind
        accelerators.append(accelerator)
    wire["nodeConfig"]["guestAccelerators"] = ["not an accelerator", *accelerators]
    verdicts = pack.analyze(dataclasses.replace(pool, wire=wire))
    found = [v for v in verdicts if v.policy == POLICY]
    assert {v.level for v in found} <= {"mandatory"}
    return [v.message.splitlines()[-1] for v in found]


def test_a_string_type_keeps_its_message(pack: PolicyPackServer, gpu_pool: Registration) -> None:
    assert _messages(pack, gpu_pool, ["nvidia-l4", "nvidia-tesla-k80"]) == [
        f"accelerator nvidia-tesla-k80 is not allowed (allowed: {ALLOWED})."
    ]


@pytest.mark.parametrize(
    ("kind", "described"),
    [
        (..., "missing"),
        (None, "missing"),
        (0, "the number 0"),
        (1.5, "the number 1.5"),
        (True, "the boolean true"),
        (["nvidia-l4"], "a list"),
        ({"name": "nvidia-l4"}, "a map"),
    ],
)
def test_any_other_type_is_named_by_index_and_kind(
    pack: PolicyPackServer, gpu_pool: Registration, kind: Any, described: str
) -> None:
    # Index 2: the list starts with a non-map entry (skipped) and an allowed accelerator.
    messages = [_messages(pack, gpu_pool, ["nvidia-l4", kind]) for _ in range(2)]
    assert (
        messages[0]
        == messages[1]
        == [
            f"nodeConfig.guestAccelerators[2].type is {described}; it must name an allowed "
            f"accelerator type ({ALLOWED})."
        ]
    )
