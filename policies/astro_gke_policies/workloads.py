"""Policies on the stack's workloads: what keeps running task pods alive through node drains, and
which images they run."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from astro_gke_policies.define import MANDATORY, Meta, of_type, resource_policy
from astro_gke_policies.gke import PROD_STACKS_SCHEMA, is_prod
from astro_gke_policies.props import get, items, number, stack_of, text

PDB = "kubernetes:policy/v1:PodDisruptionBudget"
KPO_LABEL = "kubernetes_pod_operator"
# Where each workload kind keeps its pod spec.
POD_SPEC = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
DIGEST_MARK = "@sha256:"


def _kpo_budget_refuses_evictions(
    props: Mapping[str, Any], _: ResourceValidationArgs
) -> Iterator[str]:
    """KPO's pods have no controller: Kubernetes counts such pods only for an integer minAvailable
    ("Specifying a Disruption Budget for your Application", arbitrary workloads). maxUnavailable or
    a percentage leaves the budget's status undefined (the disruption controller warns
    UnmanagedPods)."""
    if text(get(props, "spec", "selector", "matchLabels") or {}, KPO_LABEL) != "True":
        return
    min_available = number(props, "spec", "minAvailable")
    has_max = get(props, "spec", "maxUnavailable") is not None
    if has_max or min_available is None or min_available < 1 or not min_available.is_integer():
        yield (
            "a budget over KubernetesPodOperator pods must allow no disruption with an integer "
            "minAvailable of at least the namespace's pod quota, and no maxUnavailable: KPO's pods "
            "have no controller, and for those Kubernetes counts only an integer minAvailable "
            "(maxUnavailable and percentages leave the budget undefined). An evicted task pod is "
            "a failed task."
        )


def _image_pinned_by_digest(
    props: Mapping[str, Any], args: ResourceValidationArgs
) -> Iterator[str]:
    if not is_prod(args):
        return
    spec = get(props, *POD_SPEC[args.resource_type])
    for field in ("initContainers", "containers"):
        for c in items(get(spec, field)):
            image = get(c, "image")
            if isinstance(image, str) and DIGEST_MARK not in image:
                yield (
                    f"stack {stack_of(args.urn)} is production: container {text(c, 'name')} runs "
                    f"{image}, a tag the registry can move; pin it as <image>@sha256:<digest>."
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
        ),
        resource_policy(
            Meta(
                "workload-image-pinned-by-digest",
                "In a production stack every container image is pinned by digest.",
                MANDATORY,
                None,
                "CKV_K8S_43",
                config_schema=PROD_STACKS_SCHEMA,
            ),
            of_type(*POD_SPEC),
            _image_pinned_by_digest,
        ),
    ]
