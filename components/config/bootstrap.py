"""Typed config of the day-0 program (`bootstrap/`): `astro-gke-bootstrap:bootstrap` in
bootstrap/Pulumi.<stack>.yaml. Validated before any resource is registered; one ConfigError names
every bad key and its rule (as `components.config.load` does for the main stack)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from components.config._base import (
    KMS_KEY,
    KMS_KEY_RULE,
    SA_ACCOUNT_ID_RULE,
    AccountId,
    ConfigError,
    ProjectId,
    _check_gcp_labels,
    _matching,
    _Model,
)

BOOTSTRAP_KEY = "bootstrap"

REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
REPOSITORY_RULE = "<owner>/<name> as GitHub spells it"
REPOSITORY_ID = re.compile(r"^[1-9][0-9]{0,19}$")
REPOSITORY_ID_RULE = (
    "the repository's numeric id (`gh api repos/<owner>/<name> --jq .id`), a string of digits"
)
# Cloud Storage bucket names (https://cloud.google.com/storage/docs/buckets#naming), no dots: a
# dotted name needs domain verification.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")
BUCKET_RULE = "3-63 characters: lowercase letters, digits, '-', '_'; starts and ends alphanumeric"
# Workload Identity pool and provider ids: 4-32 of [a-z0-9-], not starting with `gcp-`
# (https://cloud.google.com/iam/docs/manage-workload-identity-pools-providers).
POOL_ID = re.compile(r"^(?!gcp-)[a-z0-9-]{4,32}$")
POOL_ID_RULE = "4-32 characters: lowercase letters, digits, hyphens; may not start with 'gcp-'"
KMS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
KMS_NAME_RULE = "1-63 characters: letters, digits, '_', '-'"
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
STACK_NAME_RULE = "a main stack name: a Pulumi.<stack>.yaml beside bootstrap/"
# A person or a Google group, in IAM's member syntax (Google, "Principal identifiers":
# https://cloud.google.com/iam/docs/principal-identifiers). Nothing else: a service account would
# chain impersonation, and `domain:`, `allUsers`, `allAuthenticatedUsers`, `principalSet://` or a
# wildcard would hand the deploy identity to people nobody named.
PERSON = re.compile(r"^(?:user|group):[a-z0-9._%+'-]+@(?:[a-z0-9-]+\.)+[a-z]{2,63}$")
PERSON_RULE = (
    "`user:<email>` or `group:<email>` of a named person or Google group, in lowercase: no "
    "service accounts "
    "(`serviceAccount:` or `*.gserviceaccount.com`), no `domain:`, `allUsers`, "
    "`allAuthenticatedUsers`, principal sets or wildcards"
)
SERVICE_ACCOUNT_DOMAIN = ".gserviceaccount.com"

BucketName = Annotated[str, _matching(BUCKET, BUCKET_RULE)]
PoolId = Annotated[str, _matching(POOL_ID, POOL_ID_RULE)]
KmsName = Annotated[str, _matching(KMS_NAME, KMS_NAME_RULE)]


class GitHubConfig(_Model):
    repository: Annotated[str, _matching(REPOSITORY, REPOSITORY_RULE)] = Field(
        description="The repository whose workflows deploy (`<owner>/<name>`)."
    )
    repository_id: Annotated[str, _matching(REPOSITORY_ID, REPOSITORY_ID_RULE)] = Field(
        description="Its immutable numeric id: a re-registered name does not match it."
    )
    production_environment: str = Field(
        default="production",
        description=(
            "The protected GitHub environment whose jobs may deploy from any ref its protection "
            "rules allow (deploy.yml's prod job). Configure required reviewers on it."
        ),
    )


class StateBucketConfig(_Model):
    name: BucketName = Field(description="Cloud Storage bucket for Pulumi state (`gs://<name>`).")
    location: str = Field(
        default="US", description="Bucket location (a region, dual-region or multi-region)."
    )
    soft_delete_days: int = Field(
        default=30,
        ge=7,
        le=90,
        description=(
            "Soft-delete retention: deleted or overwritten state stays restorable this long "
            "(Cloud Storage allows 7-90 days)."
        ),
    )
    kms_key: str | None = Field(
        default=None,
        description=(
            "Optional CMEK for the bucket (`projects/.../cryptoKeys/<k>`, in the bucket's "
            "location); the Cloud Storage service agent gets encrypter/decrypter on it only."
        ),
    )

    @field_validator("kms_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None and not KMS_KEY.match(v):
            raise ValueError(f"must be {KMS_KEY_RULE}")
        return v


class SecretsKeyConfig(_Model):
    location: str = Field(default="global", description="Cloud KMS location of the key ring.")
    key_ring: KmsName = Field(default="pulumi", description="Key ring id.")
    key: KmsName = Field(default="state", description="Key id (`gcpkms://` secrets provider).")
    rotation_days: int = Field(
        default=90,
        ge=1,
        le=36500,
        description="Automatic rotation period (Cloud KMS: at least one day).",
    )


class IdentitiesConfig(_Model):
    pool_id: PoolId = Field(default="github", description="Workload Identity pool id.")
    provider_id: PoolId = Field(default="github-actions", description="OIDC provider id.")
    deploy_account_id: AccountId = Field(
        default="pulumi-deploy", description="Service account that runs `pulumi up` in CI."
    )
    preview_account_id: AccountId = Field(
        default="pulumi-preview", description="Service account that runs `pulumi preview` on PRs."
    )
    deploy_impersonators: list[str] = Field(
        default_factory=list,
        description=(
            "People (`user:<email>`) or Google groups (`group:<email>`) who may run `pulumi up` "
            "without CI, as the deploy identity: each gets Token Creator on that one service "
            "account only (docs/deploying.md). Empty: only CI can become it."
        ),
    )

    @field_validator("deploy_impersonators")
    @classmethod
    def _people(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if not PERSON.match(m) or m.endswith(SERVICE_ACCOUNT_DOMAIN)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: each must be {PERSON_RULE}")
        if len(set(v)) != len(v):
            raise ValueError("each member may be listed once")
        return v

    @field_validator("preview_account_id")
    @classmethod
    def _distinct(cls, v: str, info: Any) -> str:
        if v == info.data.get("deploy_account_id"):
            raise ValueError(f"must differ from deploy_account_id ({SA_ACCOUNT_ID_RULE})")
        return v


class BootstrapConfig(_Model):
    project_id: ProjectId = Field(
        description=(
            "Project that holds the pool, the two identities, the state bucket and the key "
            "(a dedicated CI project, or one of the stacks' projects)."
        )
    )
    stacks: list[Annotated[str, _matching(STACK_NAME, STACK_NAME_RULE)]] = Field(
        min_length=1,
        description=(
            "Main stacks CI deploys (their Pulumi.<stack>.yaml is read): the deploy identity's "
            "role and bounded bindings go into each stack's project."
        ),
    )
    github: GitHubConfig = Field(description="The repository CI runs in (pinned by id and name).")
    state_bucket: StateBucketConfig = Field(description="Pulumi's self-managed state backend.")
    secrets_key: SecretsKeyConfig = Field(
        default_factory=SecretsKeyConfig,
        description="Cloud KMS key of the main stacks' `gcpkms://` secrets provider.",
    )
    identities: IdentitiesConfig = Field(
        default_factory=IdentitiesConfig,
        description="Ids of the Workload Identity pool, provider and the two CI service accounts.",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="GCP labels on the bucket.")

    @field_validator("stacks")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("stacks must be unique")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        _check_gcp_labels(v)
        return v

    @property
    def all_labels(self) -> dict[str, str]:
        return {**self.labels, "managed-by": "pulumi", "purpose": "pulumi-state"}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def load_bootstrap(raw: Any, key: str = BOOTSTRAP_KEY) -> BootstrapConfig:
    """Validate the raw object; one ConfigError listing every problem."""
    if not isinstance(raw, Mapping):
        raise ConfigError([("(root)", f"must be an object, got {type(raw).__name__}")], key)
    try:
        return BootstrapConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [
            (_path(e["loc"]), str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()
        ]
        raise ConfigError(problems, key) from None
