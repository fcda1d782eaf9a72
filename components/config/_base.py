"""Shared pieces of the stack config: name patterns with the rule each encodes (used verbatim in
error messages), the strict base model, and the single error type."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationInfo,
)

CONFIG_KEY = "platform"

# Patterns, each with the rule it encodes (used verbatim in error messages).
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
PROJECT_ID_RULE = "6-30 characters: lowercase letters, digits, hyphens; starts with a letter"
GKE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
GKE_NAME_RULE = (
    "1-40 characters: lowercase letters, digits, hyphens; starts with a letter, ends alphanumeric"
    " (GKE name and DNS-1123 label)"
)
SA_ACCOUNT_ID = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
SA_ACCOUNT_ID_RULE = "6-30 characters: lowercase letters, digits, hyphens; starts with a letter"
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
LABEL_RULE = "GCP label: key 1-63 of [a-z0-9_-] starting with a letter, value 0-63 of [a-z0-9_-]"
K8S_LABEL_KEY = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
K8S_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
K8S_LABEL_RULE = "Kubernetes label: [prefix/]name of at most 63 alphanumerics, '-', '_', '.'"
KMS_KEY = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{1,63}"
    r"/cryptoKeys/[A-Za-z0-9_-]{1,63}$"
)
KMS_KEY_RULE = "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"
AR_REPO = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/repositories/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)
AR_REPO_RULE = "projects/<project>/locations/<location>/repositories/<repository>"
NETWORK_REF = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/networks/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)
SUBNET_REF = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/regions/(?P<region>[a-z0-9-]+)/subnetworks/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)
RANGE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")

PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _matching(pattern: re.Pattern[str], rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


POOL_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,28}[a-z0-9])?$")
POOL_NAME_RULE = (
    "1-30 characters: lowercase letters, digits, hyphens; starts with a letter, ends alphanumeric"
    " (the provider adds a unique suffix to `<name>-`, and GKE pool names are at most 40)"
)

ProjectId = Annotated[str, _matching(PROJECT_ID, PROJECT_ID_RULE)]
GkeName = Annotated[str, _matching(GKE_NAME, GKE_NAME_RULE)]
PoolName = Annotated[str, _matching(POOL_NAME, POOL_NAME_RULE)]
AccountId = Annotated[str, _matching(SA_ACCOUNT_ID, SA_ACCOUNT_ID_RULE)]


class ConfigError(pulumi.RunError):
    """Invalid stack config. RunError: the Pulumi CLI prints the message without a traceback."""

    def __init__(self, problems: list[tuple[str, str]], key: str = CONFIG_KEY) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {path}: {rule}" for path, rule in problems)
        super().__init__(f"invalid stack config '{key}' ({len(problems)} problem(s)):\n{lines}")


class _Model(BaseModel):
    # validate_default: cross-field rules must also hold when one side is left at its default.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _ctx(info: ValidationInfo, key: str) -> Any:
    return (info.context or {}).get(key)


def _check_gcp_labels(value: Mapping[str, str]) -> Mapping[str, str]:
    bad = [k for k, v in value.items() if not LABEL_KEY.match(k) or not LABEL_VALUE.match(v)]
    if bad:
        raise ValueError(f"{', '.join(sorted(bad))}: {LABEL_RULE}")
    return value


def _private(net: ipaddress.IPv4Network) -> bool:
    return any(net.subnet_of(r) for r in PRIVATE_RANGES)
