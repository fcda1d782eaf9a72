"""Replaces only the Secret Manager call (`SecretManagerServiceClient.access_secret_version`), never
the backend: the real CloudSecretManagerBackend and its real client build the request and the
credentials; this answers it from the secrets the stack registered, and enforces the stack's
accessor grants the way Secret Manager would (PermissionDenied, which the backend turns into None).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api_core.exceptions import NotFound, PermissionDenied
from google.auth import impersonated_credentials
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.types import AccessSecretVersionResponse, SecretPayload

ACCESSOR = "roles/secretmanager.secretAccessor"


def accessors(grants: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Who may read each secret, from the stack's secret grants (`offline.export`
    secret_iam_members)."""
    readers: dict[str, set[str]] = {}
    for grant in grants:
        if grant["role"] == ACCESSOR:
            readers.setdefault(grant["secretId"], set()).add(grant["member"])
    return readers


def made_up_adc(path: Path) -> Path:
    """Application Default Credentials that load without a network: an authorized_user file with
    made-up values (no key material). Nothing ever refreshes a token with them: only the Secret
    Manager call is replaced (FakeSecretManager), which takes them for `adc_identity`."""
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "contract-test.apps.example",
                "client_secret": "not-a-secret",
                "refresh_token": "not-a-token",
            }
        )
    )
    return path


@dataclass
class FakeSecretManager:
    project_id: str
    secrets: dict[str, str]  # secret id -> payload
    readers: dict[str, set[str]]  # secret id -> IAM members with secretAccessor (`accessors`)
    adc_identity: str  # who plain Application Default Credentials are (an email, or a member)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def principal(self, credentials: Any) -> str:
        """Who the call would be made as: the impersonated account, or a service account key's own
        identity, or else (user credentials) `adc_identity`. The credentials are not refreshed:
        google-auth's impersonated credentials call the real IAM Credentials host, which cannot be
        overridden from outside the backend (`iam_endpoint_override` is a constructor argument)."""
        email = getattr(credentials, "service_account_email", None)
        if isinstance(credentials, impersonated_credentials.Credentials) or email:
            return f"serviceAccount:{email}"
        if ":" in self.adc_identity:  # a member already, e.g. a Workload Identity principal://
            return self.adc_identity
        return f"serviceAccount:{self.adc_identity}"

    def install(self, monkeypatch: Any) -> FakeSecretManager:
        fake = self

        def access_secret_version(
            client: SecretManagerServiceClient, request: Any = None, **_: Any
        ) -> Any:
            name = request["name"] if isinstance(request, dict) else request.name
            principal = fake.principal(client._transport._credentials)
            fake.calls.append({"name": name, "principal": principal})
            _, project, _, secret_id, _, version = name.split("/")
            if project != fake.project_id or secret_id not in fake.secrets:
                raise NotFound(f"Secret [{name}] not found")
            if version != "latest":
                raise NotFound(f"version {version}")
            if principal not in fake.readers.get(secret_id, set()):
                raise PermissionDenied(
                    f"{principal} lacks secretmanager.versions.access on {secret_id}"
                )
            return AccessSecretVersionResponse(
                name=name, payload=SecretPayload(data=fake.secrets[secret_id].encode())
            )

        monkeypatch.setattr(
            SecretManagerServiceClient, "access_secret_version", access_secret_version
        )
        return self
