"""Create or update a deployment's Airflow pool for GPU tasks, from the stack output
`airflow[<deployment>].airflow_pool` (slots = the namespace's GPU quota, `include_deferred: true`):

    ASTRO_DEPLOYMENT_URL=https://… ASTRO_API_TOKEN=… \\
        python -m tools.airflow_pool --stack dev --deployment analytics [--outputs-file outputs.json]
    python -m tools.airflow_pool --stack dev --deployment analytics --settings airflow_settings.yaml

Through the deployment's Airflow REST API (Airflow 3: `/api/v2/pools`, Astro docs "Using the Airflow
REST API with Astro"): the Deployment URL and an API token (Deployment, Workspace or Organization
token) come from the environment only, never from a file in the repository. `GET
/api/v2/pools/{name}`; when missing, `POST /api/v2/pools`; when `slots` or `include_deferred`
differ, `PATCH /api/v2/pools/{name}?update_mask=…` naming those fields only. Running it again changes
nothing. It refuses (exit 2) to shrink the pool below the slots its tasks hold now (running +
queued, + deferred when deferred tasks count), rather than let Airflow run more GPU tasks than the
new quota admits: lower the quota when the tasks have finished, then run it again.

`--settings FILE` writes the pool into the `airflow_settings.yaml` that `astro dev start` loads
(astronomer/astro-cli settings/types.go: `airflow.pools[]` with `pool_name`, `pool_slot`,
`pool_description`) instead: entries of other pools are kept, ours is replaced by name. That schema
has no `include_deferred` (the CLI runs `airflow pools set <name> <slot> '<description>'`,
settings/settings.go `AddPools`, so the local pool counts no deferred task), and it skips a pool
whose `pool_slot` is 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.astro_env import HandoffError, deployment_outputs, stack_outputs

URL_ENV = "ASTRO_DEPLOYMENT_URL"
TOKEN_ENV = "ASTRO_API_TOKEN"  # the variable the Astro CLI itself reads an API token from
PATCHED = ("slots", "include_deferred")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TIMEOUT_SECONDS = 30


class Refused(HandoffError):
    """The change would take slots away from tasks that hold them."""


def pool_spec(outputs: dict[str, Any], deployment: str) -> dict[str, Any]:
    spec = deployment_outputs(outputs, deployment).get("airflow_pool")
    if not isinstance(spec, dict) or not {"name", "slots", "include_deferred"} <= set(spec):
        raise HandoffError(f"deployment {deployment!r} lacks stack output airflow_pool")
    return spec


@dataclass
class AirflowApi:
    """The few calls the upsert makes, with the deployment's API token."""

    base: str
    token: str

    @classmethod
    def from_env(cls, env: dict[str, str]) -> AirflowApi:
        url, token = env.get(URL_ENV, "").strip(), env.get(TOKEN_ENV, "").strip()
        missing = [name for name, value in ((URL_ENV, url), (TOKEN_ENV, token)) if not value]
        if missing:
            raise HandoffError(
                f"set {' and '.join(missing)} in the environment (the Deployment URL and an Astro "
                "API token; never in a file in the repository)"
            )
        parsed = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
        if parsed.scheme != "https" and parsed.hostname not in LOOPBACK:
            raise HandoffError(
                f"{URL_ENV} must be https (the API token would travel in clear text); "
                "plain http only to this machine's loopback address"
            )
        return cls(urllib.parse.urlunsplit(parsed).rstrip("/"), token)

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if body is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            if error.code == 404 and method == "GET":
                return 404, {}
            if error.code in (401, 403):
                raise HandoffError(
                    f"{method} {path}: {error.code}: the Airflow API refused the token in "
                    f"{TOKEN_ENV} (it needs to read and write pools)"
                ) from error
            raise HandoffError(f"{method} {path}: {error.code}: {text[:500]}") from error
        except urllib.error.URLError as error:
            raise HandoffError(f"{method} {self.base}{path}: {error.reason}") from error


def in_use(current: dict[str, Any], include_deferred: bool) -> tuple[int, str]:
    """Slots the pool's tasks hold now, counted as Airflow will count them with `include_deferred`
    (models/pool.py: running and queued, plus deferred when the pool includes them), and the
    breakdown in words."""
    running, queued = int(current["running_slots"]), int(current["queued_slots"])
    deferred = int(current["deferred_slots"])
    total = running + queued + (deferred if include_deferred else 0)
    words = (
        f"{current['occupied_slots']} occupied: {running} running, {queued} queued, "
        f"{deferred} deferred"
    )
    return total, words


def upsert(api: AirflowApi, spec: dict[str, Any]) -> str:
    """Create or patch the pool; what was done, in one line. Raises Refused on a shrink below use."""
    name = spec["name"]
    path = f"/api/v2/pools/{urllib.parse.quote(name, safe='')}"
    status, current = api.call("GET", path)
    if status == 404:
        body = {k: spec[k] for k in ("name", "slots", "include_deferred", "description")}
        api.call("POST", "/api/v2/pools", body)
        return (
            f"created pool {name}: {spec['slots']} slots, "
            f"include_deferred={str(spec['include_deferred']).lower()}"
        )
    changes = {k: spec[k] for k in PATCHED if current.get(k) != spec[k]}
    if not changes:
        return (
            f"pool {name} unchanged: {current['slots']} slots, include_deferred="
            + str(current["include_deferred"]).lower()
        )
    held, words = in_use(current, bool(spec["include_deferred"]))
    if spec["slots"] != -1 and spec["slots"] < held:
        raise Refused(
            f"refusing to shrink pool {name} from {current['slots']} to {spec['slots']} slots: "
            f"its tasks hold {held} ({words}). Airflow would not stop them, and pods beyond "
            "the new GPU quota are refused by the API server. Run again once they have finished."
        )
    # Only the fields in update_mask change; the body must still be a whole pool (name, slots,
    # include_deferred: Airflow validates it as BasePool, services/public/pools.py).
    query = urllib.parse.urlencode([("update_mask", k) for k in changes])
    api.call("PATCH", f"{path}?{query}", {"name": name, **{k: spec[k] for k in PATCHED}})
    done = ", ".join(
        f"{k} {json.dumps(current.get(k))} -> {json.dumps(v)}" for k, v in changes.items()
    )
    return f"patched pool {name}: {done}"


def write_settings(path: Path, spec: dict[str, Any]) -> list[str]:
    """Put the pool into `airflow_settings.yaml` (other pools, connections and variables kept);
    what the local pool lacks, in words."""
    raw: Any = yaml.safe_load(path.read_text()) if path.exists() else None
    settings = raw if isinstance(raw, dict) else {}
    if raw is not None and not isinstance(raw, dict):
        raise HandoffError(f"{path} is not a YAML mapping")
    airflow = settings.setdefault("airflow", {}) or {}
    if not isinstance(airflow, dict):
        raise HandoffError(f"{path}: `airflow` is not a mapping")
    settings["airflow"] = airflow
    pools = airflow.get("pools") or []
    if not isinstance(pools, list):
        raise HandoffError(f"{path}: `airflow.pools` is not a list")
    description = str(spec.get("description") or "")
    if "'" in description:
        # The Astro CLI pastes it between single quotes into a shell command.
        raise HandoffError("the pool description contains a quote, which astro dev start breaks on")
    entry = {
        "pool_name": spec["name"],
        "pool_slot": spec["slots"],
        "pool_description": description,
    }
    kept = [p for p in pools if not (isinstance(p, dict) and p.get("pool_name") == spec["name"])]
    airflow["pools"] = [*kept, entry]
    path.write_text(yaml.safe_dump(settings, sort_keys=False, default_flow_style=False))
    notes = [
        "airflow_settings.yaml has no include_deferred: the local pool counts no deferred task "
        f"(for that, run this tool against the local Airflow with {URL_ENV}=http://localhost:8080)"
    ]
    if spec["slots"] == 0:
        notes.append("pool_slot is 0 (gpu_quota 0): astro dev start skips the pool")
    return notes


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make airflow-pool", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--deployment", required=True)
    parser.add_argument("--outputs-file", type=Path)
    parser.add_argument(
        "--settings",
        type=Path,
        help="write the pool into this airflow_settings.yaml (astro dev start) instead",
    )
    args = parser.parse_args(argv)
    try:
        spec = pool_spec(stack_outputs(args.stack, args.outputs_file), args.deployment)
        if args.settings is not None:
            notes = write_settings(args.settings, spec)
            print(f"wrote pool {spec['name']} ({spec['slots']} slots) into {args.settings}")
            for note in notes:
                print(f"note: {note}", file=sys.stderr)
            return 0
        api = AirflowApi.from_env(dict(os.environ if env is None else env))
        print(upsert(api, spec))
    except (HandoffError, OSError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
