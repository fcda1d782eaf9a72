"""`python -m offline.export`: what the contract suite's fake Google and Kubernetes endpoints enforce
comes from the program's registrations, exactly."""

from __future__ import annotations

import json
import subprocess
import sys

from offline import runner
from offline.export import export
from offline.mocks import PLACEHOLDER_CA_PEM

DEV_LAUNCHER = "analytics-kpo@acme-ml-dev.iam.gserviceaccount.com"
DEV_ASTRO = "astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com"
DEV_ROLE = "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev"
DEV_NODES = "serviceAccount:astro-gpu-dev-nodes@acme-ml-dev.iam.gserviceaccount.com"
RBAC = "rbac.authorization.k8s.io"


def test_dev_iam_and_rbac() -> None:
    data = export("dev", PLACEHOLDER_CA_PEM, None, False)
    assert data["cluster"] == {
        "project": "acme-ml-dev",
        "location": "us-central1-a",
        "name": "astro-gpu-dev",
    }
    assert data["astro_identities"] == {"analytics": DEV_ASTRO}
    assert data["custom_roles"] == {
        DEV_ROLE: ["container.clusters.get", "container.clusters.connect"]
    }
    assert sorted(data["project_iam_members"], key=lambda m: m["role"]) == [
        {"project": "acme-ml-dev", "role": DEV_ROLE, "member": f"serviceAccount:{DEV_LAUNCHER}"},
        {
            "project": "acme-ml-dev",
            "role": "roles/container.defaultNodeServiceAccount",
            "member": DEV_NODES,
        },
        {"project": "acme-ml-dev", "role": "roles/monitoring.metricWriter", "member": DEV_NODES},
        {
            "project": "acme-ml-dev",
            "role": "roles/stackdriver.resourceMetadata.writer",
            "member": DEV_NODES,
        },
    ]
    assert data["service_account_iam_members"] == [
        {
            "service_account_id": f"projects/acme-ml-dev/serviceAccounts/{DEV_LAUNCHER}",
            "role": "roles/iam.serviceAccountTokenCreator",
            "member": f"serviceAccount:{DEV_ASTRO}",
        }
    ]
    assert data["rbac_roles"] == [
        {
            "namespace": "airflow-analytics",
            "name": "kpo-launcher",
            "rules": data["roles"]["airflow-analytics"],
        }
    ]
    assert data["role_bindings"] == [
        {
            "namespace": "airflow-analytics",
            "name": "kpo-launcher",
            "role_ref": {"apiGroup": RBAC, "kind": "Role", "name": "kpo-launcher"},
            "subjects": [{"apiGroup": RBAC, "kind": "User", "name": DEV_LAUNCHER}],
        }
    ]


def test_prod_adc_identity_is_its_own_subject() -> None:
    data = export("prod", PLACEHOLDER_CA_PEM, None, False)
    reporting = "astro-reporting@astro-tenant-4821.iam.gserviceaccount.com"
    training_astro = "astro-ml-training@astro-tenant-4821.iam.gserviceaccount.com"
    training = "ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"
    role = "projects/acme-ml-prod/roles/astroKpoLauncher_astro_gpu_prod"
    assert data["astro_identities"] == {"ml-training": training_astro, "reporting": reporting}
    assert sorted(m["member"] for m in data["project_iam_members"] if m["role"] == role) == [
        f"serviceAccount:{reporting}",
        f"serviceAccount:{training}",
    ]
    # Token Creator only where a launcher is impersonated.
    assert [
        (b["member"], b["service_account_id"]) for b in data["service_account_iam_members"]
    ] == [(f"serviceAccount:{training_astro}", f"projects/acme-ml-prod/serviceAccounts/{training}")]
    assert sorted(
        (b["namespace"], [s["name"] for s in b["subjects"]]) for b in data["role_bindings"]
    ) == [
        ("airflow-batch", ["astro-agent-worker", "astro-agent-triggerer"]),
        ("airflow-ml-training", [training]),
        ("airflow-reporting", [reporting]),
    ]
    # The in-cluster agent: no Astro identity; its service accounts on its XCom bucket only.
    pool = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-ml-prod.svc.id.goog/subject/ns/astro-agent-batch/sa"
    assert sorted(data["bucket_iam_members"], key=lambda m: m["member"]) == [
        {
            "bucket": "acme-ml-prod-batch-remote-xcom",
            "role": "projects/acme-ml-prod/roles/astroXcomObjects_astro_gpu_prod",
            "member": f"{pool}/{ksa}",
        }
        for ksa in ("astro-agent-triggerer", "astro-agent-worker")
    ]
    assert sorted(
        m["member"]
        for m in data["secret_iam_members"]
        if m["secretId"] == "airflow-connections-gke_gpu_batch"
    ) == [f"{pool}/astro-agent-triggerer", f"{pool}/astro-agent-worker"]


def test_ip_endpoint_launcher_role_has_no_connect() -> None:
    data = export("dev", PLACEHOLDER_CA_PEM, None, True)
    assert data["custom_roles"] == {DEV_ROLE: ["container.clusters.get"]}


def test_cli_prints_the_same_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "offline.export", "--stack", "dev"],
        cwd=runner.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == export("dev", PLACEHOLDER_CA_PEM, None, False)
