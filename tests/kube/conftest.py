"""One real control plane per test session (per xdist worker): tests/kube/controlplane.py, with
GKE's IAM authorizer after RBAC (tests/kube/gke_iam.py). It grants nobody anything until a test
calls `grant`, so for every other test the API server decides as with RBAC alone."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from offline import manifests
from tests.kube.controlplane import ControlPlane, missing_binaries
from tests.kube.gke_iam import GkeIam


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    missing = missing_binaries()
    if missing:
        pytest.fail(f"{', '.join(missing)} missing in .kube-bin/: run `make kube-bin` first")
    plane = ControlPlane(workdir=tmp_path_factory.mktemp("kube"), authorizer_webhook=GkeIam())
    plane = plane.start()
    plane.install_crds()
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def stack_objects() -> Callable[..., list[dict[str, Any]]]:
    """`stack_objects(stack, dcgm_self_deployed=False)`: the Kubernetes objects the stack
    registers (offline.manifests), the program run under mocks once per arguments a session;
    each call gives fresh copies."""
    run = functools.cache(manifests.run_stack)
    return lambda *args: manifests.manifests(run(*args))


@pytest.fixture(scope="session")
def gke_iam(control_plane: ControlPlane) -> GkeIam:
    iam: GkeIam = control_plane.authorizer_webhook
    return iam
