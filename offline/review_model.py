"""The change review's data: what changes, per resource and per property, and the review of a
whole stack (offline/review.py computes it, offline/review_render.py shows it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from offline.forcenew import Path
from offline.review_paths import render_path

OPS = ("create", "update", "replace", "delete")
CREATE_BEFORE_DELETE = "create-before-delete"
DELETE_BEFORE_REPLACE = "delete-before-replace"
PROVIDER = "(provider)"  # pseudo-path: replaced because its provider is replaced

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
GPU_POOL = "astro-gke-gpu:gke:GpuNodePool"
DEPLOYMENT = "astro-gke-gpu:airflow:DeploymentAccess"
# The main stack creates no service account (the bootstrap does, docs/day0.md): one in a base's
# registrations that the new program no longer declares is deleted by the next `up` unless the
# state is migrated first, and nodes or Astro run as it.
ACCOUNT = "gcp:serviceaccount/account:Account"
# Nor a custom role (the bootstrap creates them): one the new program stops declaring is deleted,
# and every grant of it with it, unless the state is migrated first (docs/day0.md).
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
DEPLOYMENT_PARTS = {
    "gcp:secretmanager/secret:Secret": "connection secret",
    "kubernetes:core/v1:Namespace": "namespace",
}
# A Remote Execution agent in this cluster lives in these: replacing one breaks the running agent
# (its namespace and Helm release, the service accounts its pods run as and Workload Identity
# names, the bucket holding its XComs).
REMOTE_AGENT = "astro-gke-gpu:airflow:RemoteAgent"
AGENT_PARTS = {
    "kubernetes:core/v1:Namespace": "agent namespace",
    "kubernetes:core/v1:ServiceAccount": "agent service account",
    "gcp:storage/bucket:Bucket": "XCom bucket",
}
SECRET = "[secret]"


@dataclass
class PropertyChange:
    path: Path
    old: Any
    new: Any
    secret: bool
    replaces: bool
    unknown: bool = False  # only known after apply: it comes from a resource being replaced
    cause: str = ""  # the URN it comes from, when unknown
    note: str = ""

    @property
    def rendered(self) -> str:
        return render_path(self.path)


@dataclass
class Change:
    urn: str
    type: str
    name: str
    op: str
    custom: bool = True
    changes: list[PropertyChange] = field(default_factory=list)
    caused_by: list[str] = field(default_factory=list)
    replacement: str | None = None
    notes: list[str] = field(default_factory=list)
    hurts: str = ""
    provider_replaced: bool = False  # its provider resource is replaced (or differs)

    @property
    def properties(self) -> list[str]:
        """replace: the properties that force it; update: the changed ones."""
        chosen = [c for c in self.changes if c.replaces] if self.op == "replace" else self.changes
        paths = {c.rendered for c in chosen}
        if self.op == "replace" and self.provider_replaced:
            paths.add(PROVIDER)
        return sorted(paths)


@dataclass
class Review:
    base: str
    commit: str
    stack: str
    prod: bool
    changes: list[Change]
    allowed: frozenset[str] = frozenset()
    note: str = ""
    # Custom roles that change: each needs an owner's bootstrap `pulumi up` (review_roles.py).
    owner_steps: list[str] = field(default_factory=list)

    @property
    def hurting(self) -> list[Change]:
        return [c for c in self.changes if c.hurts]

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.hurting if c.urn not in self.allowed] if self.prod else []

    @property
    def unmatched_allowed(self) -> list[str]:
        return sorted(self.allowed - {c.urn for c in self.hurting})

    def counts(self) -> dict[str, int]:
        return {op: sum(c.op == op for c in self.changes) for op in OPS}
