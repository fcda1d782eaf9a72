"""Cross-deployment GPU sharing with Kueue (kubernetes-sigs/kueue): one ClusterQueue per Airflow
deployment in one cohort, so a deployment's idle GPUs serve another and come back when it needs
them (docs/gpu-sharing.md)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from components.config._base import _matching, _Model

# The release the stack installs and the tests run (tools/kubebin/go.mod pins the same module).
KUEUE_VERSION = "v0.19.2"
QUEUE_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
QUEUE_NAME_RULE = "1-63 characters: lowercase letters, digits, hyphens (a DNS-1123 label)"
VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
VERSION_RULE = "a Kueue release tag, vMAJOR.MINOR.PATCH (e.g. v0.19.2)"

QueueName = Annotated[str, _matching(QUEUE_NAME, QUEUE_NAME_RULE)]


class KueueDeploymentConfig(_Model):
    """How one deployment's ClusterQueue borrows from and lends to the cohort, per GPU flavor."""

    borrowing_limit: int = Field(
        default=0,
        ge=0,
        le=10000,
        description=(
            "GPUs the deployment may borrow beyond its `gpu_quota` on each flavor (ClusterQueue "
            "`borrowingLimit`). Its namespace quota and Airflow pool grow by the same number, so "
            "a borrowing task is not refused by the quota first."
        ),
    )
    lending_limit: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description=(
            "GPUs of its `gpu_quota` other deployments may borrow (ClusterQueue `lendingLimit`); "
            "unset: all of them. At most `gpu_quota`."
        ),
    )
    fair_sharing_weight: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="ClusterQueue `fairSharing.weight`: its share of what the cohort lends.",
    )


class KueuePreemptionConfig(_Model):
    """ClusterQueue `preemption` (Kueue v1beta2 ClusterQueuePreemption)."""

    reclaim_within_cohort: Literal["Never", "LowerPriority", "Any"] = Field(
        default="Any",
        description=(
            "A deployment below its nominal quota may preempt tasks of deployments that borrow "
            "(`Any`: whatever their priority), so lent GPUs come back."
        ),
    )
    within_cluster_queue: Literal["Never", "LowerPriority", "LowerOrNewerEqualPriority"] = Field(
        default="LowerPriority",
        description=(
            "Within one deployment, only a higher-priority task preempts (`LowerPriority`): "
            "tasks of equal priority wait instead of killing each other."
        ),
    )


class ProvisioningRequestConfig(_Model):
    """Queued provisioning (GKE Dynamic Workload Scheduler) for flex-start pools through Kueue's
    ProvisioningRequest admission check (`queued-provisioning.gke.io`)."""

    pools: list[str] = Field(
        min_length=1,
        description=(
            "Flex-start GPU pools whose flavor gets the check; each pool is then created with "
            "`queued_provisioning` (GKE: nodes come only through ProvisioningRequests). Adding "
            "or removing a pool here replaces it (the field is ForceNew)."
        ),
    )

    @field_validator("pools")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("pools must be unique")
        return v


class KueueConfig(_Model):
    """Kueue: GPU sharing across the stack's Airflow deployments (docs/gpu-sharing.md)."""

    enabled: bool = Field(default=False, description="Install Kueue and the queues.")
    version: Annotated[str, _matching(VERSION, VERSION_RULE)] = Field(
        default=KUEUE_VERSION,
        description=(
            "Kueue release (its Helm chart at oci://registry.k8s.io/kueue/charts/kueue). Only the "
            f"tested release is accepted: {KUEUE_VERSION}."
        ),
    )
    namespace: QueueName = Field(
        default="kueue-system", description="Namespace of the Kueue controller."
    )
    cohort: QueueName = Field(
        default="astro-gpu", description="Cohort every deployment's ClusterQueue joins."
    )
    queue_name: QueueName = Field(
        default="gpu",
        description=(
            "Name of the LocalQueue in every deployment namespace; GPU tasks carry "
            "`kueue.x-k8s.io/queue-name=<queue_name>` (in `gpu_scheduling`)."
        ),
    )
    deployments: dict[str, KueueDeploymentConfig] = Field(
        default_factory=dict,
        description="Per deployment name: borrowing and lending limits; unset ones lend all, borrow 0.",
    )
    preemption: KueuePreemptionConfig = Field(default_factory=KueuePreemptionConfig)
    fair_sharing: bool = Field(
        default=True,
        description=(
            "Kueue fair sharing: borrowed GPUs are split by weight, and preemption picks tasks of "
            "the deployment furthest above its share."
        ),
    )
    queue_wait_minutes: int = Field(
        default=30,
        ge=0,
        le=1440,
        description=(
            "How long a GPU task may wait in Kueue (its pod gated, not yet scheduled) on top of "
            "the cold-start budget: added to `schedule_timeout_seconds` in `gpu_scheduling`, "
            "because KubernetesPodOperator's schedule timeout runs while the pod is gated."
        ),
    )
    provisioning_request: ProvisioningRequestConfig | None = Field(
        default=None, description="Optional: queued provisioning for flex-start pools."
    )

    def queued_pools(self) -> frozenset[str]:
        """The GPU pools created with `queued_provisioning` (only with Kueue on: nothing else
        creates the ProvisioningRequests such a pool's nodes come from)."""
        if not self.enabled or self.provisioning_request is None:
            return frozenset()
        return frozenset(self.provisioning_request.pools)

    @field_validator("version")
    @classmethod
    def _tested(cls, v: str) -> str:
        if v != KUEUE_VERSION:
            raise ValueError(
                f"only Kueue {KUEUE_VERSION} is tested with this stack (tools/kubebin/go.mod); "
                "its chart values and API (kueue.x-k8s.io/v1beta2) differ between releases"
            )
        return v


def devices_per_node(accelerator_count: int, shared_clients: int | None, partitions: int) -> int:
    """`nvidia.com/gpu` one node advertises: GPUs x shared clients (time-sharing, MPS) or x MIG
    partitions per GPU (GKE's device plugin counts each client or partition as one device)."""
    return accelerator_count * (shared_clients or 1) * partitions
