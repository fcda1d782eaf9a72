"""Offline change review: what a `pulumi up` would do to move a stack from BASE to the working tree.

`make preview STACK=<s> BASE=<git ref>` runs the program at BASE (offline/registrations.py, in a
temporary worktree) and in the working tree, and compares the two sets of registrations here. Pure
functions over `Registration` lists: no Pulumi engine, no cloud.

Per resource (matched by URN; a URN only in BASE is deleted, only in the working tree created):
- `update`: inputs changed, none of them forces a new resource;
- `replace`: a changed input is ForceNew in the provider's schema (offline/forcenew.py), or is in
  the resource's `replace_on_changes`, or depends on a resource that is itself replaced or created
  (its value is only known after apply: a ForceNew input then replaces too), or its provider is
  replaced. Shown with Pulumi's order: create-before-delete unless the resource sets
  `delete_before_replace` (pulumi-kubernetes deletes first on its own when the object keeps its
  name and namespace);
- properties listed in the resource's `ignore_changes` never count; secret values are never shown.
Component resources have no inputs: they are reported only as created or deleted.

What hurts (the `!!` block): the cluster replaced or deleted; a GPU node pool (a pool under an
`astro-gke-gpu:gke:GpuNodePool`) replaced or deleted; a deployment's Secret Manager secret or
namespace (under an `astro-gke-gpu:airflow:DeploymentAccess`) replaced or deleted; any service
account or custom role replaced or deleted (the main stack declares none: one in BASE is a state
from before the bootstrap owned them, docs/day0.md). In a production stack (the policy pack's
`prodStacks`) these refuse the preview unless each URN is listed in ALLOW_REPLACE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from offline import forcenew
from offline.forcenew import Path
from offline.mocks import Registration
from offline.review_model import (
    ACCOUNT,
    AGENT_PARTS,
    CLUSTER,
    CREATE_BEFORE_DELETE,
    CUSTOM_ROLE,
    DELETE_BEFORE_REPLACE,
    DEPLOYMENT,
    DEPLOYMENT_PARTS,
    GPU_POOL,
    NODE_POOL,
    OPS,
    PROVIDER,
    REMOTE_AGENT,
    SECRET,
    Change,
    PropertyChange,
    Review,
)
from offline.review_paths import (
    classify,
    leaves,
    matches,
    parse_path,
    render_path,
    unknown_values,
    value_at,
    value_diff,
)
from offline.review_render import render_text, to_json

# Re-exported: what the preview, the tests and the review's callers use from here.
__all__ = [
    "AGENT_PARTS",
    "CLUSTER",
    "CREATE_BEFORE_DELETE",
    "Change",
    "DELETE_BEFORE_REPLACE",
    "DEPLOYMENT",
    "ACCOUNT",
    "DEPLOYMENT_PARTS",
    "GPU_POOL",
    "NODE_POOL",
    "OPS",
    "PROVIDER",
    "PropertyChange",
    "REMOTE_AGENT",
    "Review",
    "SECRET",
    "parse_path",
    "render_path",
    "render_text",
    "to_json",
    "unknown_values",
]


# --- the diff -------------------------------------------------------------------------------


def _provider_urn(r: Registration) -> str:
    return r.provider.rsplit("::", 1)[0] if r.provider else ""


def _custom_descendants(urns: Sequence[str], by_urn: Mapping[str, Registration]) -> set[str]:
    out: set[str] = set()
    for urn in urns:
        r = by_urn.get(urn)
        if r is None:
            continue
        if r.custom:
            out.add(urn)
            continue
        todo = [urn]
        while todo:
            parent = todo.pop()
            for child in by_urn.values():
                if child.parent == parent:
                    (out.add(child.urn) if child.custom else todo.append(child.urn))
    return out


def _property_changes(old: Registration, new: Registration) -> list[PropertyChange]:
    found = []
    for path, a, b in value_diff(old.inputs, new.inputs):
        if matches(new.ignore_changes, path):
            continue
        replaces, note = classify(new.type, path, a, b, unknown=False)
        if matches(new.replace_on_changes, path):
            replaces, note = True, "replace_on_changes"
        secret = str(path[0]) in new.secret_inputs or str(path[0]) in old.secret_inputs
        found.append(PropertyChange(path, a, b, secret, replaces, note=note))
    return found


def diff(base: Sequence[Registration], head: Sequence[Registration]) -> list[Change]:
    """Every resource whose op is not `unchanged`, sorted by URN."""
    old_by = {r.urn: r for r in base}
    new_by = {r.urn: r for r in head}
    changes: dict[str, Change] = {}
    for urn in sorted(set(old_by) | set(new_by)):
        old, new = old_by.get(urn), new_by.get(urn)
        if new is None:
            assert old is not None
            changes[urn] = Change(urn, old.type, old.name, "delete", old.custom)
        elif old is None:
            changes[urn] = Change(urn, new.type, new.name, "create", new.custom)
        elif new.custom:
            props = _property_changes(old, new)
            change = Change(urn, new.type, new.name, "update", changes=props)
            if _provider_urn(old) != _provider_urn(new) and _provider_config_replaces(
                old_by.get(_provider_urn(old)), new_by.get(_provider_urn(new))
            ):
                change.provider_replaced = True
                change.caused_by.append(_provider_urn(new))
            changes[urn] = change
    _cascade(changes, old_by, new_by)
    out = []
    for change in changes.values():
        if change.op == "update":
            if change.provider_replaced or any(c.replaces for c in change.changes):
                change.op = "replace"
            elif not change.changes:
                continue
        out.append(change)
    for change in out:
        _annotate(change, old_by, new_by)
    _pair_renames(out, old_by, new_by)
    return sorted(out, key=lambda c: c.urn)


def _provider_config_replaces(old: Registration | None, new: Registration | None) -> bool:
    """A resource moved to another provider resource: replaced if the new provider's DiffConfig
    against the old one replaces (pulumi/pulumi step_generator.go `providerChanged`)."""
    if old is None or new is None:
        return True
    return any(c.replaces for c in _property_changes(old, new))


def _replaced(change: Change | None) -> bool:
    return change is not None and (
        change.op == "create" or change.provider_replaced or any(c.replaces for c in change.changes)
    )


def _cascade(
    changes: dict[str, Change],
    old_by: Mapping[str, Registration],
    new_by: Mapping[str, Registration],
) -> None:
    """Inputs that come from a resource being created or replaced are unknown until apply: a
    ForceNew one replaces its resource too (and that replacement cascades in turn)."""
    queue = sorted(urn for urn, c in changes.items() if _replaced(c) and urn in new_by)
    done: set[str] = set()
    while queue:
        source = queue.pop(0)
        if source in done:
            continue
        done.add(source)
        values = unknown_values(new_by[source])
        source_change = changes.get(source)
        source_is_provider = new_by[source].type.startswith("pulumi:providers:")
        for urn, r in new_by.items():
            change = changes.get(urn)
            if not r.custom or change is None or change.op != "update" or urn == source:
                continue
            was = _replaced(change)
            if (
                source_is_provider
                and _provider_urn(r) == source
                and source_change is not None
                and source_change.op != "create"
            ):
                change.provider_replaced = True
                change.caused_by.append(source)
            for key, deps in r.property_dependencies.items():
                if source not in _custom_descendants(deps, new_by):
                    continue
                for path, value in leaves(r.inputs.get(key), (key,)):
                    if not (isinstance(value, str) and any(v in value for v in values)):
                        continue
                    if matches(r.ignore_changes, path):
                        continue
                    _mark_unknown(change, r, old_by[urn], path, value, source)
            if not was and _replaced(change):
                queue.append(urn)


def _mark_unknown(
    change: Change, r: Registration, old: Registration, path: Path, value: Any, source: str
) -> None:
    replaces, note = classify(r.type, path, value_at(old.inputs, path), value, unknown=True)
    if matches(r.replace_on_changes, path):
        replaces = True
    for existing in change.changes:
        if existing.path == path:
            existing.unknown, existing.cause = True, source
            existing.replaces = existing.replaces or replaces
            break
    else:
        secret = str(path[0]) in r.secret_inputs
        change.changes.append(
            PropertyChange(
                path, value_at(old.inputs, path), value, secret, replaces, True, source, note
            )
        )
    if source not in change.caused_by:
        change.caused_by.append(source)


def _annotate(
    change: Change, old_by: Mapping[str, Registration], new_by: Mapping[str, Registration]
) -> None:
    old, new = old_by.get(change.urn), new_by.get(change.urn)
    if change.op == "replace" and new is not None and old is not None:
        change.replacement = _replacement_order(change, old, new)
        if change.replacement == CREATE_BEFORE_DELETE:
            kept = _kept_identity(change, old, new)
            if kept:
                change.notes.append(
                    f"create-before-delete keeps {kept}: the replacement cannot be created "
                    "beside the old one (already exists); set delete_before_replace or let the "
                    "provider generate the name"
                )
        if old.protect:
            change.notes.append("protected: `pulumi up` fails on this replacement")
        if old.retain_on_delete:
            change.notes.append("retain_on_delete: the old one is left in the cloud, unmanaged")
    if change.op == "delete" and old is not None:
        if old.protect:
            change.notes.append("protected: `pulumi up` fails on this delete")
        if old.retain_on_delete:
            change.notes.append("retain_on_delete: removed from the stack, left in the cloud")
        if old.deleted_with and old.deleted_with not in new_by:
            change.notes.append(f"deleted with {old.deleted_with}: no delete call of its own")
    change.hurts = _hurts(change, old_by, new_by)


def _replacement_order(change: Change, old: Registration, new: Registration) -> str:
    if new.delete_before_replace:
        return DELETE_BEFORE_REPLACE
    if (
        new.type.startswith("kubernetes:")
        and not change.provider_replaced
        and value_at(old.inputs, ("metadata", "name")) == value_at(new.inputs, ("metadata", "name"))
        and value_at(old.inputs, ("metadata", "namespace"))
        == value_at(new.inputs, ("metadata", "namespace"))
    ):
        # pulumi-kubernetes provider.go Diff: deleteBeforeReplace when the name stays.
        return DELETE_BEFORE_REPLACE
    return CREATE_BEFORE_DELETE


def _kept_identity(change: Change, old: Registration, new: Registration) -> str:
    keys = forcenew.IDENTITY.get(new.type)
    if not keys or any(k not in new.inputs for k in keys):
        return ""
    unknown = {c.path[0] for c in change.changes if c.unknown}
    if any(old.inputs.get(k) != new.inputs.get(k) or k in unknown for k in keys):
        return ""
    return ", ".join(f"{k}={new.inputs[k]}" for k in keys)


def _hurts(
    change: Change, old_by: Mapping[str, Registration], new_by: Mapping[str, Registration]
) -> str:
    if change.op not in ("replace", "delete"):
        return ""
    runs = new_by if change.urn in new_by else old_by
    parent = runs.get(runs[change.urn].parent)
    if change.type == CLUSTER:
        return "the cluster"
    if change.type == NODE_POOL and parent is not None and parent.type == GPU_POOL:
        return f"GPU node pool {parent.name}"
    if parent is not None and parent.type == DEPLOYMENT and change.type in DEPLOYMENT_PARTS:
        return f"deployment {parent.name}: its {DEPLOYMENT_PARTS[change.type]}"
    if parent is not None and parent.type == REMOTE_AGENT and change.type in AGENT_PARTS:
        deployment = runs.get(parent.parent)
        owner = deployment.name if deployment is not None else parent.name
        return f"deployment {owner}: its {AGENT_PARTS[change.type]} {runs[change.urn].name}"
    if change.type == ACCOUNT:
        return f"service account {runs[change.urn].name}"
    if change.type == CUSTOM_ROLE:
        return f"custom role {runs[change.urn].inputs.get('roleId')}"
    return ""


def _pair_renames(
    changes: list[Change], old_by: Mapping[str, Registration], new_by: Mapping[str, Registration]
) -> None:
    deleted = [c for c in changes if c.op == "delete"]
    for created in (c for c in changes if c.op == "create"):
        for gone in deleted:
            if gone.type != created.type:
                continue
            same_inputs = old_by[gone.urn].inputs == new_by[created.urn].inputs
            if gone.name == created.name or (same_inputs and created.custom):
                text = (
                    "a delete and a create of the same {type}: looks like a rename (URN {old} -> "
                    "{new}); to keep the resource, give it aliases"
                )
                note = text.format(type=created.type, old=gone.urn, new=created.urn)
                created.notes.append(note)
                gone.notes.append(note)


def review(
    base: Sequence[Registration],
    head: Sequence[Registration],
    *,
    stack: str,
    prod_stacks: Sequence[str],
    allow: Sequence[str] = (),
    base_ref: str = "",
    commit: str = "",
    note: str = "",
    owner_steps: Sequence[str] = (),
) -> Review:
    changes = diff(base, head)
    return Review(
        base_ref,
        commit,
        stack,
        stack in prod_stacks,
        changes,
        frozenset(allow),
        note,
        list(owner_steps),
    )
