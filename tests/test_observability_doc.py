"""docs/observability.md stays true: its generated alert table matches what the stack registers,
and every relative link resolves."""

from __future__ import annotations

import re

from offline import observability_doc, readme


def test_generated_alert_table_matches_the_code() -> None:
    begin, end = readme.markers(observability_doc.BLOCK)
    begin = begin.replace("python -m offline.readme", "python -m offline.observability_doc")
    text = observability_doc.PAGE.read_text()
    block = text[text.index(begin) + len(begin) : text.index(end)].strip()
    assert block == observability_doc.render(), "run: python -m offline.observability_doc"


def test_relative_links_resolve() -> None:
    text = observability_doc.PAGE.read_text()
    for target in re.findall(r"\]\((?!https?:|#)([^)#]+)", text):
        assert (observability_doc.PAGE.parent / target).exists(), target
