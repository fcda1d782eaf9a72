"""The pack is standalone (`pulumi preview --policy-pack policies`) and pinned like the stack."""

from __future__ import annotations

import re

import yaml

from offline import runner

PACK = runner.ROOT / "policies"


def pins(path: str) -> dict[str, str]:
    text = (runner.ROOT / path).read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", text, flags=re.M))


def test_pulumi_policy_yaml_uses_python_with_pip_and_its_own_venv() -> None:
    doc = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert doc["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "venv"},
    }


def test_pack_requirements_pin_exactly_what_the_tests_run() -> None:
    pack, stack = pins("policies/requirements.txt"), pins("requirements.lock")
    assert {"pulumi", "pulumi-policy", "grpcio", "protobuf"} <= set(pack)
    assert {name: version for name, version in pack.items() if stack.get(name) != version} == {}


def test_pack_imports_nothing_from_the_stack() -> None:
    for source in (PACK / "astro_gke_policies").glob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(from|import) (components|offline)\b", text, flags=re.M), (
            source.name
        )
