"""GPU compute classes: an ordered fallback over the stack's own GPU pools (GKE custom
ComputeClass, `cloud.google.com/v1`; GKE docs "About custom ComputeClasses")."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from components.config._base import _matching, _Model

CLASS_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
CLASS_NAME_RULE = "1-63 characters: lowercase letters, digits, hyphens (a Kubernetes object name)"


class GpuClassConfig(_Model):
    """A custom ComputeClass over GPU pools: the autoscaler tries the pools in order (e.g. spot L4
    in three zones, then on-demand L4, then flex-start L4). Tasks select the class, not a pool."""

    name: Annotated[str, _matching(CLASS_NAME, CLASS_NAME_RULE)] = Field(
        description=(
            "ComputeClass name; member pools carry the label and taint "
            "`cloud.google.com/compute-class=<name>`, and `gpu_scheduling[<name>]` is its hint."
        )
    )
    pools: list[str] = Field(
        min_length=1,
        description=(
            "GPU pool names in priority order. Members share one accelerator type, count, sharing "
            "and partition size, so a pod that fits one fits all."
        ),
    )
    when_unsatisfiable: Literal["DoNotScaleUp", "ScaleUpAnyway"] = Field(
        default="DoNotScaleUp",
        description=(
            "When no member can get capacity: `DoNotScaleUp` keeps the pod pending (it never "
            "lands on a node without the GPU); `ScaleUpAnyway` lets GKE create a node outside "
            "the priorities. Always sent explicitly: GKE's sources disagree on the default."
        ),
    )
    consolidation_delay_minutes: int = Field(
        default=10,
        ge=1,
        le=1440,
        description=(
            "How long a class node may sit underused before the autoscaler removes it "
            "(autoscalingPolicy.consolidationDelayMinutes, 1-1440 in GKE's ComputeClass CRD): idle "
            "GPUs cost money. Default 10: the upstream cluster autoscaler's own "
            "scale-down-unneeded-time (kubernetes/autoscaler FAQ.md)."
        ),
    )

    @field_validator("pools")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dupes = sorted({p for p in v if v.count(p) > 1})
        if dupes:
            raise ValueError(f"a pool is listed twice: {', '.join(dupes)}")
        return v
