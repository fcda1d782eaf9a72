"""Astro Remote Execution, config: the rules a remote deployment's settings follow (one clear
error per problem), isolation between deployments, bucket names and Workload Identity principals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components import config
from components.airflow import agent as remote_agent
from tests.remote_common import (
    AGENT_GSA,
    problems,
    remote_external,
    remote_in_cluster,
)


def _remote_with_identity(c: dict[str, Any]) -> None:
    remote_external()(c)
    c["deployments"][0]["astro_identity"] = (
        "astro-analytics-dev@astro-tenant-4821.iam.gserviceaccount.com"
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["deployments"][0].pop("astro_identity"),
            {"deployments[0].astro_identity": "required with execution 'hosted'"},
        ),
        (
            lambda c: c["deployments"][0].update(
                agent={"placement": "external", "google_service_account": AGENT_GSA}
            ),
            {"deployments[0].agent": "only used with execution 'remote'"},
        ),
        (
            lambda c: (
                c["deployments"][0].pop("astro_identity"),
                c["deployments"][0].update(execution="remote"),
            ),
            {"deployments[0].agent": "required with execution 'remote'"},
        ),
        (
            _remote_with_identity,
            {
                "deployments[0].astro_identity": "not used with execution 'remote': tasks run as "
                "the agent's identity (`agent`), not the Astro deployment's"
            },
        ),
        (
            lambda c: (
                remote_in_cluster()(c)
                or c["deployments"][0]["agent"].update(
                    namespace=None, kubernetes_service_account=None
                )
            ),
            {
                "deployments[0].agent.namespace": "required with placement 'this_cluster'",
                "deployments[0].agent.kubernetes_service_account": "required with placement 'this_cluster'",
            },
        ),
        (
            lambda c: remote_in_cluster(google_service_account=AGENT_GSA)(c),
            {"deployments[0].agent.google_service_account": "only used with placement 'external'"},
        ),
        (
            lambda c: (
                remote_external()(c)
                or c["deployments"][0]["agent"].update(
                    google_service_account=None, namespace="astro-agent"
                )
            ),
            {
                "deployments[0].agent.namespace": "only used with placement 'this_cluster'",
                "deployments[0].agent.google_service_account": "required with placement 'external'",
            },
        ),
        (
            remote_in_cluster(namespace="airflow-analytics"),
            {
                "deployments[0].agent": "agent.namespace airflow-analytics is the task namespace: "
                "the agent needs its own (a task pod may run as any service account of its namespace)"
            },
        ),
        (
            remote_in_cluster(namespace="kube-system"),
            {
                "deployments[0].agent.namespace": "kube-system is reserved for the system; pick a "
                "namespace of your own"
            },
        ),
        (
            remote_in_cluster(triggerer_service_account="default"),
            {
                "deployments[0].agent.triggerer_service_account": "not the namespace's `default` "
                "service account (every pod there runs as it); name a dedicated one"
            },
        ),
        (
            remote_in_cluster(kubernetes_service_account="Agent_Worker"),
            {"deployments[0].agent.kubernetes_service_account": config.deployments.KSA_NAME_RULE},
        ),
        (
            lambda c: remote_in_cluster()(c) or c["deployments"][0].update(auth_mode="adc"),
            {
                "deployments[0]": "auth_mode: not used with agent placement 'this_cluster' "
                "(KubernetesPodOperator runs in-cluster as the agent's service account)"
            },
        ),
        (
            remote_in_cluster(xcom={"retention_days": 0}),
            {
                "deployments[0].agent.xcom.retention_days": "Input should be greater than or equal to 1"
            },
        ),
        (
            remote_in_cluster(
                xcom={
                    "kms_key": "projects/acme-ml-dev/locations/europe-west4/keyRings/r/cryptoKeys/k"
                }
            ),
            {
                "deployments[0].agent.xcom.kms_key": "the key must be in the bucket's location, "
                "the cluster region us-central1"
            },
        ),
        (
            remote_in_cluster(xcom={"kms_key": "my-key"}),
            {
                "deployments[0].agent.xcom.kms_key": "must be "
                "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"
            },
        ),
    ],
)
def test_remote_config_rules(
    mutate: Callable[[dict[str, Any]], None], expected: dict[str, str]
) -> None:
    assert problems(mutate) == expected


def test_remote_deployments_are_isolated_from_each_other_and_from_hosted_ones() -> None:
    def two_agents_one_namespace(c: dict[str, Any]) -> None:
        remote_in_cluster()(c)
        second = json.loads(json.dumps(c["deployments"][0]))
        second.update(name="other", namespace="airflow-other", connection_id="other")
        c["deployments"].append(second)

    assert problems(two_agents_one_namespace) == {
        "deployments": "namespaces (task and agent) must be unique across deployments: astro-agent"
    }

    def agent_is_a_hosted_identity(c: dict[str, Any]) -> None:
        hosted = json.loads(json.dumps(c["deployments"][0]))
        hosted.update(name="hosted", namespace="airflow-hosted", connection_id="hosted")
        hosted.update(astro_identity=AGENT_GSA, launcher_account_id="hosted-kpo")
        remote_external()(c)
        c["deployments"].append(hosted)

    assert problems(agent_is_a_hosted_identity) == {
        "deployments": "Google identities (astro_identity, agent.google_service_account) must be "
        f"unique across deployments: {AGENT_GSA}"
    }


def test_xcom_bucket_name_rules() -> None:
    def googly(c: dict[str, Any]) -> None:
        remote_in_cluster()(c)
        c["deployments"][0]["name"] = "google-ads"

    assert problems(googly) == {
        "deployments": "deployments[0].name: the XCom bucket acme-ml-dev-google-ads-xcom would "
        "start with 'goog' or contain 'google', which Cloud Storage bucket names may not"
    }
    # The longest names fit Cloud Storage's 63 characters.
    assert len(config.deployments.xcom_bucket_name("a" * 30, "b" * 26)) == 62


def test_existing_backend_in_another_project_cannot_use_the_stacks_cmek() -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["secret_manager"] = {
            "kms_keys": ["projects/acme-ml-dev/locations/global/keyRings/sm/cryptoKeys/conn"]
        }
        c["deployments"][0]["existing_secrets_backend"] = {"project_id": "acme-shared-secrets"}

    assert problems(mutate) == {
        "deployments": "deployments[0].existing_secrets_backend.project_id: "
        "secret_manager.kms_keys are granted to the Secret Manager agent of acme-ml-dev only, "
        "not of acme-shared-secrets"
    }


def test_workload_identity_principal_format() -> None:
    """GKE docs: principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/
    workloadIdentityPools/PROJECT_ID.svc.id.goog/subject/ns/NAMESPACE/sa/KSA_NAME."""
    assert remote_agent.workload_principal("42", "p-1", "ns", "sa") == (
        "principal://iam.googleapis.com/projects/42/locations/global/"
        "workloadIdentityPools/p-1.svc.id.goog/subject/ns/ns/sa/sa"
    )
