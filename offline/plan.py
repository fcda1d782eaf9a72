"""The offline plan: what a stack registers, its outputs, the policy verdicts, and the deploy
critical path computed from the dependency edges the program actually registered.

One data structure, two renderings: text for people (`make preview`) and JSON for tools
(`make preview FORMAT=json`, schema in offline/plan.schema.json). Everything is sorted so two runs
give identical plans.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any

from components.gke import cold_start
from offline import runner, timings
from offline.analyzer import Verdict
from offline.mocks import PLACEHOLDERS, Registration

SCHEMA_VERSION = 1
SECRET = "[secret]"


@dataclass(frozen=True)
class Step:
    urn: str
    type: str
    name: str
    seconds: int
    starts: int
    finishes: int


def _mask(value: Any, secret: bool) -> Any:
    return SECRET if secret else value


def _is_placeholder(value: Any) -> bool:
    text = json.dumps(value, sort_keys=True, default=str)
    return any(p in text for p in PLACEHOLDERS)


def waits_on(r: Registration, by_urn: dict[str, Registration]) -> list[str]:
    """What the engine makes `r` wait for: its dependencies, its provider and a custom parent.
    A dependency on a component means its custom descendants."""
    direct = list(r.dependencies)
    if r.provider:
        direct.append(r.provider.rsplit("::", 1)[0])  # "<provider urn>::<id>"
    parent = by_urn.get(r.parent)
    if parent is not None and parent.custom:
        direct.append(parent.urn)
    out: list[str] = []
    for urn in direct:
        dep = by_urn.get(urn)
        if dep is None:
            continue
        if dep.custom:
            out.append(urn)
        else:
            out += [d.urn for d in by_urn.values() if d.custom and _descends(d, urn, by_urn)]
    return sorted(set(out))


def _descends(r: Registration, ancestor: str, by_urn: dict[str, Registration]) -> bool:
    parent = by_urn.get(r.parent)
    while parent is not None:
        if parent.urn == ancestor:
            return True
        parent = by_urn.get(parent.parent)
    return False


def critical_path(registrations: list[Registration]) -> tuple[int, list[Step]]:
    """Longest chain of creation times through the registered dependency edges."""
    by_urn = {r.urn: r for r in registrations}
    custom = sorted((r for r in registrations if r.custom), key=lambda r: r.urn)
    finish: dict[str, int] = {}
    via: dict[str, str | None] = {}

    def visit(urn: str, stack: tuple[str, ...] = ()) -> int:
        if urn in finish:
            return finish[urn]
        if urn in stack:
            raise ValueError(f"dependency cycle through {urn}")
        r = by_urn[urn]
        deps = waits_on(r, by_urn)
        best = max(deps, key=lambda d: (visit(d, (*stack, urn)), d), default=None)
        start = finish[best] if best else 0
        via[urn] = best
        finish[urn] = start + timings.creation(r.type).seconds
        return finish[urn]

    for r in custom:
        visit(r.urn)
    if not finish:
        return 0, []
    end = max(finish, key=lambda u: (finish[u], u))
    chain: list[Step] = []
    current: str | None = end
    while current is not None:
        r = by_urn[current]
        seconds = timings.creation(r.type).seconds
        chain.append(
            Step(r.urn, r.type, r.name, seconds, finish[current] - seconds, finish[current])
        )
        current = via[current]
    return finish[end], list(reversed(chain))


def needless_waits(registrations: list[Registration]) -> list[str]:
    """Resources that wait (transitively) on a node pool although nothing they are needs nodes."""
    by_urn = {r.urn: r for r in registrations}
    pools = {r.urn for r in registrations if r.type == "gcp:container/nodePool:NodePool"}
    warnings = []
    for r in sorted(registrations, key=lambda r: r.urn):
        if not r.custom or r.urn in pools or r.type in timings.NEEDS_NODES:
            continue
        seen: set[str] = set()
        todo = waits_on(r, by_urn)
        while todo:
            urn = todo.pop()
            if urn in seen:
                continue
            seen.add(urn)
            todo += waits_on(by_urn[urn], by_urn)
        blocking = sorted(seen & pools)
        if blocking:
            names = ", ".join(by_urn[p].name for p in blocking)
            warnings.append(
                f"{r.type} {r.name} waits on node pool(s) {names} without needing nodes"
            )
    return warnings


def build(run: runner.Run, verdicts: list[Verdict]) -> dict[str, Any]:
    registrations = sorted(run.registrations, key=lambda r: r.urn)
    by_urn = {r.urn: r for r in registrations}
    total, chain = critical_path(registrations)
    resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "parent": r.parent if r.parent in by_urn else None,
            "custom": r.custom,
            "protect": r.protect,
            "dependencies": waits_on(r, by_urn),
            "inputs": {k: _mask(v, k in r.secret_inputs) for k, v in sorted(r.inputs.items())},
        }
        for r in registrations
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "project": runner.PROJECT,
        "stack": run.stack,
        "note": "offline plan under Pulumi mocks: nothing was deployed",
        "resources": resources,
        "counts": dict(sorted(Counter(r.type for r in registrations if r.custom).items())),
        "outputs": {
            key: {
                "value": _mask(run.outputs[key], key in run.secret_outputs),
                "secret": key in run.secret_outputs,
                "placeholder": _is_placeholder(run.outputs[key]),
            }
            for key in sorted(run.outputs)
        },
        "policies": {
            "mandatory": [_verdict(v, by_urn) for v in verdicts if v.level == "mandatory"],
            "advisory": [_verdict(v, by_urn) for v in verdicts if v.level != "mandatory"],
        },
        "critical_path": {
            "estimated_seconds": total,
            "steps": [step.__dict__ for step in chain],
        },
        "warnings": needless_waits(registrations),
    }


def _verdict(v: Verdict, by_urn: dict[str, Registration]) -> dict[str, Any]:
    r = by_urn.get(v.urn)
    return {
        "policy": v.policy,
        "level": v.level,
        "urn": v.urn or None,
        "resource": f"{r.type}  {r.name}" if r else "stack",
        "message": v.message.splitlines()[-1],
    }


def exit_status(plan: dict[str, Any]) -> int:
    return 1 if plan["policies"]["mandatory"] else 0


# --- text --------------------------------------------------------------------------------------


def _minutes(seconds: int) -> str:
    return f"{seconds // 60}m{seconds % 60:02d}s"


def cold_start_lines(plan: dict[str, Any]) -> list[str]:
    """How long a task waits for each GPU pool (the exported KPO hints), and the sourced figures
    behind those waits (components/gke/cold_start.py)."""
    hints = (plan["outputs"].get("gpu_scheduling") or {}).get("value") or {}
    if not hints:
        return []
    lines = [
        "",
        "GPU cold-start budget (what a task on each pool waits for; components/gke/cold_start.py):",
    ]
    for name, h in sorted(hints.items()):
        lines.append(
            f"    {name}: scheduled within {_minutes(h['schedule_timeout_seconds'])}, started within "
            f"{_minutes(h['startup_timeout_seconds'])}, {h['retries']} retr"
            f"{'y' if h['retries'] == 1 else 'ies'} {h['retry_delay_seconds']} s apart"
        )
    lines.append("  from:")
    for field in fields(cold_start.SOURCED):
        figure = getattr(cold_start.SOURCED, field.name)
        lines.append(f"    {field.name} {figure.seconds} s: {figure.source}")
    return lines


ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"


def alert_lines(plan: dict[str, Any]) -> list[str]:
    """The alert policies (components/observability/alerts.py): rule, how long it must hold, severity, who is
    notified, and the PromQL."""
    policies = [r for r in plan["resources"] if r["type"] == ALERT_POLICY]
    if not policies:
        return []
    lines = ["", f"Alerts: {len(policies)} Cloud Monitoring alert policies (docs/observability.md)"]
    for r in sorted(policies, key=lambda r: r["name"]):
        inputs = r["inputs"]
        cond = inputs["conditions"][0]["conditionPrometheusQueryLanguage"]
        channels = inputs.get("notificationChannels") or []
        notify = f"notifies {len(channels)} channel(s)" if channels else "silent (no channel)"
        lines.append(
            f"    {cond['alertRule']}  for {cond['duration']}  {inputs['severity']}  {notify}"
        )
        lines.append(f"        {cond['query']}")
    return lines


def render_text(plan: dict[str, Any]) -> str:
    resources = plan["resources"]
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in resources:
        children.setdefault(r["parent"], []).append(r)
    lines = [f"Stack {plan['project']}/{plan['stack']} ({plan['note']})", ""]

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=lambda r: (r["type"], r["name"])):
            flags = " [protect]" if r["protect"] else ""
            lines.append(f"{'    ' * depth}+ {r['type']}  {r['name']}{flags}")
            walk(r["urn"], depth + 1)

    walk(None, 1)
    lines += ["", f"Resources: {sum(plan['counts'].values())} to create"]
    lines += [f"    {n:3d} {t}" for t, n in plan["counts"].items()]
    lines += ["", "Outputs:"]
    for key, out in plan["outputs"].items():
        mark = "  (placeholder: invented by the mocks)" if out["placeholder"] else ""
        lines.append(f"    {key}: {json.dumps(out['value'], sort_keys=True)}{mark}")
    policies = plan["policies"]
    lines += [
        "",
        f"Policies: {len(policies['mandatory'])} mandatory, {len(policies['advisory'])} advisory violation(s)",
    ]
    for v in policies["mandatory"] + policies["advisory"]:
        lines.append(f"    [{v['level']}] {v['policy']}  ({v['resource']})")
        lines.append(f"        {v['message']}")
    lines += cold_start_lines(plan)
    lines += alert_lines(plan)
    path = plan["critical_path"]
    lines += [
        "",
        f"Deploy critical path: about {_minutes(path['estimated_seconds'])} (typical creation times, "
        "see docs/offline-proof.md)",
    ]
    for step in path["steps"]:
        lines.append(
            f"    {_minutes(step['starts'])} -> {_minutes(step['finishes'])}  {step['type']}  {step['name']}"
        )
    if plan["warnings"]:
        lines += ["", "Warnings:"] + [f"    {w}" for w in plan["warnings"]]
    return "\n".join(lines)
