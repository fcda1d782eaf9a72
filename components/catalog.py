"""Static Google Cloud facts the config validation relies on.

Kept as plain data so a reviewer can check it against the sources named below, and so that
validation never needs the network. Update it when Google adds a region or a GPU machine family.

Sources:
- Regions and zones: https://cloud.google.com/compute/docs/regions-zones (zone letters per region).
- GPU machine types: https://cloud.google.com/compute/docs/gpus and
  https://cloud.google.com/compute/docs/accelerator-optimized-machines (fixed GPU counts on A/G series).
- MIG profiles: https://cloud.google.com/kubernetes-engine/docs/how-to/gpus-multi
"""

from __future__ import annotations

from dataclasses import dataclass

# region -> zone suffixes
REGIONS: dict[str, tuple[str, ...]] = {
    "africa-south1": ("a", "b", "c"),
    "asia-east1": ("a", "b", "c"),
    "asia-east2": ("a", "b", "c"),
    "asia-northeast1": ("a", "b", "c"),
    "asia-northeast2": ("a", "b", "c"),
    "asia-northeast3": ("a", "b", "c"),
    "asia-south1": ("a", "b", "c"),
    "asia-south2": ("a", "b", "c"),
    "asia-southeast1": ("a", "b", "c"),
    "asia-southeast2": ("a", "b", "c"),
    "australia-southeast1": ("a", "b", "c"),
    "australia-southeast2": ("a", "b", "c"),
    "europe-central2": ("a", "b", "c"),
    "europe-north1": ("a", "b", "c"),
    "europe-north2": ("a", "b", "c"),
    "europe-southwest1": ("a", "b", "c"),
    "europe-west1": ("b", "c", "d"),
    "europe-west2": ("a", "b", "c"),
    "europe-west3": ("a", "b", "c"),
    "europe-west4": ("a", "b", "c"),
    "europe-west6": ("a", "b", "c"),
    "europe-west8": ("a", "b", "c"),
    "europe-west9": ("a", "b", "c"),
    "europe-west10": ("a", "b", "c"),
    "europe-west12": ("a", "b", "c"),
    "me-central1": ("a", "b", "c"),
    "me-central2": ("a", "b", "c"),
    "me-west1": ("a", "b", "c"),
    "northamerica-northeast1": ("a", "b", "c"),
    "northamerica-northeast2": ("a", "b", "c"),
    "northamerica-south1": ("a", "b", "c"),
    "southamerica-east1": ("a", "b", "c"),
    "southamerica-west1": ("a", "b", "c"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "us-east4": ("a", "b", "c"),
    "us-east5": ("a", "b", "c"),
    "us-south1": ("a", "b", "c"),
    "us-west1": ("a", "b", "c"),
    "us-west2": ("a", "b", "c"),
    "us-west3": ("a", "b", "c"),
    "us-west4": ("a", "b", "c"),
}

ZONES: frozenset[str] = frozenset(f"{r}-{z}" for r, zs in REGIONS.items() for z in zs)


def region_of(location: str) -> str:
    """The region of a region or zone name (``us-central1-a`` -> ``us-central1``)."""
    return location if location in REGIONS else location.rsplit("-", 1)[0]


def is_zone(location: str) -> bool:
    return location in ZONES


def is_location(location: str) -> bool:
    return location in REGIONS or location in ZONES


@dataclass(frozen=True)
class GpuSeries:
    """A machine series that carries GPUs, and what it carries."""

    accelerators: frozenset[str]
    # machine type -> the GPU count it is sold with (A/G series); None: attachable (N1).
    fixed_counts: dict[str, int] | None
    # accelerator -> counts allowed when attached to a series that does not fix them (N1).
    attachable_counts: dict[str, tuple[int, ...]] | None = None


N1_ACCELERATORS: dict[str, tuple[int, ...]] = {
    "nvidia-tesla-t4": (1, 2, 4),
    "nvidia-tesla-v100": (1, 2, 4, 8),
    "nvidia-tesla-p100": (1, 2, 4),
    "nvidia-tesla-p4": (1, 2, 4),
}

SERIES: dict[str, GpuSeries] = {
    "n1": GpuSeries(
        accelerators=frozenset(N1_ACCELERATORS),
        fixed_counts=None,
        attachable_counts=N1_ACCELERATORS,
    ),
    "g2": GpuSeries(
        accelerators=frozenset({"nvidia-l4"}),
        fixed_counts={
            "g2-standard-4": 1,
            "g2-standard-8": 1,
            "g2-standard-12": 1,
            "g2-standard-16": 1,
            "g2-standard-24": 2,
            "g2-standard-32": 1,
            "g2-standard-48": 4,
            "g2-standard-96": 8,
        },
    ),
    "a2": GpuSeries(
        accelerators=frozenset({"nvidia-tesla-a100", "nvidia-a100-80gb"}),
        fixed_counts={
            "a2-highgpu-1g": 1,
            "a2-highgpu-2g": 2,
            "a2-highgpu-4g": 4,
            "a2-highgpu-8g": 8,
            "a2-megagpu-16g": 16,
            "a2-ultragpu-1g": 1,
            "a2-ultragpu-2g": 2,
            "a2-ultragpu-4g": 4,
            "a2-ultragpu-8g": 8,
        },
    ),
    "a3": GpuSeries(
        accelerators=frozenset({"nvidia-h100-80gb", "nvidia-h100-mega-80gb", "nvidia-h200-141gb"}),
        fixed_counts={
            "a3-highgpu-1g": 1,
            "a3-highgpu-2g": 2,
            "a3-highgpu-4g": 4,
            "a3-highgpu-8g": 8,
            "a3-edgegpu-8g": 8,
            "a3-megagpu-8g": 8,
            "a3-ultragpu-8g": 8,
        },
    ),
    "a4": GpuSeries(
        accelerators=frozenset({"nvidia-b200"}),
        fixed_counts={"a4-highgpu-8g": 8},
    ),
}

# Within A2/A3 the accelerator also follows from the machine family, not only the series.
MACHINE_FAMILY_ACCELERATOR: dict[str, str] = {
    "a2-highgpu": "nvidia-tesla-a100",
    "a2-megagpu": "nvidia-tesla-a100",
    "a2-ultragpu": "nvidia-a100-80gb",
    "a3-highgpu": "nvidia-h100-80gb",
    "a3-edgegpu": "nvidia-h100-80gb",
    "a3-megagpu": "nvidia-h100-mega-80gb",
    "a3-ultragpu": "nvidia-h200-141gb",
    "a4-highgpu": "nvidia-b200",
    "g2-standard": "nvidia-l4",
}

ACCELERATORS: frozenset[str] = frozenset().union(*(s.accelerators for s in SERIES.values()))

# GPUs that support multi-instance partitioning, and their partition sizes.
MIG_PARTITIONS: dict[str, frozenset[str]] = {
    "nvidia-tesla-a100": frozenset({"1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"}),
    "nvidia-a100-80gb": frozenset({"1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb"}),
    "nvidia-h100-80gb": frozenset({"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "7g.80gb"}),
    "nvidia-h100-mega-80gb": frozenset({"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "7g.80gb"}),
}

# N1 standard/highmem/highcpu shapes (vCPU counts); other series list their own types above.
N1_VCPUS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 96)
N1_MACHINE_TYPES: frozenset[str] = frozenset(
    {f"n1-standard-{n}" for n in N1_VCPUS}
    | {f"n1-highmem-{n}" for n in N1_VCPUS if n >= 2}
    | {f"n1-highcpu-{n}" for n in N1_VCPUS if n >= 2}
)


def series_of(machine_type: str) -> str:
    return machine_type.split("-", 1)[0]


def family_of(machine_type: str) -> str:
    return "-".join(machine_type.split("-")[:2])


def gpu_machine_types() -> frozenset[str]:
    fixed = {m for s in SERIES.values() if s.fixed_counts for m in s.fixed_counts}
    return frozenset(fixed | N1_MACHINE_TYPES)
