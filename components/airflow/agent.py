"""The Remote Execution Agent side of a remote deployment (Astro Remote Execution, Airflow 3): the
agent's identity, its XCom bucket, and the part of the agent Helm chart's values this stack owns.

Placement `this_cluster` (the agent runs in this GKE cluster):
- The stack creates the agent namespace and its Kubernetes service accounts, and the chart is told
  to use them (`createNamespace: false`, `serviceAccount.<component>.create: false`). Why: the
  RoleBinding subject and the Workload Identity grants name `<namespace>/<service account>`; a
  Workload Identity principal is granted by name, before and whether or not the object exists, so
  whoever creates a service account of that name in that namespace gets the access. Owning both
  objects here means the names the grants point at are this stack's, labelled, and deleted with
  them; and the namespace gets the same Pod Security labels as the task namespaces.
- Google access goes through GKE Workload Identity Federation, granted directly to the Kubernetes
  service account's principal
  `principal://iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<project>.svc.id.goog/subject/ns/<ns>/sa/<ksa>`
  (GKE docs "Authenticate to Google Cloud APIs from GKE workloads"), not through a Google service
  account with `roles/iam.workloadIdentityUser` and the `iam.gke.io/gcp-service-account`
  annotation. Why: Secret Manager and Cloud Storage accept principal identifiers, so the extra
  account adds nothing but a second identity to secure (its own IAM, a token-minting hop, an
  annotation that must match); the grants stay on the one secret and the one bucket, and audit
  logs name the namespace and service account that acted.
- The agent pods belong on the system pool (node label `workload-class: system`). GPU nodes carry
  the `nvidia.com/gpu=present:NoSchedule` taint and agent pods neither tolerate it nor request GPUs
  (so the ExtendedResourceToleration plugin adds no toleration): they can never land there; the
  selector, exported for the chart's per-component scheduling values, keeps them off any other
  pool the cluster may gain. The system pool is untainted CPU capacity that already runs
  (min_nodes >= 1); a dedicated agent pool would need its own taint, tolerations in the chart and
  a node that never scales to zero.

Placement `external`: the agent runs elsewhere as its Google service account; only the XCom bucket
and its grant live here (the cluster access is the hosted path, see airflow_access.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.airflow import airflow_connection, xcom_bucket
from components.config import AirflowDeploymentConfig
from components.config.deployments import xcom_bucket_name
from components.gke.system_pool import SYSTEM_LABEL

NODE_SELECTOR = dict(SYSTEM_LABEL)
# Not part of the agent values: the chart's scheduling keys per component are not in its public
# reference; the output carries the selector for them.
SECRET_BACKEND_KEY = "secretBackend"  # remote-agents-helm-reference: the backend class
XCOM_BACKEND_KEY = "xcomBackend"  # remote-agents-xcom-backend: the XCom backend class
ENV_KEY = "commonEnv"  # remote-agents-xcom-backend: `- name: ..., value: ...` for all components


def workload_principal(project_number: str, project_id: str, namespace: str, ksa: str) -> str:
    """A Kubernetes service account's Workload Identity Federation principal (GKE docs)."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/"
        f"workloadIdentityPools/{project_id}.svc.id.goog/subject/ns/{namespace}/sa/{ksa}"
    )


def _principal(project_id: str, namespace: str, ksa: str, project_number: str) -> str:
    return workload_principal(project_number, project_id, namespace, ksa)


def agent_values(
    deployment: AirflowDeploymentConfig,
    *,
    bucket: str,
    backend_kwargs: str | None,
    dag_variables: dict[str, str],
) -> dict[str, Any]:
    """The part of the Remote Execution Agent chart's values.yaml this stack owns. Keys from Astro
    docs: `namespace`/`createNamespace` (remote-agents-helm-reference), `secretBackend`
    (remote-execution-configure-secrets-backend: "the rest of the configuration should be passed as
    environment variables to the Agent components"), `xcomBackend` and `commonEnv`
    (remote-agents-xcom-backend), `serviceAccount.<workers|triggerer>.{create,name}` (the chart's
    values for an existing service account). `backend_kwargs` None: the deployment keeps its own
    secrets backend, so none is set here."""
    agent = deployment.agent
    assert agent is not None
    values: dict[str, Any] = {}
    if agent.placement == "this_cluster":
        assert agent.kubernetes_service_account is not None
        triggerer = agent.triggerer_service_account or agent.kubernetes_service_account
        values["namespace"] = agent.namespace
        values["createNamespace"] = False
        values["serviceAccount"] = {
            "workers": {"create": False, "name": agent.kubernetes_service_account},
            "triggerer": {"create": False, "name": triggerer},
        }
    env: dict[str, str] = {}
    if backend_kwargs is not None:
        values[SECRET_BACKEND_KEY] = airflow_connection.BACKEND
        env["AIRFLOW__SECRETS__BACKEND_KWARGS"] = backend_kwargs
    values[XCOM_BACKEND_KEY] = airflow_connection.XCOM_BACKEND
    env |= airflow_connection.xcom_env(bucket)
    env |= dag_variables
    values[ENV_KEY] = [{"name": k, "value": v} for k, v in env.items()]
    return values


@dataclass(frozen=True)
class RemoteAgentArgs:
    project_id: str
    location: str  # the bucket's: the cluster's region
    deployment: AirflowDeploymentConfig
    k8s_provider: k8s.Provider
    xcom_role: pulumi.Input[str]
    key_grants: Sequence[pulumi.Resource]
    labels: dict[str, str]
    namespace_labels: dict[str, str]
    protect: bool = False


class RemoteAgent(pulumi.ComponentResource):
    """The agent of one remote deployment: its namespace and service accounts (`this_cluster`), its
    XCom bucket and the bucket-level grant to each agent identity."""

    bucket_name: str
    members: dict[str, pulumi.Output[str]]  # IAM member per agent identity (KSA name or GSA)
    service_account_objects: list[k8s.core.v1.ServiceAccount]
    outputs: dict[str, Any]

    def __init__(
        self, name: str, args: RemoteAgentArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:airflow:RemoteAgent", name, None, opts)
        d = args.deployment
        agent = d.agent
        assert agent is not None
        live = pulumi.ResourceOptions(parent=self, protect=args.protect)

        self.members = {}
        self.service_account_objects = []
        if agent.placement == "this_cluster":
            assert agent.namespace is not None
            k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
            ns = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=agent.namespace, labels=args.namespace_labels
                ),
                # The agent's pods live here: protected in prod like the task namespace.
                opts=pulumi.ResourceOptions.merge(k8s_opts, live),
            )
            number = gcp.organizations.get_project_output(project_id=args.project_id).number
            for ksa in agent.service_accounts:
                sa = k8s.core.v1.ServiceAccount(
                    f"{name}-ksa-{ksa}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=ksa,
                        namespace=agent.namespace,
                        labels={
                            "app.kubernetes.io/managed-by": "pulumi",
                            "airflow-deployment": d.name,
                        },
                    ),
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=args.k8s_provider, depends_on=[ns]
                    ),
                )
                self.service_account_objects.append(sa)
                self.members[ksa] = number.apply(
                    functools.partial(_principal, args.project_id, agent.namespace, ksa)
                )
        else:
            assert agent.google_service_account is not None
            self.members[agent.google_service_account] = pulumi.Output.from_input(
                f"serviceAccount:{agent.google_service_account}"
            )

        self.bucket_name = xcom_bucket_name(args.project_id, d.name)
        store = xcom_bucket.bucket(
            f"{name}-xcom",
            parent=self,
            project_id=args.project_id,
            bucket_name=self.bucket_name,
            location=args.location,
            config=agent.xcom,
            labels={**args.labels, "airflow-deployment": d.name, "purpose": "airflow-xcom"},
            depends_on=args.key_grants,
            protect=args.protect,
        )
        # Every agent identity may read and write XComs, the triggerer included (XCom in triggers,
        # Agent Client >= 1.5.0); on this bucket only.
        for identity, member in self.members.items():
            gcp.storage.BucketIAMMember(
                f"{name}-xcom-{identity.split('@')[0]}",
                bucket=store.name,
                role=args.xcom_role,
                member=member,
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.outputs = {
            "placement": agent.placement,
            "namespace": agent.namespace,
            "service_accounts": agent.service_accounts,
            "google_service_account": agent.google_service_account,
            "node_selector": NODE_SELECTOR if agent.placement == "this_cluster" else None,
            "xcom_bucket": self.bucket_name,
            "xcom_path": airflow_connection.xcom_path(self.bucket_name),
        }
        self.register_outputs({"xcom_bucket": self.bucket_name})
