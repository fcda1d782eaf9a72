"""Names and identities a deployment's settings use: deployment names, namespaces (and the ones
reserved for the system), service-account emails, connection ids, Kubernetes quantities and
service account names, each with the rule its error message states."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from components.config._base import (
    _matching,
)

DEPLOYMENT_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,24}[a-z0-9])?$")
DEPLOYMENT_NAME_RULE = "1-26 characters: lowercase letters, digits, hyphens; starts with a letter"
NAMESPACE = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
NAMESPACE_RULE = "DNS-1123 label: at most 63 lowercase letters, digits, hyphens"
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
RESERVED_NAMESPACE_PREFIXES = (
    "kube-",
    "gke-",
    "gmp-",
    "gatekeeper-",
    "istio-",
    "config-management-",
)
SA_EMAIL = re.compile(
    r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$"
)
SA_EMAIL_RULE = "a service-account email: <account>@<project>.iam.gserviceaccount.com"
# CloudSecretManagerBackend's SECRET_ID_PATTERN (providers/google/cloud/secrets/secret_manager.py)
SECRET_ID = re.compile(r"^[a-zA-Z0-9-_]*$")
CONN_ID = re.compile(r"^[a-zA-Z0-9_-]{1,200}$")
CONN_ID_RULE = "letters, digits, '_' and '-' (the secrets backend's secret-id pattern)"
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")
QUANTITY_RULE = "a Kubernetes quantity such as 500m, 2, 512Mi, 4Gi"
# Airflow keeps a pool name in `slot_pool.pool` (String(256)) and the REST API's PoolBody takes at most
# 256 characters; the DAG helper and the handoff pass it around unquoted, so keep it plain.
AIRFLOW_POOL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}$")
AIRFLOW_POOL_RULE = "1-256 letters, digits, '_', '.', '-' (an Airflow pool name)"

# Kubernetes service account names are DNS-1123 subdomains; a label (no dots) keeps the Workload
# Identity principal `.../subject/ns/<ns>/sa/<ksa>` and the RBAC subject unambiguous.
KSA_NAME = NAMESPACE
KSA_NAME_RULE = (
    "Kubernetes service account name: DNS-1123 label, at most 63 lowercase letters, digits, hyphens"
)

Quantity = Annotated[str, _matching(QUANTITY, QUANTITY_RULE)]
SaEmail = Annotated[str, _matching(SA_EMAIL, SA_EMAIL_RULE)]
KsaName = Annotated[str, _matching(KSA_NAME, KSA_NAME_RULE)]

LaunchMode = Literal["impersonation", "adc", "in_cluster"]


def _check_namespace(v: str) -> str:
    if not NAMESPACE.match(v):
        raise ValueError(NAMESPACE_RULE)
    if v in RESERVED_NAMESPACES or v.startswith(RESERVED_NAMESPACE_PREFIXES):
        raise ValueError(f"{v} is reserved for the system; pick a namespace of your own")
    return v
