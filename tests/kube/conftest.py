"""One real control plane per test session (per xdist worker): tests/kube/controlplane.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kube.controlplane import ControlPlane, missing_binaries


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    missing = missing_binaries()
    if missing:
        pytest.fail(f"{', '.join(missing)} missing in .kube-bin/: run `make kube-bin` first")
    plane = ControlPlane(workdir=tmp_path_factory.mktemp("kube")).start()
    plane.install_crds()
    yield plane
    plane.stop()
