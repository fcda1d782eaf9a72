"""Who may use one stack's namespaces and nodes on the session's control plane at once.

Runs of one stack share its namespaces, its quota and its kwok nodes. A run that changes them (its
GPU pools from zero, a node drain, the Kueue cohort's quota filled) holds them alone. Runs that
apply the same objects (the same Role, quota and LimitRange) and use the nodes as they are share
them, up to `capacity` at a time; each deletes only its own pods. Runs go in the order they came:
a waiting run is never passed by one that came later.

The state is a small JSON file under an flock: the share (a digest of the applied objects, or
None when a run holds the stack alone), the holders' and the waiting runs' process ids. A process
that is gone no longer counts, so a killed run frees the stack.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

POLL = 0.2  # seconds between tries


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _state(path: Path) -> Iterator[dict[str, Any]]:
    """The state, read and written back under the file's lock; dead processes pruned."""
    with path.with_suffix(".meta").open("a+") as meta:
        fcntl.flock(meta, fcntl.LOCK_EX)
        try:
            text = path.read_text() if path.exists() else ""
            state: dict[str, Any] = json.loads(text) if text else {}
            state.setdefault("share", None)
            state["holders"] = [p for p in state.get("holders", []) if _alive(p)]
            state["waiting"] = [p for p in state.get("waiting", []) if _alive(p)]
            yield state
            path.write_text(json.dumps(state))
        finally:
            fcntl.flock(meta, fcntl.LOCK_UN)


def _enter(state: dict[str, Any], pid: int, share: str | None, capacity: int) -> bool:
    """Runs go in the order they came: the first waiting one enters once the stack is free, or
    joins its holders when they share its objects and have room. A run that came later never
    passes one that waits (no run waits forever behind a stream of sharers)."""
    holders, waiting = state["holders"], state["waiting"]
    if pid not in waiting:
        waiting.append(pid)
    if waiting[0] != pid:
        return False
    joins = share is not None and state["share"] == share and 0 < len(holders) < capacity
    if holders and not joins:
        return False
    state["share"] = share
    holders.append(pid)
    waiting.remove(pid)
    return True


@contextlib.contextmanager
def stack_lock(path: Path, share: str | None = None, capacity: int = 1) -> Iterator[float]:
    """Hold the stack at `path`: alone (`share` None), or with the runs of the same `share`, at
    most `capacity` together. Yields the seconds it waited."""
    pid = os.getpid()
    started = time.monotonic()
    while True:
        with _state(path) as state:
            if _enter(state, pid, share, capacity):
                break
        time.sleep(POLL)
    try:
        yield time.monotonic() - started
    finally:
        with _state(path) as state:
            state["holders"] = [p for p in state["holders"] if p != pid]
