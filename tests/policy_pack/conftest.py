"""The policy pack's gRPC server and the committed stacks' registrations, shared by the policy
tests in this directory (one pack for all of them, as when they were one module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from offline import runner
from offline.analyzer import PolicyPackServer
from tests.day0 import run_bootstrap


@pytest.fixture(scope="package")
def pack() -> Iterator[PolicyPackServer]:
    with PolicyPackServer() as server:
        yield server


@pytest.fixture(scope="package")
def stacks() -> dict[str, runner.Run]:
    # `ci`: the bootstrap, which creates the stacks' custom roles (components/day0/stack_roles.py).
    return {"dev": runner.run("dev"), "prod": runner.run("prod"), "ci": run_bootstrap()}
