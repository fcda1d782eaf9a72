"""MkDocs hooks (mkdocs.yml `hooks:`): the site also serves the two pages that live outside docs/.

README.md is the site's home page and astro/DAG_AUTHORS.md stays where DAG authors get it, so
neither can move into docs/. Both are added to the site as generated files, and the repository
paths that link to them (as GitHub resolves them) are rewritten to their site paths, so one set of
links works on GitHub and on the site alike, and `mkdocs build --strict` still checks every one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent

# repository path -> its page in the site
OUTSIDE = {"README.md": "index.md", "astro/DAG_AUTHORS.md": "dag-authors.md"}


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    for repo_path, site_path in OUTSIDE.items():
        files.append(File.generated(config, site_path, abs_src_path=str(ROOT / repo_path)))
    return files


def _site_target(page_repo_path: str, target: str) -> str:
    """The site path of a link `target` written in the repository file `page_repo_path`."""
    path, sep, anchor = target.partition("#")
    resolved = (ROOT / page_repo_path).parent.joinpath(path).resolve()
    if not path or not resolved.is_relative_to(ROOT):
        return target
    repo_path = resolved.relative_to(ROOT).as_posix()
    if repo_path in OUTSIDE:
        return OUTSIDE[repo_path] + sep + anchor
    if repo_path.startswith("docs/"):
        return repo_path.removeprefix("docs/") + sep + anchor
    return target


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    src = page.file.src_uri
    repo_path = next((r for r, s in OUTSIDE.items() if s == src), f"docs/{src}")
    return re.sub(
        r"\]\(([^)\s]+)\)",
        lambda m: f"]({_site_target(repo_path, m.group(1))})",
        markdown,
    )
