"""What the pinned Kueue Helm chart installs: the kinds its templates render with the stack's values.

The chart is the one in the pinned Go module (tools/kubebin/go.mod `sigs.k8s.io/kueue`, the same
release as components/config/kueue.py `KUEUE_VERSION`): `charts/kueue/templates/*.yaml` and
`charts/kueue/values.yaml`. No Helm runs offline, so this reads the templates as text:

- a document's kind and apiVersion are its top-level `kind:` and `apiVersion:` lines;
- a document is rendered when every `{{- if ... }}` open at its `kind:` line is true for the chart's
  defaults (values.yaml) merged with the stack's values (components/gke/kueue.py chart_values).
  A condition is evaluated when it is `.Values.<path>`, `not`, `and` or `or` of those; anything
  else (`.Capabilities`, `ne`, `has`) is unknown, and an unknown condition counts as rendered
  (the deploy role must rather cover too much than refuse the install). `and` with a false term
  is false whatever the others.

tests/test_kueue_chart.py checks every kind against the deploy role (components/day0/
deploy_permissions.py), so a chart upgrade that adds a kind fails there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
KUBEBIN = ROOT / "tools" / "kubebin"
MODULE = "sigs.k8s.io/kueue"

_DIRECTIVE = re.compile(r"^\{\{-?\s*(if|else if|else|end|with|range|define)\b(.*?)-?\}\}\s*$")
_COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)
_VALUE = re.compile(r"^\.Values((?:\.[A-Za-z0-9_]+)+)$")


def module_dir() -> Path | None:
    """The pinned module's directory in the Go module cache, or None when Go or the module is
    absent (`make kube-bin` downloads it). Never downloads: GOPROXY=off, GOFLAGS=-mod=mod."""
    go = shutil.which("go")
    if go is None:
        return None
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
    found = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", MODULE],
        cwd=KUBEBIN,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    path = Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None
    return path if path is not None and (path / "charts" / "kueue").is_dir() else None


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's value merge: maps merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _lookup(values: Mapping[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.strip(".").split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _split(expr: str) -> list[str]:
    """Top-level terms of a Go template pipeline (parentheses kept together)."""
    terms, depth, cur = [], 0, ""
    for ch in expr.strip():
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == " " and depth == 0:
            if cur:
                terms.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        terms.append(cur)
    return terms


def evaluate(expr: str, values: Mapping[str, Any]) -> bool | None:
    """True/False for `.Values.x`, `not`, `and`, `or` of those; None when unknown."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1].strip()
    if m := _VALUE.match(expr):
        return bool(_lookup(values, m.group(1)))
    terms = _split(expr)
    if not terms:
        return None
    head, args = terms[0], [evaluate(t, values) for t in terms[1:]]
    if head == "not" and len(args) == 1:
        return None if args[0] is None else not args[0]
    if head == "and" and args:
        if False in args:
            return False
        return None if None in args else True
    if head == "or" and args:
        if True in args:
            return True
        return None if None in args else False
    return None


@dataclass(frozen=True)
class Doc:
    """One document of one template: where it is, what it is, and whether it renders."""

    template: str  # path under charts/kueue/templates
    api_version: str
    kind: str
    conditions: tuple[str, ...]  # the `if`s open at its kind line, outermost first
    rendered: bool

    @property
    def pulumi_type(self) -> str:
        """The type Pulumi registers the object as (a Chart v4 child): kubernetes:<group>/<v>:<Kind>,
        `core` for the core group."""
        group_version = self.api_version if "/" in self.api_version else f"core/{self.api_version}"
        return f"kubernetes:{group_version}:{self.kind}"


def documents(chart: Path, values: Mapping[str, Any]) -> Iterator[Doc]:
    """Every document of every template under `chart`/templates, with its render decision."""
    for path in sorted((chart / "templates").rglob("*.yaml")):
        text = _COMMENT.sub("", path.read_text())
        stack: list[str | None] = []  # open conditions; None: a block that is no condition
        api_version = ""
        for line in text.splitlines():
            if m := _DIRECTIVE.match(line):
                word, rest = m.group(1), m.group(2).strip()
                if word == "if":
                    stack.append(rest)
                elif word in ("with", "range", "define"):
                    stack.append(None)
                elif word in ("else", "else if") and stack:
                    stack[-1] = None  # the branch's own condition is not tracked
                elif word == "end" and stack:
                    stack.pop()
                continue
            if line.startswith("---"):
                api_version = ""
            elif line.startswith("apiVersion:"):
                api_version = line.split(":", 1)[1].strip()
            elif line.startswith("kind:"):
                conditions = tuple(c for c in stack if c is not None)
                verdicts = [evaluate(c, values) for c in conditions]
                yield Doc(
                    template=str(path.relative_to(chart / "templates")),
                    api_version=api_version,
                    kind=line.split(":", 1)[1].strip(),
                    conditions=conditions,
                    rendered=False not in verdicts,
                )


def chart_values(chart: Path, stack_values: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's defaults with the stack's values on top, as Helm merges them."""
    defaults = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    return merge(defaults, stack_values)


def rbac_rules(chart: Path, docs: list[Doc]) -> list[dict[str, Any]]:
    """The rules of every rendered Role and ClusterRole: the templates' rule blocks are plain YAML
    (generated by Kueue's yaml-processor); template expressions elsewhere are blanked out."""
    out: list[dict[str, Any]] = []
    for template in sorted({d.template for d in docs if d.rendered and d.kind.endswith("Role")}):
        text = _COMMENT.sub("", (chart / "templates" / template).read_text())
        lines = [
            re.sub(r"\{\{.*?\}\}", "x", line)
            for line in text.splitlines()
            if not line.strip().startswith("{{")
        ]
        for doc in yaml.safe_load_all("\n".join(lines)):
            if isinstance(doc, dict) and doc.get("kind") in ("Role", "ClusterRole"):
                out.extend(doc.get("rules") or [])
    return out
