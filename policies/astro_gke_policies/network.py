"""VPC firewall policies: the network's behaviour is declared and logged, never open to the world."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from astro_gke_policies.define import MANDATORY, Meta, of_type, resource_policy, stack_policy
from astro_gke_policies.props import get, items, text

NETWORK = "gcp:compute/network:Network"
FIREWALL = "gcp:compute/firewall:Firewall"
is_firewall = of_type(FIREWALL)
WORLD = ("0.0.0.0/0", "::/0")


def _ingress(props: Mapping[str, Any]) -> bool:
    # The provider's default direction is INGRESS.
    return text(props, "direction", default="INGRESS") == "INGRESS"


def _no_world_allow(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    sources = [text(s) for s in items(get(props, "sourceRanges"))]
    if _ingress(props) and items(get(props, "allows")) and any(s in WORLD for s in sources):
        yield "an INGRESS rule that allows traffic must not take 0.0.0.0/0 (or ::/0) as a source."
    # An INGRESS rule with no source at all applies to every source: "If you do not specify a
    # source for an ingress rule, Google Cloud uses 0.0.0.0/0" (VPC firewall rules, "Sources for
    # ingress rules"). An empty list is what a computed source range that came back empty gives.
    named = [
        *sources,
        *items(get(props, "sourceTags")),
        *items(get(props, "sourceServiceAccounts")),
    ]
    if _ingress(props) and items(get(props, "allows")) and not named:
        yield (
            "an INGRESS rule that allows traffic must name its sources: with none, Google Cloud "
            "applies it to 0.0.0.0/0."
        )


def _logged(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not text(props, "logConfig", "metadata"):
        yield "firewall rule logging must be on (logConfig.metadata set)."


def _denies_all_ingress(rule: PolicyResource) -> bool:
    props = rule.props
    protocols = {text(d, "protocol") for d in items(get(props, "denies"))}
    sources = {text(s) for s in items(get(props, "sourceRanges"))}
    return _ingress(props) and "all" in protocols and "0.0.0.0/0" in sources


def _explicit_deny_ingress(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    firewalls = [r for r in args.resources if r.resource_type == FIREWALL]
    for network in (r for r in args.resources if r.resource_type == NETWORK):
        name = text(network.props, "name")
        mine = [f for f in firewalls if text(f.props, "network").endswith(f"/networks/{name}")]
        if not any(_denies_all_ingress(f) and text(f.props, "logConfig", "metadata") for f in mine):
            yield (
                f"network {name} has no explicit, logged deny-all INGRESS rule: its ingress "
                "behaviour is implied, not declared, and denied traffic leaves no log.",
                network.urn,
            )


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [
        resource_policy(
            Meta(
                "firewall-no-world-ingress",
                "No firewall rule allows ingress from the whole internet.",
                MANDATORY,
                "CIS GCP 3.6",
                "CKV_GCP_2",
            ),
            is_firewall,
            _no_world_allow,
        ),
        resource_policy(
            Meta(
                "firewall-logging",
                "Every firewall rule the stack creates logs its matches.",
                MANDATORY,
            ),
            is_firewall,
            _logged,
        ),
        stack_policy(
            Meta(
                "network-explicit-deny-ingress",
                "Every network the stack creates declares a logged deny-all ingress rule.",
                MANDATORY,
            ),
            _explicit_deny_ingress,
        ),
    ]
