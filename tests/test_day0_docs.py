"""docs/day0.md stays true: its generated tables match the code; README points at it and no
longer hands out admin roles."""

from __future__ import annotations

import pytest

from offline import day0_doc, runner


@pytest.mark.parametrize("name", sorted(day0_doc.BLOCKS))
def test_generated_blocks_match_the_code(name: str) -> None:
    text = day0_doc.DOC.read_text()
    assert day0_doc.block(text, name) == day0_doc.BLOCKS[name](), "run: python -m offline.day0_doc"


def test_readme_links_day0_and_drops_the_admin_roles() -> None:
    text = (runner.ROOT / "README.md").read_text()
    assert "(docs/day0.md)" in text
    assert "roughly" not in text
    for role in ("roles/container.admin", "roles/iam.roleAdmin", "roles/secretmanager.admin"):
        assert role not in text
