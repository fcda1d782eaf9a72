"""What the Airflow access path tests share, hosted and Remote Execution alike (what only the
remote tests need is in tests/remote_common.py): resource types, the exact identities and rules
they expect, and helpers that read a deployment's grants, namespaced objects and payload."""

from __future__ import annotations

import json
import re
from typing import Any

from offline import runner
from tests.conftest import PROJECT_IAM

SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"

ASTRO_DEV = "astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com"
LAUNCHER_DEV = "analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"
ASTRO_TRAINING = "astro-ml-training@astro-tenant-4821.iam.gserviceaccount.com"
LAUNCHER_TRAINING = "ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"
ASTRO_REPORTING = "astro-reporting@astro-tenant-4821.iam.gserviceaccount.com"
BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
WI_POOL = (
    "principal://iam.googleapis.com/projects/123456789012/locations/global/"
    "workloadIdentityPools/acme-ml-prod.svc.id.goog/subject"
)
BATCH_WORKER = f"{WI_POOL}/ns/astro-agent-batch/sa/astro-agent-worker"
BATCH_TRIGGERER = f"{WI_POOL}/ns/astro-agent-batch/sa/astro-agent-triggerer"

CORE_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["create", "delete", "get", "list", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


def grants(run: runner.Run, member: str) -> set[tuple[str, str, str]]:
    """Every IAM grant to `member` (`serviceAccount:...` or a principal): (resource type, what it
    is on, role)."""
    found = set()
    for r in run.registrations:
        if r.inputs.get("member") != member:
            continue
        target = (
            r.inputs.get("project")
            if r.type == PROJECT_IAM
            else r.inputs.get("serviceAccountId")
            or r.inputs.get("secretId")
            or r.inputs.get("bucket")
            or r.inputs.get("cryptoKeyId")
        )
        found.add((r.type, str(target), r.inputs["role"]))
    return found


def grants_to(run: runner.Run, email: str) -> set[tuple[str, str, str]]:
    """Every IAM grant to the service account `email`."""
    return grants(run, f"serviceAccount:{email}")


def in_namespace(run: runner.Run, type_: str, namespace: str) -> runner.Registration:
    found = [r for r in run.of_type(type_) if r.inputs["metadata"].get("namespace") == namespace]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def payload(run: runner.Run, deployment: str) -> dict[str, Any]:
    """The connection secret's payload of `deployment`, hosted or remote (exactly one version)."""
    name = re.compile(rf"-{re.escape(deployment)}(-remote)?-connection-v$")
    (version,) = [r for r in run.of_type(SECRET_VERSION) if name.search(r.name)]
    return dict(json.loads(version.inputs["secretData"]))
