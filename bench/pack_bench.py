"""Benchmark the policy pack alone, through its real Analyzer gRPC service (a benchmark, not a test:
it reports, it does not assert).

For the dev stack with N Airflow deployments (bench/preview_bench.py's synthetic config), the
resources the program registers under mocks are turned into AnalyzeRequests beforehand; then the
pack (policies/__main__.py in its own process, as the engine starts it) gets them one blocking
`Analyze` call at a time, then one `AnalyzeStack`. Reported per N (best of the rounds):

- ms per Analyze, wall clock: the client's view, its gRPC round trip included;
- the pack process's own CPU time per Analyze (from /proc: what the pack costs whoever calls it;
  each round sends the requests as many times as it takes to make `--min-calls` calls, so the
  10 ms clock ticks of /proc do not blur a 49-resource stack);
- the same for an empty call on the same channel (GetPluginInfo, as many calls): its wall time is
  the round trip with no work, its pack CPU what grpcio's server costs the pack for any call (the
  transport the engine's protocol imposes), and the difference between the two CPU columns is
  the pack's work per Analyze;
- the pack's work per Analyze measured without gRPC: the same requests handed to the pack's
  servicer in a process of its own (`servicer().Analyze(request, None)`, CPU time);
- AnalyzeStack seconds, and the pack process's peak resident memory (VmHWM).

The pack is started with the environment the engine gives it (`engine_env`: the stack's config in
PULUMI_CONFIG, project, stack, dry run), which the SDK's servicer reads on every request;
`--no-engine-env` leaves it out.

`--pack-dir` names other packs to compare (e.g. a `git worktree` of an older commit's
`policies/`); rounds are interleaved across packs (pack A, pack B, pack A, ...) so a noisy
machine hurts both alike.

Run: `.venv/bin/python bench/pack_bench.py [--rounds 5] [--deployments 1 50 100]
[--min-calls 2000] [--pack-dir <tree>/policies ...]` (writes `policy_pack` in bench/results.json); `make bench`
runs it after the preview benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import empty_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.preview_bench import synthetic  # noqa: E402
from offline import runner  # noqa: E402
from offline.analyzer import PACK_DIR, PolicyPackServer, analyze_request, stack_request  # noqa: E402
from offline.mocks import Registration  # noqa: E402


def stack_config(deployments: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.dev.yaml"
        path.write_text(yaml.safe_dump(synthetic(deployments, 1)))
        return runner.stack_config("dev", path)


def registrations(deployments: int) -> list[Registration]:
    return runner.run("dev", config=stack_config(deployments)).registrations


def engine_env(deployments: int) -> dict[str, str]:
    """The environment `pulumi preview --policy-pack` starts the pack with (pulumi's
    pkg/resource/plugin/analyzer_plugin.go, `constructEnv`): the stack's config as JSON (each value
    a string, objects JSON-encoded, as the CLI hands config to a program), organization, project,
    stack, dry run. The SDK's servicer reads it again on every request."""
    config = {
        k: v if isinstance(v, str) else json.dumps(v) for k, v in stack_config(deployments).items()
    }
    return {
        "PULUMI_CONFIG": json.dumps(config),
        "PULUMI_ORGANIZATION": "organization",
        "PULUMI_PROJECT": runner.project_name(ROOT),
        "PULUMI_STACK": "dev",
        "PULUMI_DRY_RUN": "true",
    }


def peak_rss_mb(pack: PolicyPackServer) -> float:
    assert pack.process is not None
    for line in Path(f"/proc/{pack.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pack: PolicyPackServer) -> float:
    """User+system CPU seconds the pack process has used (/proc/<pid>/stat, clock ticks)."""
    assert pack.process is not None
    fields = Path(f"/proc/{pack.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(
    pack: PolicyPackServer, requests: list[Any], stack: Any
) -> tuple[float, float, float, float, float]:
    """Seconds per call: wall and pack CPU of the Analyze calls, wall and pack CPU of as many
    empty calls; and AnalyzeStack's wall seconds."""
    stub = pack._stub
    cpu = cpu_s(pack)
    start = time.perf_counter()
    for request in requests:
        stub.Analyze(request, timeout=60)
    analyze = time.perf_counter() - start
    cpu = cpu_s(pack) - cpu
    empty_cpu = cpu_s(pack)
    start = time.perf_counter()
    for _ in requests:
        stub.GetPluginInfo(empty_pb2.Empty(), timeout=60)
    empty = time.perf_counter() - start
    empty_cpu = cpu_s(pack) - empty_cpu
    start = time.perf_counter()
    stub.AnalyzeStack(stack, timeout=120)
    stack_s = time.perf_counter() - start
    calls = len(requests)
    return analyze / calls, cpu / calls, empty / calls, empty_cpu / calls, stack_s


# Run with the pack directory as cwd (so its `astro_gke_policies` is the one imported): the
# servicer alone, no gRPC, on the requests in argv[1]; prints the best CPU seconds per Analyze.
IN_PROCESS = """
import sys, time
from pulumi.runtime.proto import analyzer_pb2
from astro_gke_policies.pack import servicer
data = open(sys.argv[1], "rb").read()
requests, at = [], 0
while at < len(data):
    size = int.from_bytes(data[at:at + 4], "little")
    requests.append(analyzer_pb2.AnalyzeRequest.FromString(data[at + 4:at + 4 + size]))
    at += 4 + size
s = servicer()
for r in requests:
    s.Analyze(r, None)
best = float("inf")
for _ in range(int(sys.argv[2])):
    start = time.process_time()
    for r in requests:
        s.Analyze(r, None)
    best = min(best, time.process_time() - start)
print(best / len(requests))
"""


def in_process_cpu_s(pack_dir: Path, requests: list[Any], rounds: int) -> float:
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        for request in requests:
            data = request.SerializeToString()
            f.write(len(data).to_bytes(4, "little") + data)
        f.flush()
        out = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, f.name, str(rounds)],
            cwd=pack_dir,
            check=True,
            capture_output=True,
            text=True,
        )
    return float(out.stdout.strip())


def machine() -> dict[str, Any]:
    models = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ]
    return {"nproc": os.cpu_count(), "cpu": models[0] if models else "unknown"}


def main(
    rounds: int, deployments: list[int], pack_dirs: list[Path], min_calls: int, env: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        **machine(),
        "rounds": rounds,
        "min_calls": min_calls,
        "engine_env": env,
        "load_average_1m": {"start": round(os.getloadavg()[0], 2)},
        "packs": {},
    }
    workloads = {}
    for n in deployments:
        regs = registrations(n)
        workloads[n] = (
            [analyze_request(r) for r in regs],
            stack_request(regs),
            len(regs),
            sum(1 for r in regs if r.custom),
        )
    for pack_dir in pack_dirs:
        out["packs"][str(pack_dir)] = {}
    for n, (requests, stack, total, custom) in workloads.items():
        sent = requests * math.ceil(min_calls / total)
        best: dict[Path, list[float]] = {p: [float("inf")] * 5 for p in pack_dirs}
        worst: dict[Path, float] = {p: 0.0 for p in pack_dirs}
        rss: dict[Path, float] = {}
        if env:  # the packs (and the in-process runs) inherit it
            os.environ.update(engine_env(n))
        packs = {p: PolicyPackServer(pack_dir=p).__enter__() for p in pack_dirs}
        try:
            for pack in packs.values():
                one_round(pack, requests, stack)  # warm up: imports, first-call paths
            for _ in range(rounds):
                for pack_dir, pack in packs.items():
                    measured = one_round(pack, sent, stack)
                    best[pack_dir] = [
                        min(b, m) for b, m in zip(best[pack_dir], measured, strict=True)
                    ]
                    worst[pack_dir] = max(worst[pack_dir], measured[0])
            for pack_dir, pack in packs.items():
                rss[pack_dir] = peak_rss_mb(pack)
        finally:
            for pack in packs.values():
                pack.__exit__(None, None, None)
        for pack_dir in pack_dirs:
            analyze, cpu, empty, empty_cpu, stack_s = best[pack_dir]
            in_process = in_process_cpu_s(pack_dir, requests, max(rounds, 3))
            out["packs"][str(pack_dir)][f"{n}d"] = {
                "resources": total,
                "custom_resources": custom,
                "calls_per_round": len(sent),
                "ms_per_analyze": round(analyze * 1000, 3),
                "analyze_wall_spread": round(worst[pack_dir] / analyze, 2),
                "pack_cpu_ms_per_analyze": round(cpu * 1000, 3),
                "empty_round_trip_ms": round(empty * 1000, 3),
                "pack_cpu_ms_per_empty_call": round(empty_cpu * 1000, 3),
                "pack_work_cpu_ms_per_analyze": round((cpu - empty_cpu) * 1000, 3),
                "in_process_cpu_ms_per_analyze": round(in_process * 1000, 3),
                "analyze_stack_s": round(stack_s, 3),
                "peak_rss_mb": round(rss[pack_dir], 1),
            }
    out["load_average_1m"]["end"] = round(os.getloadavg()[0], 2)
    return out


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"{r['cpu']}, nproc {r['nproc']}, Python {r['python']}; best of {r['rounds']} rounds of "
        f"at least {r['min_calls']} calls; the pack started with the engine's environment: "
        f"{'yes' if r['engine_env'] else 'no'}; load average (1 min) "
        f"{r['load_average_1m']['start']} at start, {r['load_average_1m']['end']} at end",
        "",
        "| pack | deployments | resources | ms per Analyze, wall (worst/best) | empty round trip "
        "ms, wall | pack CPU ms per Analyze | pack CPU ms per empty call | pack work: CPU ms per "
        "Analyze minus empty | pack work in-process, CPU ms per Analyze | AnalyzeStack s | "
        "pack peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for pack, by_n in r["packs"].items():
        for n, m in by_n.items():
            lines.append(
                f"| {pack} | {n[:-1]} | {m['resources']} | {m['ms_per_analyze']} "
                f"({m['analyze_wall_spread']}x) | {m['empty_round_trip_ms']} | "
                f"{m['pack_cpu_ms_per_analyze']} | {m['pack_cpu_ms_per_empty_call']} | "
                f"{m['pack_work_cpu_ms_per_analyze']} | {m['in_process_cpu_ms_per_analyze']} | "
                f"{m['analyze_stack_s']} | {m['peak_rss_mb']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--deployments", type=int, nargs="+", default=[1, 50, 100])
    parser.add_argument("--min-calls", type=int, default=2000)
    parser.add_argument("--pack-dir", type=Path, action="append", default=[])
    parser.add_argument(
        "--no-engine-env",
        action="store_true",
        help="start the pack without the environment the engine gives it (PULUMI_CONFIG, ...)",
    )
    args = parser.parse_args()
    results = main(
        args.rounds,
        args.deployments,
        args.pack_dir or [PACK_DIR],
        args.min_calls,
        not args.no_engine_env,
    )
    results_file = ROOT / "bench" / "results.json"
    previous = json.loads(results_file.read_text()) if results_file.exists() else {}
    results_file.write_text(json.dumps({**previous, "policy_pack": results}, indent=2) + "\n")
    print(markdown(results))
