"""The sentences of a Markdown page, as a reader meets them, for tests/test_readme.py's length rule
(docs: at most about 40 words a sentence, DEVELOPERS.md).

What counts as prose, and what does not:
- fenced code blocks (```), HTML comments and table rows (lines starting with `|`) are left out:
  code is not read as sentences, and a table cell is a value, not a sentence (the generated tables
  are kept true by their own tests);
- a heading, and each list item, is its own unit: a sentence ends where the item ends, even
  without a full stop, so a list cannot hide one long sentence across its items;
- a link counts as its text (`[text](url)` -> `text`), and an inline code span (`` `...` ``)
  counts as one word, whatever it holds (a name, a command, a path);
- a sentence ends at `.`, `!` or `?` followed by a space and a capital, a digit or markup that can
  open a sentence, so "e.g. a" or "`a.b` c" does not end one.
"""

from __future__ import annotations

import re

MAX_WORDS = 40

_FENCE = re.compile(r"^\s*```.*?^\s*```[^\n]*$", flags=re.S | re.M)
_COMMENT = re.compile(r"<!--.*?-->", flags=re.S)
_CODE = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_END = re.compile(r"(?<=[.!?])[)\"*_]*\s+(?=[A-Z0-9`*\[(\"'])")


def units(text: str) -> list[str]:
    """The page's prose, one string per paragraph, heading or list item."""
    text = _COMMENT.sub("", _FENCE.sub("", text))
    out: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            out.append(" ".join(current))
            current.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("|"):
            flush()
            continue
        if stripped.startswith("#") or _ITEM.match(line):
            flush()
            if stripped.startswith("#"):
                out.append(stripped.lstrip("#").strip())
                continue
            stripped = _ITEM.sub("", line).strip()
        current.append(stripped.lstrip("> ").strip())
    flush()
    return out


def sentences(text: str) -> list[str]:
    out = []
    for unit in units(text):
        unit = _LINK.sub(r"\1", _CODE.sub("CODE", unit))
        out += [s.strip() for s in _END.split(unit) if s.strip()]
    return out


def words(sentence: str) -> int:
    return len(sentence.split())


def too_long(text: str, limit: int = MAX_WORDS) -> list[str]:
    return [s for s in sentences(text) if words(s) > limit]
