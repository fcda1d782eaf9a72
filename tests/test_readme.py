"""README stays true: its generated blocks match the code, and the commands it names exist."""

from __future__ import annotations

import re

import pytest

from offline import readme, runner


@pytest.mark.parametrize("name", sorted(readme.BLOCKS))
def test_generated_blocks_match_the_code(name: str) -> None:
    text = (runner.ROOT / "README.md").read_text()
    assert readme.block(text, name) == readme.BLOCKS[name](), "run: python -m offline.readme"


def test_every_make_target_named_in_readme_exists() -> None:
    text = (runner.ROOT / "README.md").read_text()
    makefile = (runner.ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    named = set(re.findall(r"\bmake ([a-z-]+)", text))
    assert {"preview", "test", "venv"} <= named
    assert named <= targets, named - targets
