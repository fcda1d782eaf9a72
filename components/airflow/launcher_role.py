"""The one project-level permission set launchers get: authenticate to the cluster, nothing more.

IAM cannot be scoped to a namespace (a grant applies to every namespace of every cluster in the
project), so nothing pod-related is granted here: pods, logs, events and exec live in each
deployment's namespaced Role. `container.clusters.get` is what GKE requires to authenticate a
Google identity; `container.clusters.connect` is what the DNS-based endpoint checks.

The role itself is created by the bootstrap (components/custom_roles.py,
components/day0/stack_roles.py); the main stack grants it by name and creates no custom role.
"""

from __future__ import annotations


def role_id(cluster_name: str) -> str:
    """Role ids cannot be reused for days after deletion: a stable one, derived from the cluster."""
    return "astroKpoLauncher_" + cluster_name.replace("-", "_")


def permissions(dns_endpoint: bool) -> list[str]:
    return ["container.clusters.get", *(["container.clusters.connect"] if dns_endpoint else [])]
