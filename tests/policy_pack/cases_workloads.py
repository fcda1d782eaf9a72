"""Violation cases for policies/astro_gke_policies/workloads.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from tests.policy_pack.mutations import (
    Case,
    edit,
    set_path,
)

CASES: list[Case] = [
    (
        "kpo-pods-disruption-budget",
        "dev",
        "mandatory",
        edit("policy/v1:PodDisruptionBudget", None, set_path("spec", "maxUnavailable", value=1)),
        "a budget over KubernetesPodOperator pods must allow no disruption",
        {},
    ),
]
