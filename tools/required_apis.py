"""Google APIs the stack needs, with why. One list: the table in docs/deploying.md and `make apis`
come from it, and tests/test_workflows.py checks that every resource type the program registers is covered.

Choice: enabled by a documented command (`make apis PROJECT=<id>`) or by the day-0 program
(`bootstrap/`, run by the project owner: `disable_on_destroy=False`), never by the main stack. Enabling APIs
is a project-bootstrap step that needs serviceusage.services.enable, which the stack's deployer
(and the PR preview identity) should not hold; and a stack that enables APIs must be created
before, and never destroyed after, everything else.
"""

from __future__ import annotations

import sys

REQUIRED_APIS: dict[str, str] = {
    "serviceusage.googleapis.com": "enable the others",
    "cloudresourcemanager.googleapis.com": "project IAM grants, project number lookup",
    "compute.googleapis.com": "VPC, subnet, router, Cloud NAT, node VMs",
    "container.googleapis.com": "the GKE cluster and node pools",
    "iam.googleapis.com": "custom roles; the stack's service accounts and their IAM (bootstrap/)",
    "iamcredentials.googleapis.com": "impersonation: Astro mints the launcher's tokens at run time",
    "sts.googleapis.com": "keyless CI: GitHub's OIDC token exchanged for a Google token (bootstrap/)",
    "secretmanager.googleapis.com": "the Airflow connection secrets",
    "storage.googleapis.com": "XCom buckets of Remote Execution deployments, when configured",
    "cloudkms.googleapis.com": "CMEK grants (secrets encryption keys), when configured",
    "artifactregistry.googleapis.com": "per-repository image pull grants, when configured",
    "logging.googleapis.com": "GKE system and workload logs, the spot-preemption log-based metric",
    "monitoring.googleapis.com": "GKE metrics, managed Prometheus, alert policies, the GPU dashboard",
}

# The bootstrap's own project (pool, CI identities, state bucket, secrets key) when it holds no
# main stack: a subset of the list above.
HOME_APIS: tuple[str, ...] = (
    "serviceusage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "storage.googleapis.com",
    "cloudkms.googleapis.com",
)

# Which API a resource type's module needs (gcp:<module>/...).
API_OF_MODULE: dict[str, str] = {
    "compute": "compute.googleapis.com",
    "container": "container.googleapis.com",
    "serviceaccount": "iam.googleapis.com",
    "projects": "cloudresourcemanager.googleapis.com",
    "secretmanager": "secretmanager.googleapis.com",
    "storage": "storage.googleapis.com",
    "kms": "cloudkms.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
    "logging": "logging.googleapis.com",
}


def render() -> str:
    lines = ["| API | why |", "| --- | --- |"]
    lines += [f"| `{api}` | {why} |" for api, why in REQUIRED_APIS.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    project = sys.argv[1] if len(sys.argv) > 1 else "<project_id>"
    print(f"gcloud services enable {' '.join(REQUIRED_APIS)} --project {project}")
