"""Violation cases for policies/astro_gke_policies/secrets.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.policy_pack.mutations import (
    Case,
    edit,
    set_path,
)


def _secret_payload(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(wire: dict[str, Any]) -> None:
        holder = wire["secretData"]
        text = holder["value"] if isinstance(holder, dict) else holder
        payload = json.loads(text)
        change(payload)
        wire["secretData"] = json.dumps(payload)

    return apply


def _add_token(payload: dict[str, Any]) -> None:
    payload["extra"]["kube_config"]["users"][0]["user"]["token"] = "ya29.static-token"


CASES: list[Case] = [
    (
        "secret-kubeconfig-no-static-credentials",
        "dev",
        "mandatory",
        edit("secretmanager/secretVersion:SecretVersion", None, _secret_payload(_add_token)),
        "holds static credentials (token)",
        {},
    ),
    (
        "secret-labels",
        "dev",
        "advisory",
        edit("secretmanager/secret:Secret", None, set_path("labels", value={})),
        "no labels",
        {},
    ),
    (
        "secret-no-public-access",
        "dev",
        "mandatory",
        edit(
            "secretmanager/secretIamMember:SecretIamMember",
            None,
            set_path("member", value="allUsers"),
        ),
        "allUsers could read this secret",
        {},
    ),
    (
        "secret-kubeconfig-no-static-credentials",
        "prod",
        "mandatory",
        edit(
            "secretmanager/secretVersion:SecretVersion",
            "astro-gpu-prod-batch-remote-connection-v",
            _secret_payload(lambda p: p["extra"].update(kube_config={"users": []})),
        ),
        "sets both in_cluster and kube_config",
        {},
    ),
]
