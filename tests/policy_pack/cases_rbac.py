"""Violation cases for policies/astro_gke_policies/rbac.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from tests.policy_pack.mutations import (
    ROLE,
    Case,
    edit,
    retype,
    set_path,
)

CASES: list[Case] = [
    (
        "rbac-no-cluster-scope",
        "dev",
        "mandatory",
        retype(ROLE, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"),
        "ClusterRole grants across every namespace",
        {},
    ),
    (
        "rbac-no-wildcards",
        "dev",
        "mandatory",
        edit(ROLE, None, lambda w: w["rules"][0].update(verbs=["*"])),
        "rules[0].verbs contains '*'",
        {},
    ),
    (
        "rbac-no-secrets",
        "dev",
        "mandatory",
        edit(
            ROLE,
            None,
            lambda w: w["rules"].append(
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
            ),
        ),
        "grants access to secrets",
        {},
    ),
    (
        "rbac-no-escalation",
        "dev",
        "mandatory",
        edit(ROLE, None, lambda w: w["rules"][0]["verbs"].append("bind")),
        "grants bind",
        {},
    ),
    (
        "rbac-exec-only-with-xcom",
        "dev",
        "mandatory",
        edit(
            ROLE,
            None,
            set_path("metadata", "annotations", "astro-gke-gpu/do-xcom-push", value="false"),
        ),
        "pods/exec is granted but the deployment does not use do_xcom_push",
        {},
    ),
]
