"""`make preview`'s entry point (`offline.preview.main`) run in the test's process, its output and
exit status as the process gives them: no interpreter start and SDK import per run.
tests/test_preview.py's `cli` runs the real process, to show that it behaves the same."""

from __future__ import annotations

import contextlib
import io
import subprocess

from offline import preview as offline_preview


def run_main(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = offline_preview.main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            status = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(
        ["offline.preview", *args], status, out.getvalue(), err.getvalue()
    )
