"""Object storage for XComs of Remote Execution deployments (Astro docs
remote-execution-configure-xcom-backend: agents need an object-storage XCom backend).

Choice: one bucket per remote deployment (not one shared bucket with a prefix each). A bucket is
the smallest thing Cloud Storage IAM grants on without IAM Conditions, so "the agent may touch its
own XComs only" is one bucket-level grant per deployment, and each deployment keeps its own
lifecycle, CMEK key and deletion.

What the agent may do there is a custom role (created by the bootstrap, components/custom_roles.py;
this stack only grants it per bucket) with exactly what `XComObjectStorageBackend` does
through gcsfs (providers common-io xcom/backend.py, gcsfs core.py):
- `storage.objects.create` (write a value), `storage.objects.get` and `storage.objects.list`
  (read it back; `exists()` runs an object get and a prefix list in parallel),
  `storage.objects.delete` (`purge` when a task is cleared);
- `storage.buckets.get`: every write first runs `path.parent.mkdir(parents=True, exist_ok=True)`;
  gcsfs `_mkdir` asks whether the bucket exists (`GET b/<bucket>`); without this permission it
  falls back to listing, and on an empty bucket (new, or emptied by the lifecycle rule) concludes
  that the bucket is missing and tries to create it: the first XCom push would fail.
`roles/storage.objectUser` lacks `storage.buckets.get` and carries more object permissions
(update, restore, multipart uploads) than the backend uses.

Who read or wrote an XCom is logged with Cloud Audit Logs Data Access logs for Cloud Storage
(DATA_READ and DATA_WRITE), which Google recommends over the legacy usage logs (Cloud Storage
"Usage logs & storage logs": use Cloud Audit Logs to track API operations; usage logs only where
audit logs cannot do it, e.g. anonymous public access, which these buckets refuse). Data Access
logs are configured per service on the project, not per bucket: this turns them on for every
bucket of the project (docs/observability.md: cost, and why checkov's CKV_GCP_62 is answered this
way).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config.deployments import XComStorageConfig

KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
AUDITED_SERVICE = "storage.googleapis.com"
AUDIT_LOG_TYPES = ("DATA_READ", "DATA_WRITE")
XCOM_PERMISSIONS = [
    "storage.buckets.get",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
]


def role_id(cluster_name: str) -> str:
    """Role ids cannot be reused for days after deletion: a stable one, derived from the cluster."""
    return "astroXcomObjects_" + cluster_name.replace("-", "_")


def storage_agent(project_number: str) -> str:
    """The Cloud Storage service agent, which encrypts with a bucket's default KMS key."""
    return f"serviceAccount:service-{project_number}@gs-project-accounts.iam.gserviceaccount.com"


@dataclass(frozen=True)
class XComStorageArgs:
    project_id: str
    role_name: str  # the bootstrap's XCom role (components/custom_roles.xcom)
    kms_keys: Sequence[str]


class XComStorage(pulumi.ComponentResource):
    """Stack-wide, once: the XCom role's name, the audit config and the CMEK grants, one per
    distinct key (two deployments on one key share one grant: a non-authoritative IAM member per
    deployment would remove the binding for both when one of them is deleted)."""

    role_name: pulumi.Output[str]
    key_grants: dict[str, gcp.kms.CryptoKeyIAMMember]

    def __init__(
        self, name: str, args: XComStorageArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:xcom:XComStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The role exists before this stack runs: the bootstrap creates it (custom_roles.py).
        self.role_name = pulumi.Output.from_input(args.role_name)
        # Data Access audit logs for Cloud Storage (Admin Activity is always on). Authoritative
        # for this one service's audit config on the project (pulumi-gcp IAMAuditConfig).
        self.audit = gcp.projects.IAMAuditConfig(
            f"{name}-storage-audit",
            project=args.project_id,
            service=AUDITED_SERVICE,
            audit_log_configs=[
                gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=t) for t in AUDIT_LOG_TYPES
            ],
            opts=child,
        )
        self.key_grants = {}
        keys = sorted(set(args.kms_keys))
        if keys:
            number = gcp.organizations.get_project_output(project_id=args.project_id).number
            member = number.apply(storage_agent)
            for key in keys:
                self.key_grants[key] = gcp.kms.CryptoKeyIAMMember(
                    f"{name}-kms-{key.split('/')[5]}-{key.split('/')[7]}",
                    crypto_key_id=key,
                    role=KMS_ROLE,
                    member=member,
                    opts=child,
                )
        self.register_outputs({"role": self.role_name})


def bucket(
    name: str,
    *,
    parent: pulumi.Resource,
    project_id: str,
    bucket_name: str,
    location: str,
    config: XComStorageConfig,
    labels: dict[str, str],
    depends_on: Iterable[pulumi.Resource] = (),
    protect: bool = False,
) -> gcp.storage.Bucket:
    return gcp.storage.Bucket(
        name,
        name=bucket_name,
        project=project_id,
        location=location,
        storage_class="STANDARD",
        # IAM only, no ACLs; never public, whatever IAM says.
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        lifecycle_rules=[
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=config.retention_days),
            )
        ],
        encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=config.kms_key)
        if config.kms_key
        else None,
        labels=labels,
        # A delete with objects inside fails instead of emptying the bucket: XComs of running
        # DAG runs are never dropped by a `pulumi up`.
        force_destroy=False,
        opts=pulumi.ResourceOptions(
            parent=parent,
            # Its name is fixed (the agent values point at it), so a replacement (location or
            # name, both ForceNew in resource_storage_bucket.go) cannot come up beside the old
            # bucket: delete first, which force_destroy=false refuses while XComs remain.
            # Protected in prod: running DAG runs read their XComs from it.
            delete_before_replace=True,
            protect=protect,
            depends_on=list(depends_on),
        ),
    )
