"""A stand-in `gke-gcloud-auth-plugin`: records its argv and answers an ExecCredential."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

TOKEN = "ya29.contract-test-token"

SCRIPT = """#!{python}
import json, os, sys
with open(os.environ["STUB_PLUGIN_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
print(json.dumps({{
    "kind": "ExecCredential",
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "spec": {{"interactive": False}},
    "status": {{"token": "{token}", "expirationTimestamp": "2099-01-01T00:00:00Z"}},
}}))
"""


def install(directory: Path, monkeypatch: object) -> Path:
    """Put the stub first on PATH; returns the file its invocations are logged to."""
    directory.mkdir(parents=True, exist_ok=True)
    plugin = directory / "gke-gcloud-auth-plugin"
    plugin.write_text(SCRIPT.format(python=sys.executable, token=TOKEN))
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    log = directory / "plugin-calls.jsonl"
    log.write_text("")
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")  # type: ignore[attr-defined]
    monkeypatch.setenv("STUB_PLUGIN_LOG", str(log))  # type: ignore[attr-defined]
    return log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line]
