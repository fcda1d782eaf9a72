"""What one force-new table entry says (see offline/forcenew.py for how the SDK applies it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TPG = "hashicorp/terraform-provider-google"
TPG_BETA = "hashicorp/terraform-provider-google-beta"


@dataclass(frozen=True)
class Field:
    """One schema property. `replace`: ForceNew. `block`: a nested block whose fields have their
    own entries (`replace` then says what adding or removing the whole block does). `when`: a
    ForceNew that depends on the values (customdiff.ForceNewIfChange, a provider's DiffConfig):
    called with (old, new) of a known change; an unknown new value replaces."""

    replace: bool
    block: bool = False
    when: Callable[[Any, Any], bool] | None = None
    note: str = ""


R = Field(True)  # ForceNew
U = Field(False)  # updated in place
RB = Field(True, block=True)  # ForceNew block: adding/removing it replaces; see its fields
UB = Field(False, block=True)  # updatable block; see its fields


def source(repo: str, path: str, commit: str) -> str:
    return f"{repo} {path}@{commit}"
