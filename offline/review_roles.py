"""The change review's owner steps: custom roles whose content a `pulumi up` of the main stack
cannot change.

The bootstrap creates every custom role a main stack grants (components/custom_roles.py,
components/day0/stack_roles.py) and the deploy identity holds no `iam.roles.*`. So when the roles
the stack at BASE would be granted differ from the working tree's (a new role, a removed one, or
a changed title, description, permissions or stage), an owner runs the bootstrap's `pulumi up`
first (docs/day0.md, "Custom roles"). A BASE from before the bootstrap owned the roles has them
among its own registrations: they are compared the same way, and each one the main stack stops
declaring is a hurting delete (offline/review.py) until the state is migrated.

A role is `{"name": "projects/<p>/roles/<id>", "title", "description", "permissions", "stage"}`
(offline/runner.custom_roles).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from offline.mocks import Registration

CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
OWNER_UP = "an owner's bootstrap `pulumi up` (cd bootstrap && pulumi up), before this deploys"
FIELDS = ("title", "description", "permissions", "stage")


def registered(registrations: Sequence[Registration]) -> list[dict[str, Any]]:
    """The custom roles a program itself registers, in the same form."""
    out = []
    for r in registrations:
        if r.type != CUSTOM_ROLE:
            continue
        out.append(
            {
                "name": f"projects/{r.inputs.get('project')}/roles/{r.inputs.get('roleId')}",
                "title": r.inputs.get("title"),
                "description": r.inputs.get("description"),
                "permissions": sorted(r.inputs.get("permissions") or []),
                "stage": r.inputs.get("stage", "GA"),
            }
        )
    return out


def _by_name(roles: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(r["name"]): r for r in roles}


def _what_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for key in FIELDS:
        if key == "permissions":
            added = sorted(set(new[key]) - set(old[key]))
            removed = sorted(set(old[key]) - set(new[key]))
            moves = [f"+{p}" for p in added] + [f"-{p}" for p in removed]
            if moves:
                parts.append(f"permissions {' '.join(moves)}")
        elif old.get(key) != new.get(key):
            parts.append(f"{key} {old.get(key)!r} -> {new.get(key)!r}")
    return "; ".join(parts)


def owner_steps(
    base: Sequence[Registration],
    base_roles: Sequence[Mapping[str, Any]] | None,
    head: Sequence[Registration],
    head_roles: Sequence[Mapping[str, Any]],
) -> list[str]:
    """One line per custom role that changes between BASE and the working tree, sorted by name.
    `base_roles` is None when BASE predates the bootstrap's roles (then its registrations say)."""
    old = _by_name([*registered(base), *(base_roles or [])])
    new = _by_name(head_roles)
    steps = []
    for name in sorted(set(old) | set(new)):
        if name not in new:
            steps.append(
                f"custom role {name} is no longer granted: the bootstrap's next `pulumi up` deletes "
                "it (it is protected: `pulumi state unprotect` it there first, on purpose)"
            )
        elif name not in old:
            steps.append(f"custom role {name} is new: create it with {OWNER_UP}")
        elif changed := _what_changed(old[name], new[name]):
            steps.append(f"custom role {name}: {changed}: apply it with {OWNER_UP}")
    for role in registered(head):
        steps.append(
            f"custom role {role['name']} is registered by this program: the deploy identity holds "
            "no iam.roles.*, so `pulumi up` in CI fails on it; create it in the bootstrap "
            "(components/custom_roles.py)"
        )
    return steps
