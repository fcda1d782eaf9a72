"""What the config validation tests share: run `config.load` on a mutated committed stack and read
the problems it reports, each by its config path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components import config
from tests.conftest import raw_platform


def problems(mutate: Callable[[dict[str, Any]], None], stack: str = "dev") -> dict[str, str]:
    raw = raw_platform(stack)
    mutate(raw)
    with pytest.raises(config.ConfigError) as exc:
        config.load(raw)
    return dict(exc.value.problems)


def assert_problem(found: dict[str, str], path: str, rule_fragment: str) -> None:
    assert path in found, f"no problem reported at {path}: {found}"
    assert rule_fragment in found[path], found[path]
