"""Queued provisioning (`kueue.provisioning_request.pools: [l4-flex]` on prod's config), on a real
control plane with the real Kueue v0.19.2 controller and its webhooks (tests/kube/
kueue_controller.py): the check's objects, the flavor's toleration and the ClusterQueues' admission
check strategy are what Kueue's CRDs and webhooks accept, and Kueue wires the check to every
ClusterQueue. No ProvisioningRequest API runs here (GKE's cluster autoscaler serves it), so the
check stays inactive, and every queue with it (not only on the flex-start flavor): what a cluster
without the ProvisioningRequest API shows.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from offline import runner
from offline.manifests import manifests
from tests.conftest import CONFIG_KEY
from tests.kube import kueue_controller
from tests.kube.controlplane import ControlPlane

KUEUE = "kueue.x-k8s.io/v1beta2"
QUEUED_TOLERATION = {
    "key": "cloud.google.com/gke-queued",
    "operator": "Equal",
    "value": "true",
    "effect": "NoSchedule",
}


@pytest.fixture(scope="module")
def queued() -> runner.Run:
    cfg = runner.stack_config("prod")
    platform = copy.deepcopy(cfg[CONFIG_KEY])
    platform["kueue"]["provisioning_request"] = {"pools": ["l4-flex"]}
    return runner.run("prod", config={**cfg, CONFIG_KEY: platform})


@pytest.fixture(scope="module")
def cluster(queued: runner.Run) -> Iterator[ControlPlane]:
    objects = manifests(queued)
    chart = next(r for r in queued.registrations if r.type == "kubernetes:helm.sh/v4:Chart")
    config = yaml.safe_load(chart.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    cp = ControlPlane().start()
    try:
        namespaces = {
            d["namespace"] for d in runner.stack_config("prod")[CONFIG_KEY]["deployments"]
        }
        cp.apply(
            [o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] in namespaces]
        )
        kueue_controller.start(cp, config)
        cp.apply([o for o in objects if o["apiVersion"] == KUEUE])
        yield cp
    finally:
        cp.stop()


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


def test_kueue_accepts_the_check_and_wires_it_to_every_queue(
    cluster: ControlPlane, queued: runner.Run
) -> None:
    check = cluster.get(f"admissionchecks.{KUEUE.split('/')[0]}", "dws-prov")
    assert check["spec"] == {
        "controllerName": "kueue.x-k8s.io/provisioning-request",
        "parameters": {
            "apiGroup": "kueue.x-k8s.io",
            "kind": "ProvisioningRequestConfig",
            "name": "dws-prov",
        },
    }
    prc = cluster.get("provisioningrequestconfigs.kueue.x-k8s.io", "dws-prov")
    assert prc["spec"]["provisioningClassName"] == "queued-provisioning.gke.io"
    assert prc["spec"]["managedResources"] == ["nvidia.com/gpu"]
    flavor = cluster.get("resourceflavors.kueue.x-k8s.io", "l4-flex")
    assert QUEUED_TOLERATION in flavor["spec"]["tolerations"]
    for other in ("l4", "l4-spot", "a100"):
        tolerations = cluster.get("resourceflavors.kueue.x-k8s.io", other)["spec"]["tolerations"]
        assert QUEUED_TOLERATION not in tolerations, other
    # Kueue reads the strategy on every queue: the queues wait on the (here inactive) check.
    deadline = time.time() + 60
    while True:
        queues = cluster.get("clusterqueues.kueue.x-k8s.io")["items"]
        active = {q["metadata"]["name"]: _conditions(q).get("Active") for q in queues}
        if len(active) == 3 and all(a is not None for a in active.values()):
            break
        assert time.time() < deadline, active
        time.sleep(0.5)
    for q in queues:
        assert q["spec"]["admissionChecksStrategy"] == {
            "admissionChecks": [{"name": "dws-prov", "onFlavors": ["l4-flex"]}]
        }
    found = {name: a for name, a in active.items() if a is not None}
    assert {name: a["status"] for name, a in found.items()} == {
        "ml-training": "False",
        "reporting": "False",
        "batch-remote": "False",
    }
    # An inactive check stops the whole queue, its other flavors too (docs/gpu-sharing.md).
    for a in found.values():
        assert a["reason"] == "AdmissionCheckInactive", a
        assert a["message"] == (
            "Can't admit new workloads: references inactive AdmissionCheck(s): dws-prov."
        )
