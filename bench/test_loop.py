"""Benchmark the test loop (a benchmark, not a test: it reports, it does not assert).

Runs each command in a fresh process, as a person types it, and reports its wall time and its CPU
time (user+system of the process and all its children: pytest-xdist's workers, the previews and
policy packs they start, the control plane). The load average (`os.getloadavg`, 1 minute) before
and after each run says how quiet the machine was. Results go to bench/results.json under
`test_loop`, next to the rest; docs/benchmarks.md ("The test loop") keeps the current figures.

    .venv/bin/python bench/test_loop.py                     # make test-fast, twice
    .venv/bin/python bench/test_loop.py --runs 1 -- make unit
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"


def measure(command: list[str]) -> dict[str, float | int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "returncode": done.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("command", nargs="*", default=["make", "test-fast"])
    args = parser.parse_args()
    runs = [measure(args.command) for _ in range(args.runs)]
    print(f"{' '.join(args.command)} (nproc {os.cpu_count()}):")
    for r in runs:
        print(
            f"  wall {r['wall_s']} s, CPU {r['cpu_s']} s, load {r['load_before']} -> "
            f"{r['load_after']}, exit {r['returncode']}"
        )
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    doc.setdefault("test_loop", {})[" ".join(args.command)] = runs
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
