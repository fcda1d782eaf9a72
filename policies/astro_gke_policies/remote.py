"""Policies for Astro Remote Execution deployments: the XCom bucket, where storage is granted, and
the agent's Kubernetes service accounts as RBAC subjects."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, PolicyResource, ResourceValidationArgs, StackValidationArgs

from astro_gke_policies.define import MANDATORY, Meta, of_type, resource_policy, stack_policy
from astro_gke_policies.iam import PROJECT_IAM
from astro_gke_policies.props import children, get, group, items, number, text

BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = (
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
)
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
REMOTE_AGENT = "astro-gke-gpu:airflow:RemoteAgent"
# Roles that administer a bucket (its IAM policy, its deletion), not just its objects.
BUCKET_ADMIN_ROLES = ("roles/storage.admin", "roles/storage.legacyBucketOwner")


def _bucket_hardened(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "uniformBucketLevelAccess") is not True:
        yield "uniformBucketLevelAccess must be true: IAM only, no object ACLs."
    if text(props, "publicAccessPrevention") != "enforced":
        yield "publicAccessPrevention must be 'enforced': never public, whatever IAM says."
    if get(props, "forceDestroy") is True:
        yield "forceDestroy must be false: deleting the bucket must never delete XComs in use."


def _bucket_expires_objects(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for rule in items(get(props, "lifecycleRules")):
        age = number(rule, "condition", "age")
        if text(rule, "action", "type") == "Delete" and age is not None and age >= 1:
            return
    # The label is read only when it matters: a first preview may not know it.
    if text(props, "labels", "purpose") == "pulumi-state":
        return  # Pulumi's state (bootstrap/): kept, versioned (day0.state-bucket-versioned)
    yield "no lifecycle rule deletes objects after an age in days: XComs would pile up forever."


def _storage_bucket_scoped(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    role = text(props, "role")
    if args.resource_type in PROJECT_IAM and role.startswith("roles/storage."):
        yield f"{role} on the project reaches every bucket; grant it on the one bucket."
    if args.resource_type in BUCKET_IAM and role in BUCKET_ADMIN_ROLES:
        yield f"{role} administers the bucket (its IAM, its deletion); grant object access only."


def _service_account_subjects(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    namespace = text(props, "metadata", "namespace")
    for i, subject in enumerate(items(get(props, "subjects"))):
        if text(subject, "kind") != "ServiceAccount":
            continue
        name, home = text(subject, "name"), text(subject, "namespace")
        if name == "default":
            yield f"subjects[{i}] is a `default` service account, which every pod of its namespace runs as."
        if not home:
            yield f"subjects[{i}] names no namespace for service account {name}."
        elif home == namespace:
            yield (
                f"subjects[{i}]: service account {name} lives in the namespace it may launch pods "
                "in, so any task pod there could run as it; keep the agent in its own namespace."
            )


def _agent_isolated(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    """Linear in the number of agents: children and grants-by-bucket are indexed once (the
    grants' buckets read when first needed, in stack order, as a plain scan would read them)."""
    grants = [r for r in args.resources if r.resource_type in BUCKET_IAM]
    kids = children(args.resources)
    by_bucket: dict[str, list[PolicyResource]] | None = None
    for agent in (r for r in args.resources if r.resource_type == REMOTE_AGENT):
        mine = kids.get(agent.urn, [])
        buckets = [r for r in mine if r.resource_type == BUCKET]
        if len(buckets) != 1:
            yield (
                f"remote agent {agent.name} has {len(buckets)} XCom buckets; expected 1.",
                agent.urn,
            )
            continue
        bucket = text(buckets[0].props, "name")
        if by_bucket is None:
            by_bucket = group(grants, lambda g: text(g.props, "bucket"))
        on_it = by_bucket.get(bucket, [])
        if not any(g.parent is not None and g.parent.urn == agent.urn for g in on_it):
            yield (f"no identity of remote agent {agent.name} may use its XCom bucket.", agent.urn)
        for grant in on_it:
            if grant.parent is None or grant.parent.urn != agent.urn:
                yield (
                    f"{grant.name} grants on the XCom bucket of {agent.name} from outside it: "
                    "each deployment's XComs are its own agent's only.",
                    grant.urn,
                )


def policies() -> list[Policy]:
    return [
        resource_policy(
            Meta(
                "xcom-bucket-hardened",
                "Buckets use uniform access, enforce public access prevention and never force-destroy.",
                MANDATORY,
                "CIS GCP 5.2",
                "CKV_GCP_29",
            ),
            of_type(BUCKET),
            _bucket_hardened,
        ),
        resource_policy(
            Meta(
                "xcom-bucket-expires-objects",
                "Buckets delete objects after an age in days (a lifecycle Delete rule).",
                MANDATORY,
            ),
            of_type(BUCKET),
            _bucket_expires_objects,
        ),
        resource_policy(
            Meta(
                "storage-grants-bucket-scoped",
                "Storage roles are granted per bucket, never on the project, and never administer a bucket.",
                MANDATORY,
            ),
            of_type(*PROJECT_IAM, *BUCKET_IAM),
            _storage_bucket_scoped,
        ),
        resource_policy(
            Meta(
                "rbac-service-account-subject-isolated",
                "A RoleBinding's service-account subjects live in another namespace and are never `default`.",
                MANDATORY,
            ),
            of_type(ROLE_BINDING),
            _service_account_subjects,
        ),
        stack_policy(
            Meta(
                "stack-remote-agent-isolated",
                "Each remote agent has its own XCom bucket, usable by its identities and nobody else's.",
                MANDATORY,
            ),
            _agent_isolated,
        ),
    ]
