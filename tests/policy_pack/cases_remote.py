"""Violation cases for policies/astro_gke_policies/remote.py: each mutates a resource the stack
really registers (helpers in tests/policy_pack/mutations.py)."""

from __future__ import annotations

from tests.policy_pack.mutations import (
    BUCKET,
    BUCKET_IAM,
    Case,
    add,
    edit,
    remove,
    set_path,
)

CASES: list[Case] = [
    (
        "xcom-bucket-hardened",
        "prod",
        "mandatory",
        edit(BUCKET, None, set_path("publicAccessPrevention", value="inherited")),
        "publicAccessPrevention must be 'enforced'",
        {},
    ),
    (
        "xcom-bucket-hardened",
        "prod",
        "mandatory",
        edit(BUCKET, None, set_path("uniformBucketLevelAccess", value=False)),
        "uniformBucketLevelAccess must be true",
        {},
    ),
    (
        "xcom-bucket-expires-objects",
        "prod",
        "mandatory",
        edit(BUCKET, None, set_path("lifecycleRules", value=[])),
        "no lifecycle rule deletes objects after an age in days",
        {},
    ),
    (
        "storage-grants-bucket-scoped",
        "prod",
        "mandatory",
        edit(
            "projects/iAMMember:IAMMember",
            "astro-gpu-prod-ml-training-cluster-access",
            set_path("role", value="roles/storage.objectUser"),
        ),
        "roles/storage.objectUser on the project reaches every bucket",
        {},
    ),
    (
        "storage-grants-bucket-scoped",
        "prod",
        "mandatory",
        edit(BUCKET_IAM, None, set_path("role", value="roles/storage.admin")),
        "roles/storage.admin administers the bucket",
        {},
    ),
    (
        "rbac-service-account-subject-isolated",
        "prod",
        "mandatory",
        edit(
            "rbac.authorization.k8s.io/v1:RoleBinding",
            "astro-gpu-prod-batch-remote-binding",
            lambda w: w["subjects"][0].update(namespace="airflow-batch"),
        ),
        "service account astro-agent-worker lives in the namespace it may launch pods in",
        {},
    ),
    (
        "rbac-service-account-subject-isolated",
        "prod",
        "mandatory",
        edit(
            "rbac.authorization.k8s.io/v1:RoleBinding",
            "astro-gpu-prod-batch-remote-binding",
            lambda w: w["subjects"][1].update(name="default"),
        ),
        "subjects[1] is a `default` service account",
        {},
    ),
    (
        "stack-remote-agent-isolated",
        "prod",
        "mandatory",
        add(
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            "foreign-xcom-reader",
            {
                "bucket": "acme-ml-prod-batch-remote-xcom",
                "role": "roles/storage.objectViewer",
                "member": "serviceAccount:ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com",
            },
        ),
        "foreign-xcom-reader grants on the XCom bucket of astro-gpu-prod-batch-remote-agent from "
        "outside it",
        {},
    ),
    (
        "stack-remote-agent-isolated",
        "prod",
        "mandatory",
        remove(BUCKET),
        "remote agent astro-gpu-prod-batch-remote-agent has 0 XCom buckets; expected 1",
        {},
    ),
]
