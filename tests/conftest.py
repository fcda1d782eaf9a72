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
