"""Replaces only the Secret Manager call (`SecretManagerServiceClient.access_secret_version`), never
the backend: the real CloudSecretManagerBackend and its real client build the request and the
credentials; this answers it from the secrets the stack registered, and enforces the stack's
accessor grants the way Secret Manager would (PermissionDenied, which the backend turns into None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.api_core.exceptions import NotFound, PermissionDenied
from google.auth import impersonated_credentials
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.types import AccessSecretVersionResponse, SecretPayload


@dataclass
class FakeSecretManager:
    project_id: str
    secrets: dict[str, str]  # secret id -> payload
    readers: dict[str, str | set[str]]  # secret id -> IAM member(s) with secretAccessor
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
            readers = fake.readers.get(secret_id) or set()
            if principal not in ({readers} if isinstance(readers, str) else readers):
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
