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

`--floor` (issue 22) measures instead `make preview` against its floor, the program alone under
the SDK's stock mocks (bench/program_floor.py), for the dev stack with 1, 50 and 100 deployments:
separate processes, interleaved (floor, preview, floor, preview, ...), best of N, wall and CPU
time (user+sys of the process and its children: the pack runs in a child, and CPU time is what a
busy shared machine disturbs least). `--base <dir>` adds the preview of another tree (e.g. a
`git worktree` of main before a change), interleaved too. Results go to results.json under
`preview_vs_floor`, next to the rest.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
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


def timed(cmd: list[str], cwd: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user+sys of the process and every child it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=False, capture_output=True)
    wall_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall_s, cpu


def preview_vs_floor(
    runs: int, deployments: tuple[int, ...] = (1, 50, 100), base: Path | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in deployments:
            path = Path(tmp) / f"Pulumi.d{n}.yaml"
            path.write_text(yaml.safe_dump(synthetic(n, 1)))
            cmds: dict[str, tuple[list[str], Path]] = {
                "floor": (
                    [PY, str(ROOT / "bench" / "program_floor.py"), "--config-file", str(path)],
                    ROOT,
                ),
                "preview": (preview_cmd("dev", path), ROOT),
            }
            if base is not None:
                cmds["preview_base"] = (preview_cmd("dev", path), base)
            samples: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
            for _ in range(runs):
                for key, (cmd, cwd) in cmds.items():
                    samples[key].append(timed(cmd, cwd))
            row: dict[str, Any] = {}
            for key, got in samples.items():
                walls, cpus = [w for w, _ in got], [c for _, c in got]
                row[f"{key}_wall_s"] = round(min(walls), 3)
                row[f"{key}_wall_spread"] = round(max(walls) / min(walls), 2)
                row[f"{key}_cpu_s"] = round(min(cpus), 3)
            for key in cmds:
                if key != "floor":
                    row[f"{key}_over_floor_wall"] = round(
                        row[f"{key}_wall_s"] / row["floor_wall_s"], 2
                    )
                    row[f"{key}_over_floor_cpu"] = round(
                        row[f"{key}_cpu_s"] / row["floor_cpu_s"], 2
                    )
            out[f"{n}d"] = row
    return {"runs": runs, "nproc": os.cpu_count(), "by_deployments": out}


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


def floor_markdown(r: dict[str, Any]) -> str:
    keys = [k for k in next(iter(r["by_deployments"].values())) if k.endswith("_over_floor_wall")]
    runs = [k.removesuffix("_over_floor_wall") for k in keys]
    head = "| deployments | floor wall s (CPU s) | " + " | ".join(
        f"{k} wall s (CPU s) | {k} / floor, wall (CPU)" for k in runs
    )
    lines = [head + " |", "|" + " --- |" * (1 + 2 * len(runs) + 1)]
    for n, row in r["by_deployments"].items():
        cells = [n[:-1], f"{row['floor_wall_s']} ({row['floor_cpu_s']})"]
        for k in runs:
            cells.append(f"{row[f'{k}_wall_s']} ({row[f'{k}_cpu_s']})")
            cells.append(f"{row[f'{k}_over_floor_wall']}x ({row[f'{k}_over_floor_cpu']}x)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", type=int, default=5)
    parser.add_argument(
        "--floor", action="store_true", help="only `make preview` against its floor"
    )
    parser.add_argument("--base", type=Path, help="with --floor: also time this tree's preview")
    parser.add_argument("--deployments", type=int, nargs="+", default=[1, 50, 100])
    args = parser.parse_args()
    results_file = ROOT / "bench" / "results.json"
    previous = json.loads(results_file.read_text()) if results_file.exists() else {}
    if args.floor:
        floor = preview_vs_floor(args.runs, tuple(args.deployments), args.base)
        results = {**previous, "preview_vs_floor": floor}
        print(floor_markdown(floor))
    else:
        results = {**previous, **main(args.runs)}
        print(markdown(results))
    results_file.write_text(json.dumps(results, indent=2) + "\n")
