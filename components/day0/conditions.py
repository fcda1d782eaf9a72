"""IAM condition expressions (CEL) for the deploy identity's project bindings, and the GitHub
Workload Identity provider's attribute mapping and condition. Pure functions of the stack's scope:
tests/test_day0_conditions.py evaluates them with a real CEL implementation (cel-python) plus the
two IAM extensions they use (`api.getAttribute`, `hasOnly`).

One custom role, several bindings, each with a condition (a principal gets the union):
- `stack`: everything except the resource types below, and project IAM changes limited to the
  stack's own project roles: Google's "limit the roles a principal can grant"
  (https://cloud.google.com/iam/docs/setting-limits-on-granting-roles) via
  `api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([...])`. Requests that
  change no grant see an empty list, which `hasOnly` admits.
- `buckets`, `secrets`, `keys`: the same role, only on the stack's own buckets, secrets (and their
  versions) and the CMEK keys its config names (each also carries the roles limit: the role holds
  project setIamPolicy, and no binding of it may lack the limit), by `resource.type` and `resource.name`: Cloud
  Storage, Secret Manager and Cloud KMS are on Google's list of services that honour resource
  attributes (https://cloud.google.com/iam/docs/conditions-resource-attributes). Names: buckets
  `projects/_/buckets/<bucket>`, secrets `projects/<project number>/secrets/<id>[/versions/<v>]`,
  keys `projects/<project>/locations/<l>/keyRings/<r>/cryptoKeys/<k>` (same page).
IAM Conditions allow at most 12 logical operators per expression
(https://cloud.google.com/iam/docs/conditions-overview#limitations): secrets are chunked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

BUCKET = "storage.googleapis.com/Bucket"
SECRET = "secretmanager.googleapis.com/Secret"
SECRET_VERSION = "secretmanager.googleapis.com/SecretVersion"
CRYPTO_KEY = "cloudkms.googleapis.com/CryptoKey"
BOUNDED_TYPES = (BUCKET, SECRET, SECRET_VERSION, CRYPTO_KEY)
MAX_LOGICAL_OPERATORS = 12
# 2 operators per secret, joined by ||, then two &&: 5 * 2 - 1 + 2 = 11
SECRETS_PER_BINDING = 5


def _list(values: Sequence[str]) -> str:
    return json.dumps(list(values)).replace('"', "'")


def grantable_roles(roles: Sequence[str]) -> str:
    return (
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
        f".hasOnly({_list(sorted(roles))})"
    )


@dataclass(frozen=True)
class Condition:
    title: str
    description: str
    expression: str


def stack_condition(roles: Sequence[str]) -> Condition:
    return Condition(
        "stack resources, own roles only",
        "Everything but buckets, secrets and keys; project IAM: only the stack's own roles.",
        f"!(resource.type in {_list(BOUNDED_TYPES)}) && {grantable_roles(roles)}",
    )


def bucket_condition(buckets: Sequence[str], roles: Sequence[str]) -> Condition:
    names = [f"projects/_/buckets/{b}" for b in sorted(buckets)]
    return Condition(
        "stack buckets only",
        "The stack's XCom buckets.",
        f"resource.type == '{BUCKET}' && resource.name in {_list(names)}"
        f" && {grantable_roles(roles)}",
    )


def secret_conditions(
    project_number: str, secret_ids: Sequence[str], roles: Sequence[str]
) -> list[Condition]:
    ids = sorted(secret_ids)
    out = []
    for i in range(0, len(ids), SECRETS_PER_BINDING):
        chunk = ids[i : i + SECRETS_PER_BINDING]
        names = [f"projects/{project_number}/secrets/{s}" for s in chunk]
        either = " || ".join(
            f"resource.name == '{n}' || resource.name.startsWith('{n}/')" for n in names
        )
        out.append(
            Condition(
                f"stack secrets only ({i // SECRETS_PER_BINDING + 1})",
                "The stack's Airflow connection secrets and their versions.",
                f"resource.type in {_list([SECRET, SECRET_VERSION])} && ({either})"
                f" && {grantable_roles(roles)}",
            )
        )
    return out


def key_condition(keys: Sequence[str], roles: Sequence[str]) -> Condition:
    return Condition(
        "named CMEK keys only",
        "The Cloud KMS keys the stack config names (the stack grants service agents on them).",
        f"resource.type == '{CRYPTO_KEY}' && resource.name in {_list(sorted(keys))}"
        f" && {grantable_roles(roles)}",
    )


def logical_operators(expression: str) -> int:
    return expression.count("&&") + expression.count("||") + expression.count("!(")


# --- GitHub Actions -> Workload Identity Federation ----------------------------------------------
# Claims: https://docs.github.com/en/actions/reference/security/oidc (repository, repository_id,
# ref, event_name, environment — absent when the job names no environment). Attribute mapping and
# condition are CEL over `assertion` (https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines).
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DEPLOY = "deploy"
PREVIEW = "preview"


def provider_condition(repository: str, repository_id: str) -> str:
    """Only tokens of this repository: its immutable id and its name (a deleted name can be
    registered again by someone else; an id cannot)."""
    return f"assertion.repository_id == '{repository_id}' && assertion.repository == '{repository}'"


def gate_mapping(production_environment: str) -> str:
    """`attribute.gate`: `deploy` for a push or manual run on main, or a job in the protected
    production environment; `preview` for a pull request; `none` otherwise."""
    return (
        f"(has(assertion.environment) && assertion.environment == '{production_environment}')"
        " || (assertion.ref == 'refs/heads/main'"
        " && assertion.event_name in ['push', 'workflow_dispatch'])"
        f" ? '{DEPLOY}' : (assertion.event_name == 'pull_request' ? '{PREVIEW}' : 'none')"
    )


def attribute_mapping(production_environment: str) -> dict[str, str]:
    return {
        "google.subject": "assertion.sub",
        "attribute.repository": "assertion.repository",
        "attribute.repository_id": "assertion.repository_id",
        "attribute.ref": "assertion.ref",
        "attribute.event_name": "assertion.event_name",
        "attribute.gate": gate_mapping(production_environment),
    }
