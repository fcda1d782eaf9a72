"""Render the config reference (docs/config-reference.md) from the pydantic model: the model is
the one source (written into that page by `python -m offline.readme`)."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config import CONFIG_KEY, StackConfig
from offline.runner import PROJECT


def _models(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in get_args(annotation):
        found += _models(arg)
    return found


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(get_args(annotation)[0])
    if origin in (list, dict):
        inner = ", ".join(_type_name(a) for a in get_args(annotation))
        return f"{origin.__name__}[{inner}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "`{}`" if isinstance(value, BaseModel) else f"`{value!r}`"
    if field.default is PydanticUndefined:
        return ""
    return f"`{field.default!r}`" if field.default is not None else "`null`"


def _doc(field: FieldInfo, annotation: Any) -> str:
    text = field.description or ""
    if not text:
        for model in _models(annotation):
            text = " ".join((model.__doc__ or "").split())
            if text:
                break
    return text.replace("|", "\\|")


def rows(model: type[BaseModel], prefix: str, note: str = "") -> list[str]:
    out: list[str] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        annotation = field.annotation
        doc = f"{note}{_doc(field, annotation)}"
        out.append(f"| `{path}` | {_type_name(annotation)} | {_default(field)} | {doc} |")
        subs = _models(annotation)
        for sub in subs:
            sub_prefix = f"{path}[]" if get_origin(annotation) is list else path
            sub_note = ""
            if len(subs) > 1:  # a tagged union: say which variant a key belongs to
                sub_note = f"*(mode {_type_name(sub.model_fields['mode'].annotation)})* "
            out += rows(sub, sub_prefix, sub_note)
    return out


def render() -> str:
    head = [
        f"All settings live under one key, `{PROJECT}:{CONFIG_KEY}`, in `Pulumi.<stack>.yaml`.",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    return "\n".join(head + rows(StackConfig, ""))
