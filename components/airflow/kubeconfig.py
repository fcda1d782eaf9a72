"""Kubeconfigs, built as data structures (never templates).

Authentication is always the `gke-gcloud-auth-plugin` exec plugin: no token, password or client
key is ever written. Facts relied on (checked against the installed sources):
- The plugin answers `client.authentication.k8s.io/v1beta1`; the Python clients reject a mismatch.
- `provideClusterInfo: false`: the Python client cannot pass cluster info (kubernetes-client/python#2334).
- GKE's `masterAuth.clusterCaCertificate` is already base64: it goes into
  `certificate-authority-data` unchanged.
- The DNS-based endpoint presents a publicly trusted certificate: `gcloud container clusters
  get-credentials --dns-endpoint` writes no `certificate-authority-data` (googlecloudsdk
  api_lib/container/kubeconfig.py, `Cluster(..., has_dns_endpoint=True)`), and pinning the cluster
  CA there would make TLS verification fail. The CA is pinned only for the IP endpoint.
"""

from __future__ import annotations

from typing import Any, Literal

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
PLUGIN = "gke-gcloud-auth-plugin"
INSTALL_HINT = (
    "gke-gcloud-auth-plugin is required to authenticate to this GKE cluster. Install it with "
    "`gcloud components install gke-gcloud-auth-plugin` or the OS package "
    "google-cloud-cli-gke-gcloud-auth-plugin in the Airflow (Astro Runtime) image."
)

AuthMode = Literal["impersonation", "adc", "deployer"]


def exec_args(mode: AuthMode, impersonate: str | None = None) -> list[str]:
    """Plugin arguments per mode.

    impersonation: gcloud mints a token for the launcher (the caller needs Token Creator on it).
    adc / deployer: Application Default Credentials (no gcloud needed; the identity itself is used).
    """
    if mode == "impersonation":
        if not impersonate:
            raise ValueError("impersonation needs the service account to impersonate")
        return ["--impersonate_service_account", impersonate]
    return ["--use_application_default_credentials"]


def build(
    *,
    cluster_name: str,
    server_host: str,
    ca_certificate: str | None,
    mode: AuthMode,
    impersonate: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig for one cluster, one user, one context. `ca_certificate` is GKE's base64 CA,
    or None for the DNS endpoint (publicly trusted certificate)."""
    cluster: dict[str, Any] = {"server": f"https://{server_host}"}
    if ca_certificate is not None:
        cluster["certificate-authority-data"] = ca_certificate
    context: dict[str, Any] = {"cluster": cluster_name, "user": cluster_name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_VERSION,
                        "command": PLUGIN,
                        "args": exec_args(mode, impersonate),
                        "installHint": INSTALL_HINT,
                        "provideClusterInfo": False,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": cluster_name, "context": context}],
        "current-context": cluster_name,
    }
