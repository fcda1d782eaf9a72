"""One way to declare a policy: metadata (with its benchmark ids) plus a check that yields
violation messages. Keeps each policy module a readable list of rules.

A resource policy's filter made with `of_type(...)` carries its types, so the pack's servicer
(dispatch.py) runs the policy only on resources of those types; one made with `on_type(test)` is
a pure function of the type, which the servicer asks once per type; any other filter (a function
of the type) is run on every resource, as before. A check reads `props` and never writes to it: the
same parsed properties go to every policy that sees the resource."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from astro_gke_policies.dispatch import TypedResourcePolicy

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

ResourceCheck = Callable[[Mapping[str, Any], ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str | None]]]


@dataclass(frozen=True)
class Meta:
    name: str
    description: str
    level: EnforcementLevel
    cis: str | None = None  # CIS GKE Benchmark (or CIS GCP Foundations) item
    checkov: str | None = None  # checkov check id
    remediation: str | None = None
    config_schema: PolicyConfigSchema | None = None

    def framework(self) -> PolicyComplianceFramework | None:
        if not self.cis:
            return None
        name, _, reference = self.cis.rpartition(" ")
        return PolicyComplianceFramework(name=name, reference=reference)

    def tags(self) -> list[str]:
        return [t for t in (self.cis, self.checkov) if t]

    def policy_kwargs(self) -> dict[str, Any]:
        """What every policy kind takes from its metadata."""
        return {
            "name": self.name,
            "description": self.description,
            "enforcement_level": self.level,
            "config_schema": self.config_schema,
            "framework": self.framework(),
            "tags": self.tags(),
            "remediation_steps": self.remediation,
        }


def resource_policy(
    meta: Meta, applies: Callable[[str], bool], check: ResourceCheck
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if not applies(args.resource_type):
            return
        for message in check(args.props, args):
            report(message, None)

    types = applies.types if isinstance(applies, OfType) else None
    type_test = applies if isinstance(applies, OnType) else None
    return TypedResourcePolicy(
        types, type_test=type_test, validate=validate, **meta.policy_kwargs()
    )


def stack_policy(meta: Meta, check: StackCheck) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message, urn in check(args):
            report(message, urn)

    return StackValidationPolicy(validate=validate, **meta.policy_kwargs())


@dataclass(frozen=True)
class OfType:
    """A resource-type filter that says which types it accepts."""

    types: frozenset[str]

    def __call__(self, resource_type: str) -> bool:
        return resource_type in self.types


def of_type(*types: str) -> Callable[[str], bool]:
    return OfType(frozenset(types))


@dataclass(frozen=True)
class OnType:
    """A resource-type filter that is a pure function of the type (it reads nothing else and
    always answers the same), so the servicer asks it once per type, not once per resource."""

    test: Callable[[str], bool]

    def __call__(self, resource_type: str) -> bool:
        return self.test(resource_type)


def on_type(test: Callable[[str], bool]) -> Callable[[str], bool]:
    return OnType(test)
