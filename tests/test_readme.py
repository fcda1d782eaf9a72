"""README stays true: the config reference is the generated one, and the commands it names exist."""

from __future__ import annotations

import re

from offline import config_doc, runner


def test_config_reference_matches_model() -> None:
    text = (runner.ROOT / "README.md").read_text()
    start = text.index(config_doc.BEGIN) + len(config_doc.BEGIN)
    block = text[start : text.index(config_doc.END)].strip()
    assert block == config_doc.render(), "run: python -m offline.config_doc --write"


def test_every_make_target_named_in_readme_exists() -> None:
    readme = (runner.ROOT / "README.md").read_text()
    makefile = (runner.ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    named = set(re.findall(r"\bmake ([a-z-]+)", readme))
    assert {"preview", "test", "venv"} <= named
    assert named <= targets, named - targets


def test_policy_table_matches_the_pack() -> None:
    from offline import policy_doc

    text = (runner.ROOT / "README.md").read_text()
    start = text.index(policy_doc.BEGIN) + len(policy_doc.BEGIN)
    block = text[start : text.index(policy_doc.END)].strip()
    assert block == policy_doc.render(), "run: python -m offline.policy_doc --write"
