"""Shared fixtures: the real program run offline under Pulumi mocks (offline/runner.py)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from components.config import preflight
from offline import runner
from offline.mocks import PlaceholderMocks, RecordingMonitor

CONFIG_KEY = "astro-gke-gpu:platform"

# The tests preview the shipped example stacks on purpose (components/config/preflight.py); every
# subprocess they start inherits this. tests/test_preflight.py removes it to see the refusal.
os.environ[preflight.ALLOW_ENV] = "1"

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"


@pytest.fixture(scope="session")
def dev() -> runner.Run:
    return runner.run("dev")


@pytest.fixture(scope="session")
def prod() -> runner.Run:
    return runner.run("prod")


def airflow_side(registrations: list[Any]) -> list[Any]:
    """Without the stack's own kube-state-metrics and Kueue objects
    (components/observability/kube_state_metrics.py, components/gke/kueue.py), for
    assertions about what deployments and agents get."""
    return [
        r
        for r in registrations
        if "observability:KubeStateMetrics$" not in r.urn and "kueue:Kueue$" not in r.urn
    ]


def raw_platform(stack: str = "dev") -> dict[str, Any]:
    """A deep copy of a committed stack's platform config, for tests to mutate."""
    return copy.deepcopy(runner.stack_config(stack)[CONFIG_KEY])


@pytest.fixture
def run_with() -> Callable[..., runner.Run]:
    """Run the program with a modified copy of a stack's platform config."""

    def _run(mutate: Callable[[dict[str, Any]], None], stack: str = "dev") -> runner.Run:
        cfg = runner.stack_config(stack)
        platform = copy.deepcopy(cfg[CONFIG_KEY])
        mutate(platform)
        return runner.run(stack, config={**cfg, CONFIG_KEY: platform})

    return _run


@pytest.fixture
def unit_mocks() -> RecordingMonitor:
    """Fresh mocks for a test that builds one component itself (`@pulumi.runtime.test`)."""
    mocks = PlaceholderMocks()
    monitor = RecordingMonitor(mocks)
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project=runner.PROJECT, stack="unit", preview=False, monitor=monitor
    )
    return monitor


# --- pytest-xdist: which tests must share a worker, and which start first ---------------------
#
# `make test` and `make test-fast` run the suite on every core (`-n auto`). Each test file is one
# unit of work, so that a module's fixtures run once. tests/kube is one unit, so that its session
# control plane starts once (tests/kube/conftest.py); the Kueue tests, which start their own, are
# units of their own. Each golden verdict shard and each `make preview` test stands alone (a
# preview test sees only the worktree its own run made).
# `--dist loadgroup` would say this with marks, but on pytest 9.2 it groups nothing
# (pytest-dev/pytest-xdist#1386), hence a scheduler of our own, built on xdist's LoadScope one.

# Each starts a control plane of its own, with Kueue (tests/kube/kueue_controller.py).
OWN_UNITS = ("tests/kube/test_kueue.py", "tests/kube/test_kueue_queued.py")
SPLIT_FILES = ("tests/test_policy_verdicts.py", "tests/test_preview.py")
# The longest units, longest first (`pytest --durations`): started first, so that no long unit
# starts last while the other workers sit idle. Every other unit follows in collection order.
FIRST = (
    "tests/kube/test_kueue.py",
    "tests/kube",
    "tests/kube/test_kueue_queued.py",
    "tests/test_preview.py",
    "tests/test_policy_verdicts.py",
    "tests/test_plan.py",
    "tests/test_checkov.py",
)


def work_unit(nodeid: str) -> str:
    """The xdist unit of work a test belongs to."""
    path = nodeid.split("::", 1)[0]
    if path in OWN_UNITS:
        return path
    if path.startswith("tests/kube/"):
        return "tests/kube"
    if path in SPLIT_FILES:
        return nodeid
    return path


def start_rank(nodeid: str) -> int:
    unit = work_unit(nodeid)
    for rank, first in enumerate(FIRST):
        if unit == first or unit.startswith(first + "::"):
            return rank
    return len(FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: start_rank(item.nodeid))  # stable: the rest keep their order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the order above, not "most tests first"
    return ByUnit(config, log)
