"""Violation cases for policies/astro_gke_policies/workloads.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from typing import Any

from tests.policy_pack.mutations import (
    Case,
    edit,
    set_path,
)


def _max_unavailable_zero(props: dict[str, Any]) -> None:
    del props["spec"]["minAvailable"]
    props["spec"]["maxUnavailable"] = 0


CASES: list[Case] = [
    (
        "kpo-pods-disruption-budget",
        "dev",
        "mandatory",
        edit("policy/v1:PodDisruptionBudget", None, set_path("spec", "maxUnavailable", value=1)),
        "a budget over KubernetesPodOperator pods must allow no disruption",
        {},
    ),
    # What the stack had before: it refuses evictions today, by a path Kubernetes leaves undefined.
    (
        "kpo-pods-disruption-budget",
        "dev",
        "mandatory",
        edit("policy/v1:PodDisruptionBudget", None, _max_unavailable_zero),
        "a budget over KubernetesPodOperator pods must allow no disruption with an integer "
        "minAvailable",
        {},
    ),
    (
        "kpo-pods-disruption-budget",
        "dev",
        "mandatory",
        edit("policy/v1:PodDisruptionBudget", None, set_path("spec", "minAvailable", value="100%")),
        "(maxUnavailable and percentages leave the budget undefined)",
        {},
    ),
    (
        "workload-image-pinned-by-digest",
        "prod",
        "mandatory",
        edit(
            "apps/v1:Deployment",
            "astro-gpu-prod-kube-state-metrics-deployment",
            set_path(
                "spec",
                "template",
                "spec",
                "containers",
                0,
                "image",
                value="registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0",
            ),
        ),
        "stack prod is production: container kube-state-metrics runs "
        "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0, a tag the registry can "
        "move; pin it as <image>@sha256:<digest>.",
        {},
    ),
]
