"""The policy pack, driven through its real Analyzer gRPC service as the Pulumi engine drives it.

Inputs are the resources the stack program actually registers under mocks (dev and prod), and
mutated copies of them: each policy must flag its violation at its level and leave the compliant
original alone. The cases live per policy module, in tests/policy_pack/cases_<module>.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline import runner
from offline.analyzer import PolicyPackServer
from tests.policy_pack import (
    cases_capacity,
    cases_gke,
    cases_iam,
    cases_kueue,
    cases_network,
    cases_nodes,
    cases_rbac,
    cases_remote,
    cases_secrets,
    cases_stack,
    cases_workloads,
)
from tests.policy_pack.mutations import GPU_POOL_DEV, POOL, Mutation, edit, verdicts_for
from tests.test_day0_policies import DAY0_POLICIES

CASES = [
    *cases_gke.CASES,
    *cases_nodes.CASES,
    *cases_iam.CASES,
    *cases_rbac.CASES,
    *cases_secrets.CASES,
    *cases_network.CASES,
    *cases_workloads.CASES,
    *cases_capacity.CASES,
    *cases_stack.CASES,
    *cases_remote.CASES,
    *cases_kueue.CASES,
]


@pytest.mark.parametrize(
    ("policy", "stack", "level", "mutate", "fragment", "config"), CASES, ids=[c[0] for c in CASES]
)
def test_each_policy_flags_its_violation_and_spares_the_original(
    pack: PolicyPackServer,
    stacks: dict[str, runner.Run],
    policy: str,
    stack: str,
    level: str,
    mutate: Mutation,
    fragment: str,
    config: dict[str, Any],
) -> None:
    original = stacks[stack].registrations
    if not config:  # a config-driven case's original is the same resources under default config
        assert verdicts_for(pack, original, {}, policy) == []
    found = verdicts_for(pack, mutate(list(original)), config, policy)
    assert found, f"{policy} did not fire"
    assert {v.level for v in found} == {level}
    assert any(fragment in v.message for v in found), [v.message for v in found]


def test_zone_advisory_stays_silent_for_accelerators_the_table_does_not_track(
    pack: PolicyPackServer, stacks: dict[str, runner.Run]
) -> None:
    """T4 is in no zone entry: a T4 pool in a listed zone is unknown, not wrong (L4 there is)."""
    policy = "gpu-zone-offers-accelerator"

    def accelerator(kind: str) -> Callable[[dict[str, Any]], None]:
        def change(wire: dict[str, Any]) -> None:
            wire["nodeLocations"] = ["us-central1-f"]
            wire["nodeConfig"]["guestAccelerators"][0]["type"] = kind

        return change

    original = stacks["dev"].registrations
    t4 = edit(POOL, GPU_POOL_DEV, accelerator("nvidia-tesla-t4"))(list(original))
    assert verdicts_for(pack, t4, {}, policy) == []
    l4 = edit(POOL, GPU_POOL_DEV, accelerator("nvidia-l4"))(list(original))
    assert [v.message for v in verdicts_for(pack, l4, {}, policy)] == [
        "Each zone of a GPU pool offers its accelerator.\n"
        "us-central1-f do(es) not offer nvidia-l4 as far as the catalog knows; check `gcloud "
        "compute accelerator-types list` before relying on it."
    ]


# Policies whose violation cases live in their own module's tests (tests/test_observability.py).
CASES_ELSEWHERE = {"gpu-pool-dcgm-metrics", "rbac-cluster-binding-read-only"}


def test_every_policy_has_a_violation_case(pack: PolicyPackServer) -> None:
    names = {p.name for p in pack.info().policies}
    # day-0 cases: tests/test_day0_policies.py
    assert names == {c[0] for c in CASES} | CASES_ELSEWHERE | DAY0_POLICIES


def test_an_unpinned_image_is_refused_in_prod_only(
    pack: PolicyPackServer, stacks: dict[str, runner.Run]
) -> None:
    """dev may try a tag; prod runs digests only (the same mutation as the prod case)."""
    tag = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0"
    unpin = edit(
        "apps/v1:Deployment",
        "astro-gpu-dev-kube-state-metrics-deployment",
        lambda w: w["spec"]["template"]["spec"]["containers"][0].update(image=tag),
    )
    policy = "workload-image-pinned-by-digest"
    assert verdicts_for(pack, unpin(list(stacks["dev"].registrations)), {}, policy) == []
    # Every image prod and dev run is pinned today.
    for run in (stacks["dev"], stacks["prod"]):
        images = {
            c["image"]
            for r in run.of_type("kubernetes:apps/v1:Deployment")
            for c in r.inputs["spec"]["template"]["spec"]["containers"]
        }
        assert all("@sha256:" in i for i in images), images
