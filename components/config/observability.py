"""Observability config: what the cluster collects and who the alerts notify
(components/observability/observability.py, docs/observability.md)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.config._base import _Model

CHANNEL = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/[0-9]+$")
CHANNEL_RULE = "projects/<project>/notificationChannels/<numeric id> (an existing channel)"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
DIGEST_RULE = "sha256:<64 lowercase hex digits> (the image's manifest-list digest)"
# The tags the self-deployed exporter runs (components/dcgm_exporter.py HOSTENGINE_IMAGE,
# EXPORTER_IMAGE): no public source pairs them with a digest, so the config supplies it.
DCGM_DIGEST_KEYS = {
    "dcgm_hostengine_digest": "nvcr.io/nvidia/cloud-native/dcgm:3.3.0-1-ubuntu22.04",
    "dcgm_exporter_digest": "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.0-3.2.0-ubuntu22.04",
}


class ObservabilityConfig(_Model):
    """GPU metrics, pod-state metrics, alert policies and the dashboard. Every threshold is in
    components/observability/alerts.py (docs/observability.md lists them with their sources)."""

    dcgm: bool = Field(
        default=True,
        description=(
            "GKE's managed DCGM metrics (`monitoring_config.enable_components: DCGM`) with managed "
            "Prometheus: GPU utilisation and memory (the package has no XID metric; see "
            "docs/observability.md). Needs GKE-managed drivers on every GPU pool (not "
            "`INSTALLATION_DISABLED`: GKE installs its own DCGM exporter against them)."
        ),
    )
    dcgm_source: Literal["gke-managed", "self-deployed"] = Field(
        default="gke-managed",
        description=(
            "Who runs the DCGM exporter when `dcgm` is true. `gke-managed`: GKE's package "
            "(`enable_components: DCGM`), no XID metric. `self-deployed`: GKE's package off, the "
            "stack runs nv-hostengine and dcgm-exporter itself (Google's Managed Prometheus "
            "example, components/observability/dcgm_exporter.py) with the same fields plus "
            "`DCGM_FI_DEV_XID_ERRORS`, and registers the XID alert. Costs privileged pods with "
            'host mounts in their own namespace (docs/observability.md, "Self-deployed DCGM '
            'exporter"). Needs `dcgm: true`.'
        ),
    )
    dcgm_hostengine_digest: str | None = Field(
        default=None,
        description=(
            "Required with `dcgm_source: self-deployed`: the sha256 digest of "
            "nvcr.io/nvidia/cloud-native/dcgm:3.3.0-1-ubuntu22.04 (`crane digest <image>`), which "
            "the stack then runs as `<image>@<digest>`. No public source pins that tag by digest, "
            "so you supply the one you reviewed."
        ),
    )
    dcgm_exporter_digest: str | None = Field(
        default=None,
        description=(
            "Required with `dcgm_source: self-deployed`: the sha256 digest of "
            "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.0-3.2.0-ubuntu22.04, run as `<image>@<digest>`."
        ),
    )
    notification_channels: list[str] = Field(
        default_factory=list,
        description=(
            "Existing Cloud Monitoring notification channels the alerts notify, as "
            "projects/<project>/notificationChannels/<id> (`gcloud beta monitoring channels list`)."
        ),
    )
    notify: bool | None = Field(
        default=None,
        description=(
            "Whether alerts notify the channels. Unset: false in dev (incidents still open in the "
            "console, nobody is paged for a dev cluster), true in staging and prod, which then "
            "need at least one channel."
        ),
    )

    @field_validator("dcgm_source")
    @classmethod
    def _source_needs_dcgm(cls, v: str, info: ValidationInfo) -> str:
        if v == "self-deployed" and not info.data.get("dcgm", True):
            raise ValueError(
                "self-deployed runs the DCGM exporter that dcgm: false turns off; set dcgm: true "
                "or leave dcgm_source at gke-managed"
            )
        return v

    @field_validator("dcgm_hostengine_digest", "dcgm_exporter_digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        if v is not None and not DIGEST.match(v):
            raise ValueError(f"{v!r}: must be {DIGEST_RULE}")
        return v

    @model_validator(mode="after")
    def _digests_with_self_deployed(self) -> ObservabilityConfig:
        if not self.self_deployed_dcgm:
            return self
        missing = [k for k in DCGM_DIGEST_KEYS if getattr(self, k) is None]
        if missing:
            raise ValueError(
                "dcgm_source self-deployed runs images pinned by digest: set "
                + ", ".join(f"{k} to the {DIGEST_RULE} of {DCGM_DIGEST_KEYS[k]}" for k in missing)
            )
        return self

    @property
    def self_deployed_dcgm(self) -> bool:
        """The stack runs its own DCGM exporter (components/observability/dcgm_exporter.py)."""
        return self.dcgm and self.dcgm_source == "self-deployed"

    @field_validator("notification_channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not CHANNEL.match(c)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: must be {CHANNEL_RULE}")
        if len(set(v)) != len(v):
            raise ValueError("channels must be unique")
        return v

    def notifies(self, environment: str) -> bool:
        return self.notify if self.notify is not None else environment != "dev"
