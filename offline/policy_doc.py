"""Render the policy table (docs/policy-pack.md) from the pack itself (written by `python -m offline.readme`)."""

from __future__ import annotations

import sys

from pulumi_policy import StackValidationPolicy

from offline.runner import ROOT

# The pack is a standalone project (the engine runs it with policies/ as cwd); read it from there.
sys.path.insert(0, str(ROOT / "policies"))
from astro_gke_policies.pack import all_policies  # noqa: E402


def render() -> str:
    lines = [
        "| policy | checks | level | CIS / checkov | config |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in all_policies():
        level = p.enforcement_level.value if p.enforcement_level else "mandatory"
        scope = " (stack)" if isinstance(p, StackValidationPolicy) else ""
        ids = ", ".join(p.tags or []) or "—"
        config = (
            ", ".join(f"`{k}`" for k in (p.config_schema.properties if p.config_schema else {}))
            or "—"
        )
        lines.append(f"| `{p.name}`{scope} | {p.description} | {level} | {ids} | {config} |")
    return "\n".join(lines)
