"""GPU capacity policies: ComputeClass membership, flex-start pools, and zones that offer the GPU."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from astro_gke_policies.define import ADVISORY, MANDATORY, Meta, resource_policy
from astro_gke_policies.gke import gpu_accelerators, is_pool
from astro_gke_policies.props import get, items, number, text

COMPUTE_CLASS_KEY = "cloud.google.com/compute-class"

# The zone table ships inside this package (gpu_zones.json, which names its sources); the stack
# reads the same file (components/gke/catalog.py GPU_ZONES). A zone missing there is unknown.
ZONES_FILE = "gpu_zones.json"


def load_gpu_zones() -> dict[str, frozenset[str]]:
    """zone -> the accelerators it offers, from the packaged gpu_zones.json."""
    data = json.loads(resources.files("astro_gke_policies").joinpath(ZONES_FILE).read_text())
    return {zone: frozenset(kinds) for zone, kinds in data["zones"].items()}


GPU_ZONES: dict[str, frozenset[str]] = load_gpu_zones()


def _class_taint(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    name = text(get(props, "nodeConfig", "labels") or {}, COMPUTE_CLASS_KEY)
    if not name:
        return
    taints = items(get(props, "nodeConfig", "taints"))
    if not any(
        text(t, "key") == COMPUTE_CLASS_KEY
        and text(t, "value") == name
        and text(t, "effect") == "NO_SCHEDULE"
        for t in taints
    ):
        yield (
            f"a pool in ComputeClass {name} must also carry the taint "
            f"{COMPUTE_CLASS_KEY}={name}:NoSchedule (GKE joins a manual pool by label AND taint)."
        )


def _flex_start(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "nodeConfig", "flexStart") is not True:
        return
    if get(props, "nodeConfig", "spot") is True:
        yield "a flex-start pool cannot also be spot."
    if get(props, "management", "autoRepair") is not False:
        yield "a flex-start pool runs without auto-repair (management.autoRepair false)."
    if text(props, "autoscaling", "locationPolicy") != "ANY":
        yield "a flex-start pool takes capacity in any zone (autoscaling.locationPolicy ANY)."
    if number(props, "autoscaling", "minNodeCount") != 0:
        yield "a flex-start pool scales from zero (autoscaling.minNodeCount 0)."
    affinity = text(props, "nodeConfig", "reservationAffinity", "consumeReservationType")
    if affinity != "NO_RESERVATION":
        yield "a flex-start pool consumes no reservation (reservationAffinity NO_RESERVATION)."


# Accelerators the zone table tracks at all; for any other one (T4, V100, B200, ...) a zone's
# absence from its entry means nothing.
TRACKED: frozenset[str] = frozenset().union(*GPU_ZONES.values())


def _zone_offers_gpu(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    zones = [text(z) for z in items(get(props, "nodeLocations"))]
    if not zones:
        location = text(props, "location")
        zones = [location] if location.count("-") == 2 else []  # a zonal cluster's zone
    for accelerator in gpu_accelerators(props):
        kind = text(accelerator, "type")
        if kind not in TRACKED:  # the table says nothing of this accelerator: no guess
            continue
        missing = [z for z in zones if z in GPU_ZONES and kind not in GPU_ZONES[z]]
        if missing:
            yield (
                f"{', '.join(missing)} do(es) not offer {kind} as far as the catalog knows; "
                "check `gcloud compute accelerator-types list` before relying on it."
            )


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy(
            Meta(
                "gpu-compute-class-taint",
                "A pool that joins a ComputeClass carries the class taint with its label.",
                MANDATORY,
            ),
            is_pool,
            _class_taint,
        ),
        resource_policy(
            Meta(
                "gpu-flex-start-pool",
                "A flex-start pool is set up the way GKE requires it.",
                MANDATORY,
            ),
            is_pool,
            _flex_start,
        ),
        resource_policy(
            Meta(
                "gpu-zone-offers-accelerator",
                "Each zone of a GPU pool offers its accelerator.",
                ADVISORY,
            ),
            is_pool,
            _zone_offers_gpu,
        ),
    ]
