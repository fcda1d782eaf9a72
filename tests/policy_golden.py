"""The policy pack's verdicts recorded from a reference pack, and their replay (issue 22).

`record` drives a policy pack (by default the one in this tree; `--pack-dir` another tree's
`policies/`, e.g. a `git worktree` of main before a change) through its real Analyzer gRPC service
over a fixed corpus and writes every response, whole (diagnostics with their level, message,
description, URN; not-applicable entries), to tests/golden/policy_verdicts.json.gz. The corpus:

- the resources the dev and prod stacks register, and a 50-deployment dev stack (the bench's
  synthetic config): each one `Analyze`d, and the whole stack `AnalyzeStack`ed;
- every top-level property of every dev and prod resource made unknown in turn (preview), alone
  (Analyze) and in its stack (AnalyzeStack), and every property of the stack unknown at once;
- every property path of every dev and prod resource replaced by each of ten awkward values;
- each mutation of the policy pack's violation CASES (tests/policy_pack/test_policy_violations.py,
  tests/test_policies.py at 134caf3) (at recording time), with its config: every
  resource and the stack;
- stack edits: every dev and prod resource removed in turn, and orphaned (no parent) in turn;
  in the 50-deployment stack, each of one deployment's children removed in turn and all of them
  moved under another deployment.

The registrations are stored with the verdicts, so replaying does not depend on what the program
registers today. tests/test_policy_verdicts.py replays the corpus through the current pack and
compares the responses of the policies the reference pack had (policies added since are ignored).

Re-record (only when a policy's verdict is meant to change, and say so in the change):
    .venv/bin/python -m tests.policy_golden record [--pack-dir <tree>/policies]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gzip
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from pulumi.runtime.rpc import UNKNOWN

from offline import runner
from offline.analyzer import PACK_DIR, PolicyPackServer, analyze_request, stack_request
from offline.mocks import Registration
from offline.preview import load_registrations

GOLDEN = Path(__file__).resolve().parent / "golden" / "policy_verdicts.json.gz"
ODD_VALUES: list[Any] = [None, True, 0, 1.5, "", "x", [], {}, [1, "a"], {"a": 1}]
SCALED = "dev-50"
SCALED_DEPLOYMENTS = 50
# In the scaled stack: whose children are removed, and where they are moved.
VICTIM, HEIR = "astro-gpu-dev-team07", "astro-gpu-dev-team08"
DEPLOYMENT = "astro-gke-gpu:airflow:DeploymentAccess"


@dataclass
class Case:
    """One replayable exchange: `analyze` indexes into `regs` (each sent as one Analyze), then one
    AnalyzeStack over `regs` when `stack`. `wire` overrides one resource's properties."""

    id: str
    regs: list[Registration]
    analyze: list[int]
    stack: bool
    config: dict[str, Any] = field(default_factory=dict)
    wire: dict[int, dict[str, Any]] = field(default_factory=dict)


def as_dict(response: Any) -> dict[str, Any]:
    return dict(json_format.MessageToDict(response))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        if "4dabf18193072939515e22adb298388d" in value:  # a secret envelope stays whole
            return [prefix]
        return [prefix] + [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [prefix] + [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


def _set(wire: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(wire)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def corpus(stacks: dict[str, list[Registration]]) -> Iterator[Case]:
    """Every case derived from the stored stacks (deterministic; mutation cases are stored)."""
    for name, regs in stacks.items():
        yield Case(f"{name}/all", regs, list(range(len(regs))), True)
    for name in ("dev", "prod"):
        regs = stacks[name]
        for i, r in enumerate(regs):
            for key in r.wire:
                yield Case(
                    f"{name}/unknown/{r.urn}/{key}",
                    [r],
                    [0],
                    False,
                    wire={0: {**r.wire, key: UNKNOWN}},
                )
            for path in (p for p in _paths(r.wire) if p):
                for j, value in enumerate(ODD_VALUES):
                    yield Case(
                        f"{name}/odd/{r.urn}/{'.'.join(map(str, path))}/{j}",
                        [r],
                        [0],
                        False,
                        wire={0: _set(r.wire, path, value)},
                    )
            for key in r.wire:
                unknown = dataclasses.replace(r, wire={**r.wire, key: UNKNOWN})
                yield Case(
                    f"{name}/stack-unknown/{r.urn}/{key}",
                    [*regs[:i], unknown, *regs[i + 1 :]],
                    [],
                    True,
                )
            yield Case(f"{name}/remove/{r.urn}", regs[:i] + regs[i + 1 :], [], True)
            if r.parent:
                orphan = dataclasses.replace(r, parent="")
                yield Case(f"{name}/orphan/{r.urn}", [*regs[:i], orphan, *regs[i + 1 :]], [], True)
        everything = [dataclasses.replace(r, wire={k: UNKNOWN for k in r.wire}) for r in regs]
        yield Case(f"{name}/stack-all-unknown", everything, [], True)
    regs = stacks[SCALED]
    victim = next(r.urn for r in regs if r.type == DEPLOYMENT and r.name == VICTIM)
    heir = next(r.urn for r in regs if r.type == DEPLOYMENT and r.name == HEIR)
    for i, r in enumerate(regs):
        if r.parent == victim:
            yield Case(f"{SCALED}/remove/{r.urn}", regs[:i] + regs[i + 1 :], [], True)
    moved = [dataclasses.replace(r, parent=heir) if r.parent == victim else r for r in regs]
    yield Case(f"{SCALED}/move-children", moved, [], True)


# --- recording -------------------------------------------------------------------------------


def _synthetic_dev(deployments: int) -> dict[str, Any]:
    from bench.preview_bench import synthetic  # the config the benchmark scales

    return synthetic(deployments, 1)


def current_stacks() -> dict[str, list[Registration]]:
    out = {name: runner.run(name).registrations for name in ("dev", "prod")}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.dev.yaml"
        path.write_text(yaml.safe_dump(_synthetic_dev(SCALED_DEPLOYMENTS)))
        out[SCALED] = runner.run("dev", config=runner.stack_config("dev", path)).registrations
    return out


def mutation_cases(stacks: dict[str, list[Registration]]) -> list[Case]:
    """The violation CASES as they stand when recording: each mutated stack whole."""
    from tests.policy_pack import test_policy_violations as test_policies

    out: list[Case] = []
    for policy, stack, _level, mutate, _fragment, config in test_policies.CASES:
        regs = mutate(list(stacks[stack]))
        out.append(
            Case(
                f"{stack}/case/{policy}/{len(out)}",
                regs,
                list(range(len(regs))),
                True,
                config={policy: config} if config else {},
            )
        )
    return out


def _reg_json(r: Registration) -> dict[str, Any]:
    doc = dataclasses.asdict(r)
    doc["secret_inputs"] = sorted(r.secret_inputs)
    return doc


def _encode_regs(regs: list[Registration], base: dict[str, Registration]) -> list[Any]:
    """A registration equal to the stored stack's is stored as its URN."""
    return [r.urn if base.get(r.urn) == r else _reg_json(r) for r in regs]


def run_case(pack: PolicyPackServer, case: Case) -> dict[str, Any]:
    stub = pack._stub
    pack.configure(case.config)
    try:
        responses = [
            as_dict(stub.Analyze(analyze_request(case.regs[i], case.wire.get(i)), timeout=60))
            for i in case.analyze
        ]
        stack = (
            as_dict(stub.AnalyzeStack(stack_request(case.regs), timeout=60)) if case.stack else None
        )
    finally:
        if case.config:
            pack.configure({})
    return {"analyze": responses, "stack": stack}


def _git_commit(pack_dir: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(pack_dir), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def record(pack_dir: Path) -> None:
    stacks = current_stacks()
    mutated = mutation_cases(stacks)
    with PolicyPackServer(pack_dir=pack_dir) as pack:
        policies = sorted(p.name for p in pack.info().policies)
        results = {c.id: run_case(pack, c) for c in [*corpus(stacks), *mutated]}
    bases = {name: {r.urn: r for r in regs} for name, regs in stacks.items()}
    doc = {
        "pack_commit": _git_commit(pack_dir),
        "policies": policies,
        "stacks": {name: [_reg_json(r) for r in regs] for name, regs in stacks.items()},
        "mutations": [
            {
                "id": c.id,
                "stack": c.id.split("/")[0],
                "config": c.config,
                "regs": _encode_regs(c.regs, bases[c.id.split("/")[0]]),
            }
            for c in mutated
        ],
        "results": results,
    }
    GOLDEN.parent.mkdir(exist_ok=True)
    # mtime=0: the same verdicts give the same bytes.
    with gzip.GzipFile(GOLDEN, "wb", mtime=0) as out:
        out.write(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    print(f"{GOLDEN}: {len(results)} cases from the pack at {doc['pack_commit']}")


# --- replaying -------------------------------------------------------------------------------


@dataclass
class Golden:
    pack_commit: str
    policies: list[str]
    stacks: dict[str, list[Registration]]
    cases: list[Case]
    results: dict[str, Any]


def load() -> Golden:
    doc = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    stacks = {
        name: load_registrations({"registrations": regs}) for name, regs in doc["stacks"].items()
    }
    bases = {name: {r.urn: r for r in regs} for name, regs in stacks.items()}
    cases = list(corpus(stacks))
    for m in doc["mutations"]:
        base = bases[m["stack"]]
        regs = [
            base[x] if isinstance(x, str) else load_registrations({"registrations": [x]})[0]
            for x in m["regs"]
        ]
        cases.append(Case(m["id"], regs, list(range(len(regs))), True, config=m["config"]))
    return Golden(doc["pack_commit"], doc["policies"], stacks, cases, doc["results"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["record"])
    parser.add_argument("--pack-dir", type=Path, default=PACK_DIR)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    record(args.pack_dir.resolve())


if __name__ == "__main__":
    main()
