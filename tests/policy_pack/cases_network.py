"""Violation cases for policies/astro_gke_policies/network.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from tests.policy_pack.mutations import (
    DELETE,
    FIREWALL,
    Case,
    edit,
    remove,
    set_path,
)

CASES: list[Case] = [
    (
        "firewall-no-world-ingress",
        "dev",
        "mandatory",
        edit(
            FIREWALL,
            None,
            set_path("allows", value=[{"protocol": "tcp", "ports": ["22"]}]),
        ),
        "an INGRESS rule that allows traffic must not take 0.0.0.0/0",
        {},
    ),
    (
        "firewall-no-world-ingress",
        "prod",
        "mandatory",
        edit(FIREWALL, "astro-gpu-prod-kueue-webhook-firewall", set_path("sourceRanges", value=[])),
        "an INGRESS rule that allows traffic must name its sources",
        {},
    ),
    (
        "firewall-logging",
        "dev",
        "mandatory",
        edit(FIREWALL, None, set_path("logConfig", value=DELETE)),
        "firewall rule logging must be on",
        {},
    ),
    (
        "network-explicit-deny-ingress",
        "dev",
        "mandatory",
        remove(FIREWALL),
        "network astro-gpu-dev has no explicit, logged deny-all INGRESS rule",
        {},
    ),
]
