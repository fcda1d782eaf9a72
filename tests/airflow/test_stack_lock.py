"""stack_lock.py: which runs of one stack may use its namespaces and nodes at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stack_lock import _enter, stack_lock


def fresh() -> dict[str, object]:
    return {"share": None, "holders": [], "waiting": []}


def test_runs_applying_the_same_objects_share_up_to_the_capacity() -> None:
    state = fresh()
    assert _enter(state, 1, "a", 2) and _enter(state, 2, "a", 2)
    assert not _enter(state, 3, "a", 2)  # full
    assert not _enter(state, 4, "b", 2)  # other objects: not while "a" holds it
    assert state == {"share": "a", "holders": [1, 2], "waiting": [3, 4]}
    state["holders"] = [2]  # run 1 finished: the first waiting joins
    assert not _enter(state, 4, "b", 2) and _enter(state, 3, "a", 2)
    assert state == {"share": "a", "holders": [2, 3], "waiting": [4]}


def test_a_run_of_other_objects_is_not_passed_by_later_sharers() -> None:
    state = fresh()
    assert _enter(state, 1, "a", 2)
    assert not _enter(state, 2, "b", 2)
    assert not _enter(state, 3, "a", 2)  # room beside run 1, but run 2 came first
    state["holders"] = []
    assert not _enter(state, 3, "a", 2) and _enter(state, 2, "b", 2)
    assert state == {"share": "b", "holders": [2], "waiting": [3]}


def test_a_run_alone_waits_for_the_holders_and_goes_before_later_sharers() -> None:
    state = fresh()
    assert _enter(state, 1, "a", 2)
    assert not _enter(state, 5, None, 2)
    assert state["waiting"] == [5]
    assert not _enter(state, 2, "a", 2)  # would share, but a lone run waits first
    state["holders"] = []  # run 1 finished
    assert not _enter(state, 2, "a", 2)
    assert _enter(state, 5, None, 2)
    assert state == {"share": None, "holders": [5], "waiting": [2]}
    assert not _enter(state, 6, None, 2) and not _enter(state, 2, "a", 2)
    assert state["waiting"] == [2, 6]


def test_lone_runs_go_in_the_order_they_came() -> None:
    state = fresh()
    assert _enter(state, 1, "a", 2)
    assert not _enter(state, 7, None, 2) and not _enter(state, 8, None, 2)
    state["holders"] = []
    assert not _enter(state, 8, None, 2)
    assert _enter(state, 7, None, 2)


def test_a_process_that_is_gone_frees_the_stack(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    path = tmp_path / "dev.lock"
    path.write_text(json.dumps({"share": "a", "holders": [int(gone.stdout)], "waiting": []}))
    with stack_lock(path) as waited:  # alone, at once: the holder is no more
        assert waited < 1
        held = json.loads(path.read_text())
    assert held["share"] is None and len(held["holders"]) == 1
    assert json.loads(path.read_text())["holders"] == []


def test_runs_start_one_stack_then_the_other_in_turn() -> None:
    from scenarios import interleaved

    def on(stack: str) -> tuple[str, str, bool, bool, str, list[str]]:
        return (stack, "d", False, False, "", [])

    scenarios = {"d1": on("dev"), "d2": on("dev"), "d3": on("dev"), "p1": on("prod")}
    assert interleaved(scenarios) == ["d1", "p1", "d2", "d3"]
    assert interleaved({}) == []
