"""Reading resource properties the way the analyzer delivers them.

Properties use the provider's camelCase names, numbers arrive as floats, nested values are
Mapping/Sequence proxies (not dict/list), and reading a value unknown during preview raises
UnknownValueError, which the SDK reports as an advisory "can't run during preview". Nothing here
catches that exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

T = TypeVar("T")


def get(value: Any, *path: str | int, default: Any = None) -> Any:
    """Walk `path` through Mappings/Sequences; `default` where a step is missing or null."""
    current = value
    for step in path:
        if isinstance(step, int):
            if not is_list(current) or step >= len(current):
                return default
            current = current[step]
        else:
            if not isinstance(current, Mapping) or step not in current:
                return default
            current = current[step]
        if current is None:
            return default
    return current


def text(value: Any, *path: str | int, default: str = "") -> str:
    """A string property, or `default` when missing or not a string (never raises on odd types)."""
    found = get(value, *path)
    return found if isinstance(found, str) else default


def number(value: Any, *path: str | int) -> float | None:
    """A numeric property (numbers arrive as floats), or None when missing or not a number."""
    found = get(value, *path)
    if isinstance(found, bool) or not isinstance(found, int | float):
        return None
    return float(found)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def items(value: Any) -> list[Any]:
    return list(value) if is_list(value) else []


def stack_of(urn: str) -> str:
    """urn:pulumi:<stack>::<project>::<type>::<name>"""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def is_iam_member(resource_type: str) -> bool:
    kind = resource_type.rsplit(":", 1)[-1].lower()
    return kind.endswith(("iammember", "iambinding"))


def members(props: Mapping[str, Any]) -> list[str]:
    single = get(props, "member")
    return (
        [single]
        if isinstance(single, str)
        else [m for m in items(get(props, "members")) if isinstance(m, str)]
    )


def _config(args: ResourceValidationArgs | StackValidationArgs) -> Mapping[str, Any]:
    config = args.get_config()
    return config if isinstance(config, Mapping) else {}


def config_value(args: ResourceValidationArgs | StackValidationArgs, key: str, default: Any) -> Any:
    value = _config(args).get(key)
    return default if value is None else value


def group(values: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    """`values` by `key`, each list in the order given (one pass: keeps stack policies linear)."""
    out: dict[str, list[T]] = {}
    for value in values:
        out.setdefault(key(value), []).append(value)
    return out


def children(resources: Iterable[PolicyResource]) -> dict[str, list[PolicyResource]]:
    """Each parent's URN to its children, in stack order. Reads no property, so it never meets
    an unknown value."""
    return group((r for r in resources if r.parent is not None), lambda r: r.parent.urn)  # type: ignore[union-attr]
