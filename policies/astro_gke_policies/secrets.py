"""Secret Manager policies for the Airflow connection secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from astro_gke_policies.define import ADVISORY, MANDATORY, Meta, of_type, resource_policy
from astro_gke_policies.iam import PUBLIC_MEMBERS
from astro_gke_policies.props import get, members

SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = (
    "gcp:secretmanager/secretIamMember:SecretIamMember",
    "gcp:secretmanager/secretIamBinding:SecretIamBinding",
)
# kubeconfig user fields that hold (or point at) a static credential
STATIC_USER_FIELDS = (
    "token",
    "tokenFile",
    "client-key",
    "client-key-data",
    "client-certificate",
    "client-certificate-data",
    "password",
    "username",
    "auth-provider",
)


def _json_object(text: Any) -> dict[str, Any] | None:
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _no_static_credentials(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    connection = _json_object(get(props, "secretData"))
    if connection is None or connection.get("conn_type") != "kubernetes":
        return  # not an Airflow kubernetes connection
    if connection.get("password"):
        yield "the connection carries a password."
    extra = _json_object(connection.get("extra")) or {}
    if extra.get("in_cluster") is True:
        # In-cluster: the hook loads the pod's own service account token; the secret holds none.
        if extra.get("kube_config") is not None:
            yield "the connection sets both in_cluster and kube_config, which the hook refuses."
        return
    kubeconfig = _json_object(extra.get("kube_config"))
    if kubeconfig is None:
        yield "the connection's kube_config is missing or not JSON, so it cannot be checked."
        return
    users = kubeconfig.get("users")
    for user in users if isinstance(users, list) else []:
        if not isinstance(user, dict):
            yield "kubeconfig users entry is not an object."
            continue
        found = user.get("user")
        entry: dict[str, Any] = found if isinstance(found, dict) else {}
        name = user.get("name", "?")
        found = [f for f in STATIC_USER_FIELDS if f in entry]
        if found:
            yield f"kubeconfig user {name} holds static credentials ({', '.join(found)}); use the exec plugin."
        if "exec" not in entry:
            yield f"kubeconfig user {name} has no exec plugin (gke-gcloud-auth-plugin)."


def _labels(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not get(props, "labels"):
        yield "the secret carries no labels (owner, deployment, purpose)."


def _no_public_access(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for member in members(props):
        if member in PUBLIC_MEMBERS:
            yield f"{member} could read this secret."


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy(
            Meta(
                "secret-kubeconfig-no-static-credentials",
                "Kubeconfig secrets authenticate with the exec plugin only: no token, client key or password.",
                MANDATORY,
            ),
            of_type(SECRET_VERSION),
            _no_static_credentials,
        ),
        resource_policy(
            Meta("secret-labels", "Secrets carry labels.", ADVISORY), of_type(SECRET), _labels
        ),
        resource_policy(
            Meta(
                "secret-no-public-access",
                "No secret is readable by allUsers or allAuthenticatedUsers.",
                MANDATORY,
            ),
            of_type(*SECRET_IAM),
            _no_public_access,
        ),
    ]
