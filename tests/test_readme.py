"""The docs stay true: each generated block matches the code in the page that holds it, and the
commands they name exist."""

from __future__ import annotations

import re

import pytest

from offline import readme, runner

DOC_PAGES = sorted([runner.ROOT / "README.md", *(runner.ROOT / "docs").glob("*.md")])


@pytest.mark.parametrize("name", sorted(readme.BLOCKS))
def test_generated_blocks_match_the_code(name: str) -> None:
    text = (runner.ROOT / readme.PAGES[name]).read_text()
    assert readme.block(text, name) == readme.BLOCKS[name](), "run: python -m offline.readme"


def test_each_generated_block_lives_in_one_page() -> None:
    assert set(readme.PAGES) == set(readme.BLOCKS)
    for name in readme.BLOCKS:
        begin, end = readme.markers(name)
        holders = [
            p.relative_to(runner.ROOT).as_posix() for p in DOC_PAGES if begin in p.read_text()
        ]
        assert holders == [readme.PAGES[name]], name
        assert (runner.ROOT / readme.PAGES[name]).read_text().count(end) == 1, name


def test_every_make_target_named_in_the_docs_exists() -> None:
    # README.md and docs/ (astro/DAG_AUTHORS.md is for DAG authors, who run no make target)
    makefile = (runner.ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    named = {p.name: set(re.findall(r"\bmake ([a-z-]+)", p.read_text())) for p in DOC_PAGES}
    assert {"preview", "test", "docs"} <= named["README.md"]
    assert {"venv"} <= set().union(*named.values())
    for page, names in named.items():
        assert names <= targets, (page, names - targets)
