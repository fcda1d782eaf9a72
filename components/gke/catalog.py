"""Static Google Cloud facts the config validation relies on.

Kept as plain data so a reviewer can check it against the sources named below, and so that
validation never needs the network. Update it when Google adds a region or a GPU machine family.

Sources:
- Regions and zones: https://cloud.google.com/compute/docs/regions-zones (zone letters per region).
- GPU machine types: https://cloud.google.com/compute/docs/gpus and
  https://cloud.google.com/compute/docs/accelerator-optimized-machines (fixed GPU counts on A/G series).
- MIG profiles: https://cloud.google.com/kubernetes-engine/docs/how-to/gpus-multi (A100, H100,
  H200, B200), with the partition sizes and counts GKE's device plugin accepts
  (GoogleCloudPlatform/container-engine-accelerators pkg/gpu/nvidia/mig/mig.go,
  `gpuPartitionSizeMaxCount`); NVIDIA's 4g.20gb/4g.40gb profiles are not in it.
- Boot disks: each series' "Supported disk types" section on
  https://cloud.google.com/compute/docs/accelerator-optimized-machines and
  https://cloud.google.com/compute/docs/general-purpose-machines (page of 2026-04-13).
- GPU zones: Compute Engine "GPU regions and zones"; the table (GPU_ZONES_FILE, the policy pack's
  policies/astro_gke_policies/gpu_zones.json) was built from the skypilot-org/skypilot-catalog GCP
  catalog (from the GCP SKU/zone API) and the G4 GA release note (Oct 2025). It only warns (a
  policy), never refuses: `gcloud compute accelerator-types list` is the authority before you
  pick zones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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
    # A4X: NVIDIA GB200 Grace Blackwell, Arm (Grace, Neoverse V2) CPUs; reservation-bound ("you
    # must reserve capacity"; no Spot, no Flex-start VMs).
    "a4x": GpuSeries(
        accelerators=frozenset({"nvidia-gb200"}),
        fixed_counts={"a4x-highgpu-4g": 4},
    ),
    # G4: NVIDIA RTX PRO 6000 Blackwell Server Edition, AMD EPYC Turin (x86). The fractional
    # g4-standard-6/12/24 (Preview, vGPU) are left out.
    "g4": GpuSeries(
        accelerators=frozenset({"nvidia-rtx-pro-6000"}),
        fixed_counts={
            "g4-standard-48": 1,
            "g4-standard-96": 2,
            "g4-standard-192": 4,
            "g4-standard-384": 8,
        },
    ),
}

# Series whose CPUs are Arm: task images must be arm64 or multi-arch, and GKE taints Arm nodes
# kubernetes.io/arch=arm64:NoSchedule ("Prepare an Arm workload for deployment").
ARM_SERIES: frozenset[str] = frozenset({"a4x"})

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
    "a4x-highgpu": "nvidia-gb200",
    "g2-standard": "nvidia-l4",
    "g4-standard": "nvidia-rtx-pro-6000",
}

# Every GPU type the series above attach: one list for the stack and the policy pack, which ships it
# (policies/astro_gke_policies/accelerators.json, its default allow-list). A series may name only
# a listed type, and each listed type belongs to a series: checked here, at import.
ACCELERATORS_FILE = (
    Path(__file__).resolve().parents[2] / "policies" / "astro_gke_policies" / "accelerators.json"
)
ACCELERATORS: frozenset[str] = frozenset(json.loads(ACCELERATORS_FILE.read_text())["accelerators"])
_IN_SERIES = frozenset().union(*(s.accelerators for s in SERIES.values()))
if _IN_SERIES != ACCELERATORS:
    raise RuntimeError(
        f"{ACCELERATORS_FILE.name} and the machine series disagree: only in the file "
        f"{sorted(ACCELERATORS - _IN_SERIES)}, only in a series {sorted(_IN_SERIES - ACCELERATORS)}"
    )

# GPUs that support multi-instance partitioning: partition size -> partitions per GPU (what a
# node advertises as nvidia.com/gpu is GPUs x partitions; the device plugin's map, see above).
_H100_MIG = {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "7g.80gb": 1}
MIG_PARTITION_COUNTS: dict[str, dict[str, int]] = {
    "nvidia-tesla-a100": {"1g.5gb": 7, "2g.10gb": 3, "3g.20gb": 2, "7g.40gb": 1},
    "nvidia-a100-80gb": {"1g.10gb": 7, "2g.20gb": 3, "3g.40gb": 2, "7g.80gb": 1},
    "nvidia-h100-80gb": _H100_MIG,
    "nvidia-h100-mega-80gb": _H100_MIG,
    "nvidia-h200-141gb": {
        "1g.18gb": 7,
        "1g.35gb": 4,
        "2g.35gb": 3,
        "3g.71gb": 2,
        "4g.71gb": 1,
        "7g.141gb": 1,
    },
    "nvidia-b200": {
        "1g.23gb": 7,
        "1g.45gb": 4,
        "2g.45gb": 3,
        "3g.90gb": 2,
        "4g.90gb": 1,
        "7g.180gb": 1,
    },
}
MIG_PARTITIONS: dict[str, frozenset[str]] = {
    gpu: frozenset(sizes) for gpu, sizes in MIG_PARTITION_COUNTS.items()
}

# Boot disk types per series or machine family (the longest matching prefix wins). Series not
# listed are not checked. Hyperdisk-only: A4X, A4, A3 Ultra, G4 ("Hyperdisk Balanced ... the only
# disk type that is supported for the boot disk"; "You can't use Persistent Disk") and the CPU
# series N4, N4D, N4A, C4, C4D. G2 refuses pd-standard; A2 and N1 take Persistent Disk only.
PD = frozenset({"pd-balanced", "pd-ssd", "pd-standard"})
HYPERDISK_BOOT = frozenset({"hyperdisk-balanced"})
BOOT_DISKS: dict[str, frozenset[str]] = {
    "a4x": HYPERDISK_BOOT,
    "a4": HYPERDISK_BOOT,
    "a3-ultragpu": HYPERDISK_BOOT,
    "a3": frozenset({"pd-balanced", "pd-ssd", "hyperdisk-balanced"}),
    "a2": PD,
    "g2": frozenset({"pd-balanced", "pd-ssd"}),
    "g4": HYPERDISK_BOOT,
    "n1": PD,
    "e2": PD,
    "n2": PD,
    "n2d": PD,
    "c3": frozenset({"pd-balanced", "pd-ssd", "hyperdisk-balanced"}),
    "n4": HYPERDISK_BOOT,
    "n4d": HYPERDISK_BOOT,
    "n4a": HYPERDISK_BOOT,
    "c4": HYPERDISK_BOOT,
    "c4d": HYPERDISK_BOOT,
}


def boot_disks(machine_type: str) -> frozenset[str] | None:
    """The boot disk types a machine type accepts, or None when the catalog does not know."""
    family = family_of(machine_type)
    return BOOT_DISKS.get(family) or BOOT_DISKS.get(series_of(machine_type))


# Accelerators offered per zone, where sourced (see the module docstring). A zone missing here is
# unknown, not empty. One file for the stack and the policy pack: the pack ships it in its package
# (policies/astro_gke_policies/gpu_zones.json) and reads it from there.
GPU_ZONES_FILE = (
    Path(__file__).resolve().parents[2] / "policies" / "astro_gke_policies" / "gpu_zones.json"
)
GPU_ZONES: dict[str, frozenset[str]] = {
    zone: frozenset(kinds)
    for zone, kinds in json.loads(GPU_ZONES_FILE.read_text())["zones"].items()
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


def is_arm(machine_type: str) -> bool:
    """Whether the machine type's CPUs are Arm (GKE taints its nodes kubernetes.io/arch=arm64)."""
    return series_of(machine_type) in ARM_SERIES


def family_of(machine_type: str) -> str:
    return "-".join(machine_type.split("-")[:2])


def gpu_machine_types() -> frozenset[str]:
    fixed = {m for s in SERIES.values() if s.fixed_counts for m in s.fixed_counts}
    return frozenset(fixed | N1_MACHINE_TYPES)
