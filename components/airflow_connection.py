"""What Airflow reads: the connection JSON stored in Secret Manager, and the secrets-backend
settings an Astro deployment needs to find it.

Checked against apache-airflow-providers-google (secrets/secret_manager.py) and
apache-airflow-providers-cncf-kubernetes (hooks/kubernetes.py):
- the backend reads secret `{connections_prefix}{sep}{conn_id}`, version `latest`; a value that
  starts with `{` is parsed by `Connection.from_json` (no `conn_id` inside);
- a `null` variables/config prefix means those lookups never reach Secret Manager;
- the hook takes `kube_config` as a dict (it json-dumps it), `namespace`, and `in_cluster`.
"""

from __future__ import annotations

import json
from typing import Any

from components.config import AirflowDeploymentConfig

BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"


def connection_json(kubeconfig: dict[str, Any], namespace: str) -> str:
    return json.dumps(
        {
            "conn_type": "kubernetes",
            "description": "GKE GPU cluster for KubernetesPodOperator (managed by Pulumi)",
            "extra": {"kube_config": kubeconfig, "namespace": namespace, "in_cluster": False},
        },
        sort_keys=True,
    )


def backend_kwargs(
    project_id: str, deployment: AirflowDeploymentConfig, launcher_email: str | None
) -> str:
    """AIRFLOW__SECRETS__BACKEND_KWARGS. In impersonation mode the backend reads the secret as
    the launcher (the Astro identity may only mint the launcher's tokens)."""
    kwargs: dict[str, Any] = {
        "connections_prefix": deployment.connections_prefix,
        "variables_prefix": None,
        "config_prefix": None,
        "sep": deployment.sep,
        "project_id": project_id,
    }
    if deployment.auth_mode == "impersonation":
        if not launcher_email:
            raise ValueError("impersonation mode needs the launcher's email")
        kwargs["impersonation_chain"] = launcher_email
    return json.dumps(kwargs, sort_keys=True)
