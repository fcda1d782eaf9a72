"""Evaluate IAM condition and Workload Identity mapping expressions with a real CEL implementation
(cel-python, module `celpy`), plus the two IAM extensions our expressions use, as Google
documents them (https://cloud.google.com/iam/docs/conditions-attribute-reference):
- `api.getAttribute(name, default)`: a request attribute, `default` when the request has none
  (e.g. `iam.googleapis.com/modifiedGrantsByRole` outside setIamPolicy);
- `list.hasOnly(allowed)`: true when every element of the list is in `allowed` (so an empty list).

`allowed` simulates IAM's decision for one request from a set of (permissions, condition)
bindings: a permission is granted when a binding holds it and its condition is true (no
condition: always). Nothing else of IAM is modelled; the expressions are what is tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import celpy
from celpy import celtypes


def _cel(value: Any) -> Any:
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, Mapping):
        return celtypes.MapType({celtypes.StringType(k): _cel(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return celtypes.ListType([_cel(v) for v in value])
    raise TypeError(f"no CEL value for {value!r}")


def _get_attribute(api: Any, name: Any, default: Any) -> Any:
    return api.get(name, default) if isinstance(api, celtypes.MapType) else default


def _has_only(values: Any, allowed: Any) -> celtypes.BoolType:
    return celtypes.BoolType(all(v in allowed for v in values))


_FUNCTIONS: dict[str, Any] = {"getAttribute": _get_attribute, "hasOnly": _has_only}


@cache
def _program(expression: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expression), functions=_FUNCTIONS)


def evaluate(expression: str, activation: Mapping[str, Any]) -> Any:
    """Evaluate a CEL expression with plain Python values bound to its top-level names."""
    result = _program(expression).evaluate({k: _cel(v) for k, v in activation.items()})
    if isinstance(result, celtypes.BoolType):
        return bool(result)
    if isinstance(result, celtypes.StringType):
        return str(result)
    return result


@dataclass(frozen=True)
class Request:
    """One call as IAM sees it: the permission checked, the resource's attributes, and the roles
    whose grants a setIamPolicy adds or removes (`modifiedGrantsByRole`)."""

    permission: str
    resource_type: str = ""
    resource_name: str = ""
    modified_roles: Sequence[str] | None = None

    def activation(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if self.modified_roles is not None:
            attributes["iam.googleapis.com/modifiedGrantsByRole"] = list(self.modified_roles)
        service = self.resource_type.split("/")[0] if self.resource_type else ""
        return {
            "api": attributes,
            "resource": {
                "type": self.resource_type,
                "name": self.resource_name,
                "service": service,
            },
        }


@dataclass(frozen=True)
class Binding:
    permissions: frozenset[str]
    condition: str | None = None
    label: str = field(default="", compare=False)


def allowed(bindings: Iterable[Binding], request: Request) -> bool:
    activation = request.activation()
    return any(
        request.permission in b.permissions
        and (b.condition is None or evaluate(b.condition, activation) is True)
        for b in bindings
    )
