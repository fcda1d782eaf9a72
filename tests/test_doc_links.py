"""Every relative link and #anchor in README.md, docs/ and astro/ resolves as GitHub renders it.

`mkdocs build --strict` (in `make test`) checks the site, but only the pages under docs/; the same
pages are read on GitHub, and README.md and astro/DAG_AUTHORS.md are only read there. GitHub's
heading ids follow github-slugger (the rule GitHub's own renderer uses): the heading's text,
lowercased, every character that is not a letter, digit, mark, `_`, `-` or a space removed, each
space turned into `-`; a repeated slug gets `-1`, `-2`, ... Markdown is parsed with markdown-it-py
(CommonMark), so links inside code blocks and code spans are not links, as on GitHub.
"""

from __future__ import annotations

import os
import unicodedata
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from offline.runner import ROOT

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "astro").glob("*.md")])
MD = MarkdownIt("commonmark").enable("table")


def github_slug(text: str) -> str:
    kept = "".join(
        ch
        for ch in text.lower()
        if ch in "-_ " or unicodedata.category(ch)[0] in "LNM" or unicodedata.category(ch) == "Pc"
    )
    return kept.replace(" ", "-")


def _text(inline: Token) -> str:
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


@cache
def tokens(path: Path) -> list[Token]:
    return MD.parse(path.read_text())


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    out = set()
    toks = tokens(path)
    for i, tok in enumerate(toks):
        if tok.type != "heading_open":
            continue
        slug = github_slug(_text(toks[i + 1]))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return frozenset(out)


def links(path: Path) -> list[str]:
    out = []
    for tok in tokens(path):
        for child in tok.children or []:
            if child.type == "link_open":
                out.append(str(child.attrs["href"]))
            elif child.type == "image":
                out.append(str(child.attrs["src"]))
    return out


def broken(path: Path) -> list[str]:
    problems = []
    for href in links(path):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or href.startswith("/"):
            continue  # absolute: not this repository's concern
        target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if parts.path and (not target.is_relative_to(ROOT) or not target.exists()):
            problems.append(f"{href}: no such file in the repository")
        elif parts.fragment and (target.suffix != ".md" or parts.fragment not in anchors(target)):
            problems.append(f"{href}: no heading with id #{parts.fragment} in {target.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert broken(page) == []


def test_github_slug_rule() -> None:
    assert github_slug("Reviewing a change offline (make preview BASE=…)") == (
        "reviewing-a-change-offline-make-preview-base"
    )
    assert github_slug("`make astro-env` and the Astro CLI's `--load` parser") == (
        "make-astro-env-and-the-astro-clis---load-parser"
    )
    assert github_slug("Two auth modes: impersonation (default) or adc") == (
        "two-auth-modes-impersonation-default-or-adc"
    )
    assert github_slug("GPU capacity / Über_ids") == "gpu-capacity--über_ids"


def test_the_checker_catches_a_dead_anchor_and_a_missing_file(tmp_path: Path) -> None:
    readme = os.path.relpath(ROOT / "README.md", tmp_path)
    fake = tmp_path / "x.md"
    fake.write_text(
        "# Title\n\n## Same\n\n## Same\n\n[ok](#same-1) [dead](#same-2) [gone](nowhere.md) "
        f"[file]({readme}) [bad]({readme}#no-such-heading) `[code](nowhere.md)`\n\n"
        "```\n[fenced](nowhere.md)\n```\n"
    )
    assert broken(fake) == [
        "#same-2: no heading with id #same-2 in x.md",
        "nowhere.md: no such file in the repository",
        f"{readme}#no-such-heading: no heading with id #no-such-heading in README.md",
    ]
