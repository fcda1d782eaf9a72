"""Policies on what keeps running task pods alive through node drains."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from astro_gke_policies.define import MANDATORY, Meta, of_type, resource_policy
from astro_gke_policies.props import get, number, text

PDB = "kubernetes:policy/v1:PodDisruptionBudget"
KPO_LABEL = "kubernetes_pod_operator"


def _kpo_budget_refuses_evictions(
    props: Mapping[str, Any], _: ResourceValidationArgs
) -> Iterator[str]:
    if text(get(props, "spec", "selector", "matchLabels") or {}, KPO_LABEL) != "True":
        return
    max_unavailable = number(props, "spec", "maxUnavailable")
    min_available = text(props, "spec", "minAvailable")
    if max_unavailable != 0 and min_available != "100%":
        yield (
            "a budget over KubernetesPodOperator pods must allow no disruption (maxUnavailable 0 "
            "or minAvailable 100%): an evicted task pod is a failed task."
        )


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy(
            Meta(
                "kpo-pods-disruption-budget",
                "A disruption budget over task pods refuses every voluntary eviction.",
                MANDATORY,
            ),
            of_type(PDB),
            _kpo_budget_refuses_evictions,
        )
    ]
