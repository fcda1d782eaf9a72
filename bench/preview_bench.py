"""Benchmark `make preview` (a benchmark, not a test: it reports, it does not assert).

Measures, in one run, wall time of separate processes (median of N):
- the import floor: `import pulumi, pulumi_gcp, pulumi_kubernetes, pulumi_policy`. pulumi_gcp and
  pulumi_kubernetes load their submodules lazily, so this loads almost none of their code;
- the used-SDK floor: the same plus loading the resource classes the stack uses (what any program
  creating these resources must load);
- `make preview` for dev and prod (program under mocks + policy pack over gRPC + plan);
- synthetic dev configs with 1, 10 and 50 Airflow deployments and 1 and 5 GPU pools.

Goals (from the issue): dev preview at most 4x the import floor; each extra deployment at most
30 ms, linear. Run: `make bench` (writes bench/results.json and prints a Markdown table).
"""

from __future__ import annotations

import copy
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
KEY = "astro-gke-gpu:platform"
IMPORT_FLOOR = "import pulumi, pulumi_gcp, pulumi_kubernetes, pulumi_policy"
# Touching each class loads its module (the SDKs load resource modules lazily on attribute access).
USED_CLASSES = [
    "pulumi_gcp.compute.Network",
    "pulumi_gcp.compute.Subnetwork",
    "pulumi_gcp.compute.Router",
    "pulumi_gcp.compute.RouterNat",
    "pulumi_gcp.container.Cluster",
    "pulumi_gcp.container.NodePool",
    "pulumi_gcp.projects.IAMMember",
    "pulumi_gcp.projects.IAMCustomRole",
    "pulumi_gcp.projects.ServiceIdentity",
    "pulumi_gcp.serviceaccount.Account",
    "pulumi_gcp.serviceaccount.IAMMember",
    "pulumi_gcp.secretmanager.Secret",
    "pulumi_gcp.secretmanager.SecretVersion",
    "pulumi_gcp.secretmanager.SecretIamMember",
    "pulumi_gcp.kms.CryptoKeyIAMMember",
    "pulumi_gcp.artifactregistry.RepositoryIamMember",
    "pulumi_gcp.organizations.get_project_output",
    "pulumi_kubernetes.Provider",
    "pulumi_kubernetes.core.v1.Namespace",
    "pulumi_kubernetes.core.v1.ResourceQuota",
    "pulumi_kubernetes.core.v1.LimitRange",
    "pulumi_kubernetes.networking.v1.NetworkPolicy",
    "pulumi_kubernetes.rbac.v1.Role",
    "pulumi_kubernetes.rbac.v1.RoleBinding",
]
USED_SDK_FLOOR = IMPORT_FLOOR + "; " + "; ".join(USED_CLASSES)


def wall(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def synthetic(deployments: int, pools: int) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    platform = doc["config"][KEY]
    base_pool = platform["gpu_pools"][0]
    platform["gpu_pools"] = [{**copy.deepcopy(base_pool), "name": f"l4-{i}"} for i in range(pools)]
    base = platform["deployments"][0]
    platform["deployments"] = [
        {
            **copy.deepcopy(base),
            "name": f"team{i:02d}",
            "astro_identity": f"astro-team{i:02d}-dev@astro-tenant-4821.iam.gserviceaccount.com",
            "namespace": f"airflow-team{i:02d}",
            "connection_id": f"gke_gpu_team{i:02d}",
        }
        for i in range(deployments)
    ]
    return doc


def preview_cmd(stack: str, config_file: Path | None = None) -> list[str]:
    cmd = [PY, "-m", "offline.preview", "--stack", stack]
    return cmd + (["--config-file", str(config_file)] if config_file else [])


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares seconds per deployment."""
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


def program_only_ms_per_deployment(runs: int) -> float:
    """The Pulumi SDK's own cost: the program under mocks, in one process, no policy pack."""
    sys.path.insert(0, str(ROOT))
    from offline import runner

    runner.run("dev")  # load the SDK modules once
    best: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for deployments in (10, 50):
            path = Path(tmp) / f"Pulumi.d{deployments}.yaml"
            path.write_text(yaml.safe_dump(synthetic(deployments, 1)))
            config = runner.stack_config("dev", path)
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                runner.run("dev", config=config)
                samples.append(time.perf_counter() - start)
            best[deployments] = statistics.median(samples)
    return (best[50] - best[10]) / 40 * 1000


def main(runs: int = 5) -> dict[str, Any]:
    floor = wall([PY, "-c", IMPORT_FLOOR], runs)
    used = wall([PY, "-c", USED_SDK_FLOOR], runs)
    dev = wall(preview_cmd("dev"), runs)
    # Largest resident set of any child so far: the dev previews (the floors load less).
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    prod = wall(preview_cmd("prod"), runs)
    grid: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pools in (1, 5):
            for deployments in (1, 10, 50):
                path = Path(tmp) / f"Pulumi.d{deployments}p{pools}.yaml"
                path.write_text(yaml.safe_dump(synthetic(deployments, pools)))
                grid[f"{deployments}d/{pools}p"] = wall(preview_cmd("dev", path), max(3, runs // 2))
    per_deployment = {
        pools: slope([(d, grid[f"{d}d/{pools}p"]) for d in (1, 10, 50)]) for pools in (1, 5)
    }
    # Linearity: cost per deployment over 1->10 and over 10->50 should agree.
    segments = {
        pools: (
            (grid[f"10d/{pools}p"] - grid[f"1d/{pools}p"]) / 9,
            (grid[f"50d/{pools}p"] - grid[f"10d/{pools}p"]) / 40,
        )
        for pools in (1, 5)
    }
    return {
        "python": sys.version.split()[0],
        "runs": runs,
        "import_floor_s": round(floor, 3),
        "used_sdk_floor_s": round(used, 3),
        "preview_dev_s": round(dev, 3),
        "preview_prod_s": round(prod, 3),
        "preview_dev_peak_rss_mb": round(peak_rss_mb),
        "dev_over_import_floor": round(dev / floor, 2),
        "dev_over_used_sdk_floor": round(dev / used, 2),
        "synthetic_s": {k: round(v, 3) for k, v in grid.items()},
        "ms_per_extra_deployment": {
            f"{p} pool(s)": round(s * 1000, 1) for p, s in per_deployment.items()
        },
        "sdk_program_only_ms_per_deployment": round(program_only_ms_per_deployment(runs), 1),
        "ms_per_deployment_segments": {
            f"{p} pool(s)": {"1->10": round(a * 1000, 1), "10->50": round(b * 1000, 1)}
            for p, (a, b) in segments.items()
        },
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "| measurement | seconds |",
        "| --- | --- |",
        f"| import floor (`{IMPORT_FLOOR}`) | {r['import_floor_s']} |",
        f"| used-SDK floor (+ loading the {len(USED_CLASSES)} resource classes the stack uses) "
        f"| {r['used_sdk_floor_s']} |",
        f"| `make preview` dev | {r['preview_dev_s']} ({r['dev_over_import_floor']}x import floor, "
        f"{r['dev_over_used_sdk_floor']}x used-SDK floor) |",
        f"| `make preview` prod | {r['preview_prod_s']} |",
        f"| `make preview` dev, peak memory (RSS of the preview process) | {r['preview_dev_peak_rss_mb']} MB |",
    ]
    lines += [f"| synthetic {k} | {v} |" for k, v in r["synthetic_s"].items()]
    for pools, ms in r["ms_per_extra_deployment"].items():
        seg = r["ms_per_deployment_segments"][pools]
        lines.append(
            f"| per extra deployment, {pools} | {ms} ms (1->10: {seg['1->10']} ms, 10->50: {seg['10->50']} ms) |"
        )
    lines.append(
        f"| per extra deployment, program only (Pulumi SDK under mocks, in-process, no pack) | "
        f"{r['sdk_program_only_ms_per_deployment']} ms |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    results = main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
