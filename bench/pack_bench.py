"""Benchmark the policy pack alone, through its real Analyzer gRPC service (a benchmark, not a test:
it reports, it does not assert).

For the dev stack with N Airflow deployments (bench/preview_bench.py's synthetic config), the
resources the program registers under mocks are turned into AnalyzeRequests beforehand; then the
pack (policies/__main__.py in its own process, as the engine starts it) gets them one blocking
`Analyze` call at a time, then one `AnalyzeStack`. Reported per N: ms per Analyze (best of the
rounds, wall clock, the client's gRPC round trip included), the pack process's own CPU time per
Analyze (from /proc: what the pack costs, whoever calls it; 10 ms clock ticks over hundreds of
calls), AnalyzeStack seconds, and the pack process's peak resident memory (VmHWM). The cost of an
empty round trip on the same channel (GetPluginInfo) is reported too: it is the client's and
gRPC's share of each call, not the pack's.

`--pack-dir` names other packs to compare (e.g. a `git worktree` of an older commit's
`policies/`); rounds are interleaved across packs (pack A, pack B, pack A, ...) so a noisy
machine hurts both alike.

Run: `.venv/bin/python bench/pack_bench.py [--rounds 5] [--deployments 1 50 100]
[--pack-dir <tree>/policies ...]` (writes `policy_pack` in bench/results.json); `make bench`
runs it after the preview benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
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


def registrations(deployments: int) -> list[Registration]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.dev.yaml"
        path.write_text(yaml.safe_dump(synthetic(deployments, 1)))
        return runner.run("dev", config=runner.stack_config("dev", path)).registrations


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
) -> tuple[float, float, float]:
    """Wall seconds of the Analyze calls and of AnalyzeStack, and the pack's own CPU seconds
    for the Analyze calls (what the client and the round trips cost is not in it)."""
    stub = pack._stub
    cpu = cpu_s(pack)
    start = time.perf_counter()
    for request in requests:
        stub.Analyze(request, timeout=60)
    analyze = time.perf_counter() - start
    cpu = cpu_s(pack) - cpu
    start = time.perf_counter()
    stub.AnalyzeStack(stack, timeout=120)
    return analyze, time.perf_counter() - start, cpu


def empty_round_trip_ms(pack: PolicyPackServer, calls: int = 500) -> float:
    stub = pack._stub
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            stub.GetPluginInfo(empty_pb2.Empty(), timeout=60)
        best = min(best, (time.perf_counter() - start) / calls * 1000)
    return best


def main(rounds: int, deployments: list[int], pack_dirs: list[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {"python": sys.version.split()[0], "rounds": rounds, "packs": {}}
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
        best: dict[Path, list[float]] = {p: [float("inf")] * 3 for p in pack_dirs}
        worst: dict[Path, float] = {p: 0.0 for p in pack_dirs}
        rss: dict[Path, float] = {}
        empty: dict[Path, float] = {}
        packs = {p: PolicyPackServer(pack_dir=p).__enter__() for p in pack_dirs}
        try:
            for pack in packs.values():
                one_round(pack, requests, stack)  # warm up: imports, first-call paths
            for _ in range(rounds):
                for pack_dir, pack in packs.items():
                    measured = one_round(pack, requests, stack)
                    best[pack_dir] = [
                        min(b, m) for b, m in zip(best[pack_dir], measured, strict=True)
                    ]
                    worst[pack_dir] = max(worst[pack_dir], measured[0])
            for pack_dir, pack in packs.items():
                rss[pack_dir] = peak_rss_mb(pack)
                empty[pack_dir] = empty_round_trip_ms(pack)
        finally:
            for pack in packs.values():
                pack.__exit__(None, None, None)
        for pack_dir in pack_dirs:
            analyze, stack_s, cpu = best[pack_dir]
            out["packs"][str(pack_dir)][f"{n}d"] = {
                "resources": total,
                "custom_resources": custom,
                "analyze_all_s": round(analyze, 3),
                "ms_per_analyze": round(analyze / total * 1000, 3),
                "analyze_wall_spread": round(worst[pack_dir] / analyze, 2),
                "pack_cpu_ms_per_analyze": round(cpu / total * 1000, 3),
                "empty_round_trip_ms": round(empty[pack_dir], 3),
                "analyze_stack_s": round(stack_s, 3),
                "peak_rss_mb": round(rss[pack_dir], 1),
            }
    return out


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "| pack | deployments | resources | ms per Analyze, wall (worst/best) | pack CPU ms per "
        "Analyze | empty round trip ms | AnalyzeStack s | pack peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for pack, by_n in r["packs"].items():
        for n, m in by_n.items():
            lines.append(
                f"| {pack} | {n[:-1]} | {m['resources']} | {m['ms_per_analyze']} "
                f"({m['analyze_wall_spread']}x) | {m['pack_cpu_ms_per_analyze']} | "
                f"{m['empty_round_trip_ms']} | {m['analyze_stack_s']} | {m['peak_rss_mb']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--deployments", type=int, nargs="+", default=[1, 50, 100])
    parser.add_argument("--pack-dir", type=Path, action="append", default=[])
    args = parser.parse_args()
    results = main(args.rounds, args.deployments, args.pack_dir or [PACK_DIR])
    results_file = ROOT / "bench" / "results.json"
    previous = json.loads(results_file.read_text()) if results_file.exists() else {}
    results_file.write_text(json.dumps({**previous, "policy_pack": results}, indent=2) + "\n")
    print(markdown(results))
