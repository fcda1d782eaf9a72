"""The change review shown: the JSON added to the plan (offline/plan.schema.json) and the text
section `make preview BASE=...` prints."""

from __future__ import annotations

import json
from typing import Any

from offline.review_model import (
    CREATE_BEFORE_DELETE,
    OPS,
    SECRET,
    Review,
)


def to_json(r: Review) -> dict[str, Any]:
    """The `changes` list and `review` summary added to the plan JSON (offline/plan.schema.json)."""
    return {
        "changes": [
            {
                "urn": c.urn,
                "type": c.type,
                "name": c.name,
                "op": c.op,
                "properties": c.properties,
                "replacement": c.replacement,
                "caused_by": sorted(set(c.caused_by)),
                "hurts": c.hurts or None,
                "notes": c.notes,
            }
            for c in r.changes
        ],
        "review": {
            "base": r.base,
            "commit": r.commit,
            "prod": r.prod,
            "counts": r.counts(),
            "hurting": [c.urn for c in r.hurting],
            "allowed": sorted(r.allowed),
            "refused": [c.urn for c in r.refused],
            "owner_steps": r.owner_steps,
        },
    }


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


SYMBOL = {"create": "+", "update": "~", "delete": "-"}


def label(urn: str) -> str:
    """`<type>  <name>` of a URN (urn:pulumi:<stack>::<project>::<parent types$type>::<name>)."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn
    return f"{parts[2].rsplit('$', 1)[-1]}  {'::'.join(parts[3:])}"


def render_text(r: Review) -> str:
    counts = r.counts()
    short = r.commit[:12]
    lines = [
        f"Changes against {r.base} ({short}): " + ", ".join(f"{counts[op]} to {op}" for op in OPS),
    ]
    if r.note:
        lines.append(f"    note: {r.note}")
    if not r.changes:
        lines.append("    no changes: `pulumi up` would do nothing")
    for c in r.changes:
        symbol = SYMBOL.get(c.op, "+-" if c.replacement == CREATE_BEFORE_DELETE else "-+")
        order = f"  ({c.replacement})" if c.replacement else ""
        lines.append(f"    {symbol} {c.op:<7} {c.type}  {c.name}{order}")
        for p in sorted(c.changes, key=lambda p: p.rendered):
            if p.secret:
                what = f"{SECRET} changed"
            elif p.unknown:
                what = f"{_show(p.old)} -> (known after apply)"
            else:
                what = f"{_show(p.old)} -> {_show(p.new)}"
            forces = "  [forces replacement]" if p.replaces and c.op == "replace" else ""
            lines.append(f"          {p.rendered}: {what}{forces}")
        for source in sorted(set(c.caused_by)):
            lines.append(f"          because {label(source)} is replaced or new")
        for note in c.notes:
            lines.append(f"          note: {note}")
    if r.hurting:
        lines.append("")
        lines.append("!! Changes that hurt (the cluster, a GPU pool, a deployment's secret,")
        lines.append("!! identity or namespace replaced or deleted):")
        for c in r.hurting:
            mark = "  [allowed]" if c.urn in r.allowed else ""
            lines.append(f"!!   {c.op} {c.hurts}{mark}")
            lines.append(f"!!       {c.urn}")
        if r.refused:
            urns = ",".join(c.urn for c in r.refused)
            lines.append(
                f"!! {r.stack} is a production stack (the policy pack's prodStacks): refused "
                "(exit 3)."
            )
            lines.append(f"!! If this is intended: make preview STACK={r.stack} BASE={r.base} \\")
            lines.append(f"!!     ALLOW_REPLACE='{urns}'")
        elif r.prod:
            lines.append("!! Every one is marked intended (ALLOW_REPLACE).")
    if r.owner_steps:
        lines.append("")
        lines.append(
            "Owner steps (the deploy identity cannot do these; docs/day0.md, Custom roles):"
        )
        lines.extend(f"    {step}" for step in r.owner_steps)
    for urn in r.unmatched_allowed:
        lines.append(f"warning: ALLOW_REPLACE names {urn}, which is no hurting change")
    return "\n".join(lines)
