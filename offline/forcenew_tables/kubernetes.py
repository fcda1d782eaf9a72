"""Kubernetes objects and the Kubernetes provider resource (pulumi-kubernetes)."""

from __future__ import annotations

from typing import Any

import yaml

from offline.forcenew_tables.fields import UB, Field, R, U


# --- Kubernetes -----------------------------------------------------------------------------
# pulumi/pulumi-kubernetes provider/pkg/provider/diff.go @ 00302beb58ae08591f0c8b0b065871c50ba35250:
# `.metadata.name` and `.metadata.namespace` replace every kind; per kind also e.g. RoleBinding
# `.roleRef`, ResourceQuota `.spec.scopes`. Everything else is applied to the live object (an
# update). apiVersion and kind are part of the type token: a change is a different resource type,
# i.e. a different URN (delete + create), never an update of this one.
def k8s(**kind_fields: Field) -> dict[str, Field]:
    return {
        "apiVersion": U,
        "kind": U,
        "metadata": UB,
        "metadata.name": R,
        "metadata.namespace": R,
        "metadata.labels": U,
        "metadata.annotations": U,
        **{k.replace("__", "."): v for k, v in kind_fields.items()},
    }


def active_cluster(kubeconfig: Any) -> Any:
    """The cluster entry the kubeconfig's current context points at (None if it cannot tell)."""
    try:
        doc = yaml.safe_load(kubeconfig) if isinstance(kubeconfig, str) else kubeconfig
        current = doc["current-context"]
        context = next(c["context"] for c in doc["contexts"] if c["name"] == current)
        return next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
    except (TypeError, KeyError, StopIteration, yaml.YAMLError):
        return None


def _cluster_changes(old: Any, new: Any) -> bool:
    before, after = active_cluster(old), active_cluster(new)
    return before is not None and after is not None and before != after


# The kubernetes provider resource: pulumi/pulumi-kubernetes provider/pkg/provider/provider.go
# @ 010f5d8e95e3cc9a384442e8239310d51fdc052e, `DiffConfig`: a kubeconfig that changes but still
# points at the same active cluster is an update; a different active cluster, or a kubeconfig not
# known during preview (its cluster is being replaced), replaces the provider, and the engine then
# replaces every resource it manages (pulumi/pulumi pkg/resource/deploy/step_generator.go
# @ 1a16857a44f16e46a9dce29f184c511062a70f80, `providerChanged`).
K8S_PROVIDER: dict[str, Field] = {
    "kubeconfig": Field(
        False, when=_cluster_changes, note="replaced when the active cluster changes"
    ),
    "context": Field(False, when=_cluster_changes),
    "cluster": Field(False, when=_cluster_changes),
    "namespace": U,
    "enableServerSideApply": U,
    "clusterIdentifier": R,
}
