"""Where connection secrets are stored: the stack's Secret Manager settings, or a deployment's
own existing secrets backend."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from components.config._base import (
    KMS_KEY,
    KMS_KEY_RULE,
    ProjectId,
    _Model,
)
from components.config.names import (
    SaEmail,
)
from components.gke import catalog


class ExistingSecretsBackendConfig(_Model):
    """The deployment already reads its own connections from a CloudSecretManagerBackend: keep it.
    The stack writes its connection where that backend looks (this project, the deployment's
    `connections_prefix` and `sep`), lets the backend's identity read that one secret, and exports
    no secrets-backend setting."""

    project_id: ProjectId | None = Field(
        default=None,
        description="The backend's `project_id`; default: the stack's project.",
    )
    reader: SaEmail | None = Field(
        default=None,
        description=(
            "The identity the backend reads with (the end of its `impersonation_chain`, if any); "
            "default: the deployment's own identity (the Astro identity, the external agent's "
            "service account, or the in-cluster agent's service accounts)."
        ),
    )


class SecretManagerConfig(_Model):
    """Where the connection secrets are stored. CMEK key locations follow the Secret Manager API
    (CustomerManagedEncryption.kms_key_name): `global` for automatic replication, the replica's
    location for user-managed replication."""

    replication: Literal["automatic", "user_managed"] = Field(
        default="automatic", description="Secret Manager replication policy."
    )
    locations: list[str] = Field(
        default_factory=list, description="Replica regions; required with `user_managed`."
    )
    kms_keys: list[str] = Field(
        default_factory=list,
        description=(
            "Optional CMEK: one key in `global` for automatic replication, or one key per replica "
            "region for user_managed. The Secret Manager service agent gets encrypter/decrypter on each."
        ),
    )

    @field_validator("locations")
    @classmethod
    def _locations(cls, v: list[str], info: ValidationInfo) -> list[str]:
        mode = info.data.get("replication")
        if mode == "user_managed" and not v:
            raise ValueError("required (at least one region) with replication 'user_managed'")
        if mode == "automatic" and v:
            raise ValueError("only used with replication 'user_managed'")
        unknown = [loc for loc in v if loc not in catalog.REGIONS]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a known GCP region")
        if len(set(v)) != len(v):
            raise ValueError("locations must be unique")
        return v

    @field_validator("kms_keys")
    @classmethod
    def _keys(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if not v:
            return v
        bad = [k for k in v if not KMS_KEY.match(k)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: must be {KMS_KEY_RULE}")
        key_locations = sorted(k.split("/")[3] for k in v)
        if info.data.get("replication") == "automatic":
            if key_locations != ["global"]:
                raise ValueError(
                    "automatic replication takes exactly one key, in location 'global'"
                )
        else:
            wanted = sorted(info.data.get("locations") or [])
            if key_locations != wanted:
                raise ValueError(f"user_managed replication needs one key per location {wanted}")
        return v

    def key_for(self, location: str) -> str | None:
        return next((k for k in self.kms_keys if k.split("/")[3] == location), None)
