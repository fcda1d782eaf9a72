"""The pack's servicer sets the Pulumi runtime up for each request as the SDK's does (grpc runs every
call in a fresh context), from the environment the engine starts the pack with, but parses the
stack's config (PULUMI_CONFIG) once instead of on every request
(policies/astro_gke_policies/dispatch.py `_configure_runtime_settings`)."""

from __future__ import annotations

import contextvars
import json
from typing import Any

import pulumi
import pulumi.runtime
import pytest
from astro_gke_policies import pack as pack_module
from astro_gke_policies.dispatch import VERSION
from pulumi.runtime import config as runtime_config
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

PLATFORM = {"project_id": "acme-ml-dev", "deployments": [{"name": "batch", "namespace": "b"}]}


def _engine_env(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]) -> None:
    """What pulumi's analyzer_plugin.go `constructEnv` gives a policy pack process."""
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv("PULUMI_ORGANIZATION", "acme")
    monkeypatch.setenv("PULUMI_PROJECT", "astro-gke-gpu")
    monkeypatch.setenv("PULUMI_STACK", "dev")
    monkeypatch.setenv("PULUMI_DRY_RUN", "true")


def _runtime_after(servicer: Any) -> dict[str, Any]:
    """What a policy would see of the runtime after the servicer's set-up, in a fresh context (as
    grpc gives each call)."""

    def run() -> dict[str, Any]:
        servicer._configure_runtime_settings()
        return {
            "project": pulumi.get_project(),
            "stack": pulumi.get_stack(),
            "organization": pulumi.get_organization(),
            "dry_run": pulumi.runtime.is_dry_run(),
            "platform": pulumi.Config("astro-gke-gpu").get_object("platform"),
            "region": pulumi.Config("gcp").get("region"),
        }

    return contextvars.Context().run(run)


def _servicers() -> tuple[Any, Any]:
    stock = _PolicyAnalyzerServicer(
        pack_module.PACK_NAME, VERSION, pack_module.all_policies(), EnforcementLevel.MANDATORY
    )
    return stock, pack_module.servicer()


def test_the_runtime_a_policy_sees_is_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine_env(
        monkeypatch,
        {"astro-gke-gpu:platform": json.dumps(PLATFORM), "gcp:region": "us-central1"},
    )
    stock, ours = _servicers()
    want = _runtime_after(stock)
    assert want == {
        "project": "astro-gke-gpu",
        "stack": "dev",
        "organization": "acme",
        "dry_run": True,
        "platform": PLATFORM,
        "region": "us-central1",
    }
    assert [_runtime_after(ours) for _ in range(3)] == [want] * 3
    # A new config (a new process in practice) is read, not the cached one.
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"gcp:region": "europe-west4"}))
    assert _runtime_after(ours)["region"] == _runtime_after(stock)["region"] == "europe-west4"


@pytest.mark.parametrize(
    ("config", "parses"),
    [
        ({"astro-gke-gpu:platform": json.dumps(PLATFORM)}, 1),
        # Not what the engine sends (its values are strings), but a policy could change a
        # parsed object: then every request parses afresh, as the SDK does.
        ({"gcp:zones": ["us-central1-a", "us-central1-b"]}, 4),
    ],
)
def test_the_config_is_parsed_once(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], parses: int
) -> None:
    _engine_env(monkeypatch, config)
    calls = []
    real = runtime_config.get_config_env

    def counted() -> dict[str, Any]:
        calls.append(1)
        return real()

    monkeypatch.setattr(pulumi.runtime, "get_config_env", counted)
    ours = pack_module.servicer()
    for _ in range(4):
        _runtime_after(ours)
    assert len(calls) == parses
