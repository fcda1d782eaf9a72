"""Write the `.env` file a hosted Astro deployment loads:

    astro deployment variable create --deployment-id <id> --load --env <file>   # first time
    astro deployment variable update --deployment-id <id> --load --env <file>   # every re-run

    python -m tools.astro_env --stack dev --deployment analytics [--outputs-file outputs.json] [--out FILE]

`create` skips every key the deployment already has, so a changed value only lands with `update`.
Remote Execution deployments set the same things on their agents instead: `make agent-values`.

Outputs come from `pulumi stack output --json --stack <stack>` (needs the Pulumi CLI and the stack's
backend), or from a saved copy of that JSON (`--outputs-file`), so it also works offline.

Two parsers read the file, and each must get back exactly the stack's values:
- the Astro CLI's own (astronomer/astro-cli cloud/deployment/deployment_variable.go
  `addVariablesFromFile` @ 022430f5f7ee033e335036a5e443ba5fec917345): lines from a
  `bufio.Scanner` (64 KiB per line at most), `#` comments at column 0 only, split on the first
  `=`, an empty key or value refused, then `strings.Trim` of every leading/trailing `"`, then of
  every `'`, then `strings.TrimSpace`; no escapes;
- python-dotenv (local runs, the contract suite): a single-quoted value is literal except `\\'` and
  `\\\\`.
So each value is written single-quoted, and refused (rather than mangled) when it is empty, holds
a quote, a backslash or a line break, starts or ends with whitespace, or makes a line too long.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from components.airflow.airflow_connection import dag_variables

SECRETS_KEYS = ("AIRFLOW__SECRETS__BACKEND", "AIRFLOW__SECRETS__BACKEND_KWARGS")
# bufio.MaxScanTokenSize (64 KiB) must hold the line and its newline.
MAX_LINE_BYTES = 64 * 1024 - 1
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOAD_FIRST = "astro deployment variable create --deployment-id <id> --load --env {out}"
LOAD_AGAIN = "astro deployment variable update --deployment-id <id> --load --env {out}"


class HandoffError(Exception):
    """A clear, single-line reason the .env cannot be written."""


def stack_outputs(stack: str, outputs_file: Path | None) -> dict[str, Any]:
    if outputs_file is not None:
        return dict(json.loads(outputs_file.read_text()))
    try:
        result = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise HandoffError(
            "the Pulumi CLI is not installed; pass --outputs-file with saved outputs"
        ) from exc
    if result.returncode != 0:
        raise HandoffError(f"pulumi stack output failed: {result.stderr.strip()}")
    return dict(json.loads(result.stdout))


def deployment_outputs(outputs: dict[str, Any], deployment: str) -> dict[str, Any]:
    if "airflow" not in outputs:
        raise HandoffError(
            "stack output 'airflow' is missing (is this stack deployed with deployments?)"
        )
    deployments = outputs["airflow"]
    if deployment not in deployments:
        known = ", ".join(sorted(deployments)) or "none"
        raise HandoffError(f"unknown deployment {deployment!r}; this stack has: {known}")
    return dict(deployments[deployment])


def variables(outputs: dict[str, Any], deployment: str) -> dict[str, str]:
    d = deployment_outputs(outputs, deployment)
    if d.get("execution") == "remote":
        raise HandoffError(
            f"deployment {deployment!r} uses Remote Execution: its settings go to the agent, "
            "not the Astro deployment; use make agent-values"
        )
    # A deployment that keeps its own secrets backend gets no backend setting from the stack.
    own_backend = d.get("secrets_backend") == "existing"
    required = (
        ("connection_id", "namespace", "airflow_pool")
        if own_backend
        else (*SECRETS_KEYS, "connection_id", "namespace", "airflow_pool")
    )
    missing = [k for k in required if not d.get(k)]
    if missing:
        raise HandoffError(f"deployment {deployment!r} lacks stack output(s): {', '.join(missing)}")
    if "gpu_scheduling" not in outputs:
        raise HandoffError("stack output 'gpu_scheduling' is missing")
    backend = {} if own_backend else {k: d[k] for k in SECRETS_KEYS}
    # AIRFLOW_VAR_*: the stack backend's variables_prefix is null (and an existing backend's
    # lookups miss), so Variable.get finds these in the environment.
    return {
        **backend,
        **dag_variables(
            d["connection_id"], d["namespace"], outputs["gpu_scheduling"], d["airflow_pool"]["name"]
        ),
    }


def _refusal(key: str, value: str) -> str | None:
    """Why `key='value'` would not read back as `value` under both parsers (None: it would)."""
    if not KEY.match(key):
        return "is not an environment variable name"
    if not value:
        return "is empty, which the Astro CLI refuses"
    if "'" in value or "\n" in value or "\r" in value:
        return "contains a quote or newline"
    if "\\" in value:
        return "contains a backslash, which python-dotenv decodes in quoted values"
    if value != value.strip():
        return "starts or ends with whitespace, which the Astro CLI strips"
    if len(f"{key}='{value}'".encode()) > MAX_LINE_BYTES:
        return f"makes a line longer than the Astro CLI reads ({MAX_LINE_BYTES} bytes)"
    return None


def render(values: dict[str, str], out: str = "<file>") -> str:
    lines = [
        "# Generated by `make astro-env`. First load: " + LOAD_FIRST.format(out=out),
        "# Re-runs (create skips existing keys): " + LOAD_AGAIN.format(out=out),
    ]
    for key, value in values.items():
        reason = _refusal(key, value)
        if reason:
            raise HandoffError(f"{key} {reason} and cannot be written safely")
        lines.append(f"{key}='{value}'")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make astro-env", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--deployment", required=True)
    parser.add_argument("--outputs-file", type=Path)
    parser.add_argument("--out", type=Path, help="default: .env.astro-<stack>-<deployment>")
    args = parser.parse_args(argv)
    out = args.out or Path(f".env.astro-{args.stack}-{args.deployment}")
    try:
        values = variables(stack_outputs(args.stack, args.outputs_file), args.deployment)
        text = render(values, str(out))
    except HandoffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.write_text(text)
    print(f"wrote {out}: {LOAD_FIRST.format(out=out)}")
    print(f"re-runs: {LOAD_AGAIN.format(out=out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
