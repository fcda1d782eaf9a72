"""Preflight: what can be checked offline before a first run against a real project.

The repository ships example stack files (Pulumi.dev.yaml, Pulumi.prod.yaml,
bootstrap/Pulumi.ci.yaml). Their project ids, Astro identities, repository and bucket are
invented. Run as they are, the bootstrap would grant roles in those projects and `pulumi up` would
target them. So `make preview` and `make bootstrap-preview` refuse any of these values with one
ConfigError naming the key and the rule, before any resource is registered.

The repository's own CI and tests preview the shipped examples on purpose: they set
`PREVIEW_EXAMPLES=1` (.ci/run, tests/conftest.py, `make bench`). With it, the preview runs and
states on stderr that it is the example. .github/workflows/pr.yml does not set it, so its offline
preview of a stack file still holding the example values fails with exit 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from components.config._base import ConfigError

ALLOW_ENV = "PREVIEW_EXAMPLES"

# Every invented value of the shipped stack files (tests/test_preflight.py checks the files hold
# exactly these).
EXAMPLE_PROJECTS = ("acme-ml-dev", "acme-ml-prod", "acme-ml-ci", "astro-tenant-4821")
EXAMPLE_REPOSITORY = "acme/astro-gke-gpu"
EXAMPLE_REPOSITORY_ID = "812345678"
EXAMPLE_BUCKET = "acme-ml-pulumi-state"

PROJECT_RULE = (
    "is the shipped example project id; set your own project id "
    f"(to preview the example itself: {ALLOW_ENV}=1)"
)
REFERENCE_RULE = (
    "names the shipped example project {project}; name your own, which must exist before "
    "`pulumi up` "
    f"(to preview the example itself: {ALLOW_ENV}=1)"
)
REPOSITORY_RULE = "is the shipped example; set your repository (`<owner>/<name>`)"
# The numeric id bootstrap.REPOSITORY_ID wants (the REST API's `id`, not GraphQL's node id).
REPOSITORY_ID_RULE = (
    "is the shipped example; set your repository's numeric id "
    "(`gh api repos/<owner>/<name> --jq .id`)"
)
BUCKET_RULE = "is the shipped example bucket name; bucket names are global, choose your own"

# A project named inside a resource path or a service account email.
_IN_PATH = re.compile(r"projects/([a-z][a-z0-9-]{4,28}[a-z0-9])(?:/|$)")
_IN_EMAIL = re.compile(r"@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$")


def allowed(environ: Mapping[str, str] | None = None) -> bool:
    """True where the run previews the shipped examples on purpose (`PREVIEW_EXAMPLES=1`)."""
    return (environ if environ is not None else os.environ).get(ALLOW_ENV) == "1"


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def example_problems(raw: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(config path, rule) for every example value in one program's raw config object."""
    problems: list[tuple[str, str]] = []
    for path, value in _strings(raw, prefix):
        leaf = path.rsplit(".", 1)[-1]
        if leaf == "project_id" and value in EXAMPLE_PROJECTS:
            problems.append((path, PROJECT_RULE))
            continue
        named = _IN_PATH.search(value) or _IN_EMAIL.search(value)
        if named and named.group(1) in EXAMPLE_PROJECTS:
            problems.append((path, REFERENCE_RULE.format(project=named.group(1))))
        elif (path, value) == ("github.repository", EXAMPLE_REPOSITORY):
            problems.append((path, REPOSITORY_RULE))
        elif (path, value) == ("github.repository_id", EXAMPLE_REPOSITORY_ID):
            problems.append((path, REPOSITORY_ID_RULE))
        elif path == "state_bucket.name" and value == EXAMPLE_BUCKET:
            problems.append((path, BUCKET_RULE))
    return problems


def check(
    raw: Mapping[str, Any],
    key: str,
    *,
    stacks: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Raise one ConfigError for every example value in `raw` (the config object under `key`) and,
    for the bootstrap, in each listed main stack's config (`stacks`: name -> its platform object),
    whose projects the bootstrap grants roles in. Returns True when the examples were allowed
    through `PREVIEW_EXAMPLES=1` (the caller says so), False when none was found."""
    problems = example_problems(raw)
    for i, (name, platform) in enumerate((stacks or {}).items()):
        where = f"stacks[{i}] (Pulumi.{name}.yaml)"
        problems += [(f"{where} {p}", rule) for p, rule in example_problems(platform)]
    if not problems:
        return False
    if allowed(environ):
        return True
    raise ConfigError(problems, key=key)
