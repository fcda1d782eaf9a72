"""Property paths and values for the change review: Pulumi's path syntax (`a.b[0]["c.d"]`), the
leaf differences between two input values, and what the force-new table says about each."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from offline import forcenew
from offline.forcenew import Path
from offline.mocks import Registration

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


def within(prefix: Path, path: Path) -> bool:
    """`path` is `prefix` or under it (`*` matches any one segment)."""
    if len(prefix) > len(path):
        return False
    return all(p == "*" or p == s for p, s in zip(prefix, path, strict=False))


def matches(option: Sequence[str], path: Path) -> bool:
    for text in option:
        try:
            if text == "*" or within(parse_path(text), path):
                return True
        except ValueError:
            continue
    return False


# --- values --------------------------------------------------------------------------------------


def value_diff(old: Any, new: Any, path: Path = ()) -> Iterator[tuple[Path, Any, Any]]:
    """Changed leaves: into objects, and into lists of objects of equal length; a missing key and
    a null are the same (the SDK does not send unset inputs)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if a is None and b is None:
                continue
            yield from value_diff(a, b, (*path, key))
    elif (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and all(isinstance(v, Mapping) for v in old + new)
    ):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from value_diff(a, b, (*path, i))
    elif old != new:
        yield path, old, new


def value_at(value: Any, path: Path) -> Any:
    for segment in path:
        if isinstance(segment, int):
            value = value[segment] if isinstance(value, list) and segment < len(value) else None
        else:
            value = value.get(segment) if isinstance(value, Mapping) else None
    return value


def leaves(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, (*path, i))
    else:
        yield path, value


def unknown_values(r: Registration) -> set[str]:
    """What a new or replacing `r` does not know until apply: its id and every output the
    provider computes (an output that is not simply the input echoed back)."""
    inputs = dict(leaves(r.inputs, ()))
    values = {v for p, v in leaves(r.outputs, ()) if p not in inputs or inputs[p] != v}
    values.add(r.id)
    return {v for v in values if isinstance(v, str) and len(v) >= 6}


def classify(type_: str, path: Path, old: Any, new: Any, *, unknown: bool) -> tuple[bool, str]:
    entry = forcenew.lookup(type_, path)
    if entry is None:
        return True, "not in the force-new table (offline/forcenew.py): assumed to replace"
    if entry.when is not None:
        if unknown:
            return True, entry.note
        return entry.when(old, new), entry.note
    return entry.replace, ""
