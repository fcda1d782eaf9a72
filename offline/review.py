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
`astro-gke-gpu:gke:GpuNodePool`) replaced or deleted; a deployment's Secret Manager secret,
launcher service account or namespace (under an `astro-gke-gpu:airflow:DeploymentAccess`)
replaced or deleted. In a production stack (the policy pack's `prodStacks`) these refuse the
preview unless each URN is listed in ALLOW_REPLACE.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from offline import forcenew
from offline.forcenew import Path
from offline.mocks import Registration

OPS = ("create", "update", "replace", "delete")
CREATE_BEFORE_DELETE = "create-before-delete"
DELETE_BEFORE_REPLACE = "delete-before-replace"
PROVIDER = "(provider)"  # pseudo-path: replaced because its provider is replaced

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
GPU_POOL = "astro-gke-gpu:gke:GpuNodePool"
DEPLOYMENT = "astro-gke-gpu:airflow:DeploymentAccess"
DEPLOYMENT_PARTS = {
    "gcp:secretmanager/secret:Secret": "connection secret",
    "gcp:serviceaccount/account:Account": "launcher service account",
    "kubernetes:core/v1:Namespace": "namespace",
}
# A Remote Execution agent in this cluster lives in these: replacing one breaks the running agent
# (its namespace and Helm release, the service accounts its pods run as and Workload Identity
# names, the bucket holding its XComs).
REMOTE_AGENT = "astro-gke-gpu:airflow:RemoteAgent"
AGENT_PARTS = {
    "kubernetes:core/v1:Namespace": "agent namespace",
    "kubernetes:core/v1:ServiceAccount": "agent service account",
    "gcp:storage/bucket:Bucket": "XCom bucket",
}
SECRET = "[secret]"


@dataclass
class PropertyChange:
    path: Path
    old: Any
    new: Any
    secret: bool
    replaces: bool
    unknown: bool = False  # only known after apply: it comes from a resource being replaced
    cause: str = ""  # the URN it comes from, when unknown
    note: str = ""

    @property
    def rendered(self) -> str:
        return render_path(self.path)


@dataclass
class Change:
    urn: str
    type: str
    name: str
    op: str
    custom: bool = True
    changes: list[PropertyChange] = field(default_factory=list)
    caused_by: list[str] = field(default_factory=list)
    replacement: str | None = None
    notes: list[str] = field(default_factory=list)
    hurts: str = ""
    provider_replaced: bool = False  # its provider resource is replaced (or differs)

    @property
    def properties(self) -> list[str]:
        """replace: the properties that force it; update: the changed ones."""
        chosen = [c for c in self.changes if c.replaces] if self.op == "replace" else self.changes
        paths = {c.rendered for c in chosen}
        if self.op == "replace" and self.provider_replaced:
            paths.add(PROVIDER)
        return sorted(paths)


# --- property paths ----------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def render_path(path: Path) -> str:
    """Pulumi's property path syntax: `a.b[0]["app.kubernetes.io/name"]`."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif _IDENT.match(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment)}]"
    return out


_TOKEN = re.compile(r'\.?([A-Za-z_$*][A-Za-z0-9_$-]*)|\[(\d+|\*)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(text: str) -> Path:
    """The inverse of render_path, with `*` (any key or index) as ignoreChanges allows."""
    segments: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"not a property path: {text!r}")
        name, index, quoted = m.groups()
        if name is not None:
            segments.append(name)
        elif index is not None:
            segments.append("*" if index == "*" else int(index))
        else:
            segments.append(json.loads(f'"{quoted}"'))
        pos = m.end()
    return tuple(segments)


def _within(prefix: Path, path: Path) -> bool:
    """`path` is `prefix` or under it (`*` matches any one segment)."""
    if len(prefix) > len(path):
        return False
    return all(p == "*" or p == s for p, s in zip(prefix, path, strict=False))


def _matches(option: Sequence[str], path: Path) -> bool:
    for text in option:
        try:
            if text == "*" or _within(parse_path(text), path):
                return True
        except ValueError:
            continue
    return False


# --- values --------------------------------------------------------------------------------------


def _diff(old: Any, new: Any, path: Path = ()) -> Iterator[tuple[Path, Any, Any]]:
    """Changed leaves: into objects, and into lists of objects of equal length; a missing key and
    a null are the same (the SDK does not send unset inputs)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if a is None and b is None:
                continue
            yield from _diff(a, b, (*path, key))
    elif (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and all(isinstance(v, Mapping) for v in old + new)
    ):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _diff(a, b, (*path, i))
    elif old != new:
        yield path, old, new


def _get(value: Any, path: Path) -> Any:
    for segment in path:
        if isinstance(segment, int):
            value = value[segment] if isinstance(value, list) and segment < len(value) else None
        else:
            value = value.get(segment) if isinstance(value, Mapping) else None
    return value


def _leaves(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def unknown_values(r: Registration) -> set[str]:
    """What a new or replacing `r` does not know until apply: its id and every output the
    provider computes (an output that is not simply the input echoed back)."""
    inputs = dict(_leaves(r.inputs, ()))
    values = {v for p, v in _leaves(r.outputs, ()) if p not in inputs or inputs[p] != v}
    values.add(r.id)
    return {v for v in values if isinstance(v, str) and len(v) >= 6}


def _classify(type_: str, path: Path, old: Any, new: Any, *, unknown: bool) -> tuple[bool, str]:
    entry = forcenew.lookup(type_, path)
    if entry is None:
        return True, "not in the force-new table (offline/forcenew.py): assumed to replace"
    if entry.when is not None:
        if unknown:
            return True, entry.note
        return entry.when(old, new), entry.note
    return entry.replace, ""


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
    for path, a, b in _diff(old.inputs, new.inputs):
        if _matches(new.ignore_changes, path):
            continue
        replaces, note = _classify(new.type, path, a, b, unknown=False)
        if _matches(new.replace_on_changes, path):
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
                for path, value in _leaves(r.inputs.get(key), (key,)):
                    if not (isinstance(value, str) and any(v in value for v in values)):
                        continue
                    if _matches(r.ignore_changes, path):
                        continue
                    _mark_unknown(change, r, old_by[urn], path, value, source)
            if not was and _replaced(change):
                queue.append(urn)


def _mark_unknown(
    change: Change, r: Registration, old: Registration, path: Path, value: Any, source: str
) -> None:
    replaces, note = _classify(r.type, path, _get(old.inputs, path), value, unknown=True)
    if _matches(r.replace_on_changes, path):
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
                path, _get(old.inputs, path), value, secret, replaces, True, source, note
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
        and _get(old.inputs, ("metadata", "name")) == _get(new.inputs, ("metadata", "name"))
        and _get(old.inputs, ("metadata", "namespace"))
        == _get(new.inputs, ("metadata", "namespace"))
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


# --- the review ---------------------------------------------------------------------------------


@dataclass
class Review:
    base: str
    commit: str
    stack: str
    prod: bool
    changes: list[Change]
    allowed: frozenset[str] = frozenset()
    note: str = ""

    @property
    def hurting(self) -> list[Change]:
        return [c for c in self.changes if c.hurts]

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.hurting if c.urn not in self.allowed] if self.prod else []

    @property
    def unmatched_allowed(self) -> list[str]:
        return sorted(self.allowed - {c.urn for c in self.hurting})

    def counts(self) -> dict[str, int]:
        return {op: sum(c.op == op for c in self.changes) for op in OPS}


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
) -> Review:
    changes = diff(base, head)
    return Review(base_ref, commit, stack, stack in prod_stacks, changes, frozenset(allow), note)


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
    for urn in r.unmatched_allowed:
        lines.append(f"warning: ALLOW_REPLACE names {urn}, which is no hurting change")
    return "\n".join(lines)
