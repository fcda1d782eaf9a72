"""Pulumi's self-managed backend and secrets provider: a Cloud Storage bucket for state and a
Cloud KMS key for `gcpkms://`.

Bucket: object versioning (every state write is a new generation: a bad write is undone by
restoring the previous one), uniform bucket-level access (IAM only, no ACLs), public access
prevention enforced, soft delete, optional CMEK, never force-destroyed, protected.
Key: symmetric ENCRYPT_DECRYPT with automatic rotation; protected (a destroyed key makes every
encrypted config value and state secret unreadable)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.airflow.xcom_bucket import KMS_ROLE, storage_agent
from components.config.bootstrap import SecretsKeyConfig, StateBucketConfig

DAY = 86400


@dataclass(frozen=True)
class PulumiStateArgs:
    project_id: str
    bucket: StateBucketConfig
    key: SecretsKeyConfig
    labels: dict[str, str]


class PulumiState(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    key_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: PulumiStateArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:day0:PulumiState", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        keep = pulumi.ResourceOptions(parent=self, protect=True)
        depends: list[pulumi.Resource] = []
        if args.bucket.kms_key:
            number = gcp.organizations.get_project_output(project_id=args.project_id).number
            depends.append(
                gcp.kms.CryptoKeyIAMMember(
                    f"{name}-bucket-cmek",
                    crypto_key_id=args.bucket.kms_key,
                    role=KMS_ROLE,
                    member=number.apply(storage_agent),
                    opts=child,
                )
            )
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=args.project_id,
            name=args.bucket.name,
            location=args.bucket.location,
            storage_class="STANDARD",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=args.bucket.soft_delete_days * DAY
            ),
            encryption=(
                gcp.storage.BucketEncryptionArgs(default_kms_key_name=args.bucket.kms_key)
                if args.bucket.kms_key
                else None
            ),
            force_destroy=False,
            labels=args.labels,
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=depends),
        )
        ring = gcp.kms.KeyRing(
            f"{name}-ring",
            project=args.project_id,
            location=args.key.location,
            name=args.key.key_ring,
            opts=keep,
        )
        self.key = gcp.kms.CryptoKey(
            f"{name}-key",
            key_ring=ring.id,
            name=args.key.key,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=f"{args.key.rotation_days * DAY}s",
            opts=keep,
        )
        self.bucket_name = self.bucket.name
        self.key_id = self.key.id
        self.register_outputs({"bucket": self.bucket_name, "key": self.key_id})
