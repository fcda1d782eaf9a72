"""Everything one Astro deployment needs to launch pods, isolated from every other deployment:

- its Google subject: a launcher service account it may only impersonate (default; the account
  and the Token Creator grant are the bootstrap's, components/day0/stack_identities.py), or its
  own identity (`adc`); the subject gets the launcher role on the project (authenticate only). The
  deployment's identity is the Astro identity (hosted) or the Remote Execution agent's Google
  service account (remote, agent `external`);
- in-cluster (remote, agent `this_cluster`): no Google subject at all. KubernetesPodOperator
  authenticates with the agent pod's Kubernetes service account token, the RoleBinding names that
  service account, and the agent reads the secret through Workload Identity (components/airflow/agent.py);
- its namespace (Pod Security Admission labels, quota, limit range, default-deny ingress, a
  disruption budget that keeps drains off running task pods), a Role
  with exactly what KubernetesPodOperator uses, and a RoleBinding to the subject (a `User`: GKE
  authenticates Google identities by email; a `ServiceAccount` in-cluster);
- the Airflow connection in Secret Manager (the kubeconfig inside is exec-plugin only; in-cluster
  there is none), readable by the subject alone. With `existing_secrets_backend` the secret goes
  where the deployment's own backend looks and that backend's identity reads it; no backend
  setting is exported then, so the deployment keeps every connection it already has;
- remote deployments: the agent (components/airflow/agent.py) and `agent_values` for its Helm chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components import service_accounts
from components.airflow import agent as remote_agent
from components.airflow import airflow_connection, rbac
from components.config import AirflowDeploymentConfig, SecretManagerConfig
from components.gke.cluster import GkeCluster

SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
ROLE_NAME = "kpo-launcher"
XCOM_ANNOTATION = "astro-gke-gpu/do-xcom-push"
PDB_NAME = "kpo-pods"
KPO_POD_LABELS = {"kubernetes_pod_operator": "True"}
PSA_LABELS = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/audit-version": "latest",
}


@dataclass(frozen=True)
class AirflowDeploymentAccessArgs:
    project_id: str
    deployment: AirflowDeploymentConfig
    cluster: GkeCluster
    k8s_provider: k8s.Provider
    launcher_role: pulumi.Input[str]
    secret_manager: SecretManagerConfig
    labels: dict[str, str]
    secret_dependencies: Sequence[pulumi.Resource]
    # Pulumi `protect` on what a running deployment depends on (see LIVE_OBJECTS).
    protect: bool = False
    # Remote deployments: the bucket location (the cluster region), the stack's XCom role and
    # CMEK grants (components/airflow/xcom_bucket.py), and the scheduling hints for AIRFLOW_VAR_*.
    region: str = ""
    xcom_role: pulumi.Input[str] | None = None
    xcom_key_grants: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    gpu_scheduling: Mapping[str, Any] = field(default_factory=dict)
    # The namespace's GPU quota and Airflow pool slots when not `gpu_quota` (Kueue: + borrowing).
    gpu_ceiling: int | None = None


def _replication(cfg: SecretManagerConfig) -> gcp.secretmanager.SecretReplicationArgs:
    if cfg.replication == "automatic":
        key = cfg.key_for("global")
        return gcp.secretmanager.SecretReplicationArgs(
            auto=gcp.secretmanager.SecretReplicationAutoArgs(
                customer_managed_encryption=gcp.secretmanager.SecretReplicationAutoCustomerManagedEncryptionArgs(
                    kms_key_name=key
                )
                if key
                else None
            )
        )
    replicas = []
    for location in cfg.locations:
        key = cfg.key_for(location)
        replicas.append(
            gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
                location=location,
                customer_managed_encryption=gcp.secretmanager.SecretReplicationUserManagedReplicaCustomerManagedEncryptionArgs(
                    kms_key_name=key
                )
                if key
                else None,
            )
        )
    return gcp.secretmanager.SecretReplicationArgs(
        user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(replicas=replicas)
    )


class AirflowDeploymentAccess(pulumi.ComponentResource):
    subject_email: pulumi.Output[str] | None
    outputs: dict[str, Any]

    def __init__(
        self,
        name: str,
        args: AirflowDeploymentAccessArgs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("astro-gke-gpu:airflow:DeploymentAccess", name, None, opts)
        d = args.deployment
        gpus = d.gpu_quota if args.gpu_ceiling is None else args.gpu_ceiling
        gcp_opts = pulumi.ResourceOptions(parent=self)
        # What a running deployment depends on: deleting or replacing one breaks its tasks.
        live = pulumi.ResourceOptions(parent=self, protect=args.protect)
        labels = {"app.kubernetes.io/managed-by": "pulumi", "airflow-deployment": d.name}

        # --- Remote Execution: the agent, its identities and XCom bucket ------------------
        agent: remote_agent.RemoteAgent | None = None
        if d.agent is not None:
            if args.xcom_role is None:
                raise ValueError("a remote deployment needs the stack's XCom role")
            key = d.agent.xcom.kms_key
            agent = remote_agent.RemoteAgent(
                f"{name}-agent",
                remote_agent.RemoteAgentArgs(
                    project_id=args.project_id,
                    location=args.region,
                    deployment=d,
                    k8s_provider=args.k8s_provider,
                    xcom_role=args.xcom_role,
                    key_grants=[args.xcom_key_grants[key]] if key else [],
                    labels=args.labels,
                    namespace_labels={**labels, **PSA_LABELS},
                    protect=args.protect,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

        # --- Google identity -------------------------------------------------------------
        launcher_email: pulumi.Output[str] | None = None
        self.subject_email = None
        identity = d.google_identity
        if d.launch_mode == "impersonation":
            assert d.launcher_id is not None and identity is not None
            # The launcher account and the Token Creator grant for `identity` on it are the
            # bootstrap's (components/day0/stack_identities.py): the deploy identity holds no
            # service-account IAM. The email is computed, as the bootstrap computes it.
            launcher_email = pulumi.Output.from_input(
                service_accounts.email(d.launcher_id, args.project_id)
            )
            self.subject_email = launcher_email
        elif d.launch_mode == "adc":
            assert identity is not None
            self.subject_email = pulumi.Output.from_input(identity)

        # Who the stack's backend reads the secret as, and who the RoleBinding names.
        readers: list[pulumi.Output[str]]
        subjects: list[k8s.rbac.v1.SubjectArgs]
        if self.subject_email is not None:
            subject_member = self.subject_email.apply(lambda e: f"serviceAccount:{e}")
            # The one project-level grant: authenticate to the cluster (IAM cannot be scoped to
            # a namespace). In-cluster needs none: the API server authenticates the pod's token.
            gcp.projects.IAMMember(
                f"{name}-cluster-access",
                project=args.project_id,
                role=args.launcher_role,
                member=subject_member,
                opts=gcp_opts,
            )
            readers = [subject_member]
            subjects = [
                k8s.rbac.v1.SubjectArgs(
                    kind="User", name=self.subject_email, api_group="rbac.authorization.k8s.io"
                )
            ]
        else:
            assert agent is not None and d.agent is not None
            # The workers always launch pods; a distinct triggerer only runs KPO triggers
            # (get pods, logs, events, delete on kill) in deferrable mode.
            launchers = d.agent.service_accounts[: 2 if d.deferrable else 1]
            readers = [agent.members[ksa] for ksa in launchers]
            subjects = [
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount", name=ksa, namespace=d.agent.namespace
                )
                for ksa in launchers
            ]

        # --- Kubernetes: namespace, guard rails, RBAC ------------------------------------
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=d.namespace, labels={**labels, **PSA_LABELS}),
            # Replacing or deleting it kills the deployment's running pods: protected in prod.
            # Named Kubernetes objects are replaced delete-first by pulumi-kubernetes itself.
            opts=pulumi.ResourceOptions.merge(k8s_opts, live),
        )
        ns_opts = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider, depends_on=[ns])

        def meta(obj_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=obj_name, namespace=d.namespace, labels=labels)

        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("kpo-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.nvidia.com/gpu": str(gpus),
                    "requests.cpu": d.cpu_quota,
                    "limits.cpu": d.cpu_quota,
                    "requests.memory": d.memory_quota,
                    "limits.memory": d.memory_quota,
                    "pods": str(d.pods_quota),
                }
            ),
            opts=ns_opts,
        )
        defaults = d.container_defaults
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("kpo-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request={
                            "cpu": defaults.cpu_request,
                            "memory": defaults.memory_request,
                        },
                        default={"cpu": defaults.cpu_limit, "memory": defaults.memory_limit},
                    )
                ]
            ),
            opts=ns_opts,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-deny-ingress",
            metadata=meta("default-deny-ingress"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress"]
            ),
            opts=ns_opts,
        )
        # A node drain (surge upgrade, manual drain) evicts through the Eviction API, which a
        # budget of zero disruptions refuses; GKE honours it for up to 1 hour per node during an
        # upgrade ("GKE respects PDBs for up to 60 minutes"). KPO labels every pod it creates
        # `kubernetes_pod_operator=True` (operators/pod.py). The cluster autoscaler never removes
        # a node that runs a pod without a controller, which KPO pods are (its FAQ.md).
        # For pods without a controller Kubernetes supports only an integer minAvailable
        # ("Specifying a Disruption Budget for your Application": arbitrary workloads); with
        # maxUnavailable the disruption controller warns UnmanagedPods and its answer is undefined
        # (tests/kube/test_disruption_budget.py). minAvailable = the namespace's pod quota: no
        # number of task pods ever reaches it, so no eviction is allowed. A change of the number
        # updates in place: pulumi-kubernetes replaces a budget on .spec changes only for
        # policy/v1beta1 (provider/pkg/provider forceNew table).
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-kpo-pdb",
            metadata=meta(PDB_NAME),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=d.pods_quota,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=KPO_POD_LABELS),
            ),
            opts=ns_opts,
        )
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            # Declares why pods/exec is (or is not) granted; the policy pack checks the two agree.
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ROLE_NAME,
                namespace=d.namespace,
                labels=labels,
                annotations={XCOM_ANNOTATION: str(d.xcom).lower()},
            ),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"]
                )
                for r in rbac.launcher_rules(xcom=d.xcom, deferrable=d.deferrable)
            ],
            opts=ns_opts,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=meta(ROLE_NAME),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=ROLE_NAME
            ),
            subjects=subjects,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.k8s_provider,
                # In-cluster: the subjects are the agent's service accounts, created first.
                depends_on=[role, *(agent.service_account_objects if agent else [])],
            ),
        )

        # --- The Airflow connection in Secret Manager ------------------------------------
        existing = d.existing_secrets_backend
        secret_project = d.secret_project(args.project_id)
        secret = gcp.secretmanager.Secret(
            f"{name}-connection",
            project=secret_project,
            secret_id=d.secret_id,
            labels={**args.labels, "airflow-deployment": d.name, "purpose": "airflow-connection"},
            replication=_replication(args.secret_manager),
            # Its id is what Airflow looks up, so it is fixed; `replication` is ForceNew and the
            # new secret cannot exist beside the old one: delete first. Protected in prod: a
            # replacement leaves the deployment without its connection until the new version.
            opts=pulumi.ResourceOptions.merge(
                live,
                pulumi.ResourceOptions(
                    delete_before_replace=True, depends_on=list(args.secret_dependencies)
                ),
            ),
        )
        if d.in_cluster:
            payload: pulumi.Output[str] = pulumi.Output.secret(
                airflow_connection.connection_json(d.namespace, None)
            )
        else:
            kubeconfig = args.cluster.kubeconfig(
                d.auth_mode, impersonate=launcher_email, namespace=d.namespace
            )
            # Secret in Pulumi state: the apply returns a secret Output, which marks the result.
            payload = kubeconfig.apply(
                lambda kc: pulumi.Output.secret(airflow_connection.connection_json(d.namespace, kc))
            )
        gcp.secretmanager.SecretVersion(
            f"{name}-connection-v",
            secret=secret.id,
            secret_data=payload,
            opts=gcp_opts,
        )
        if existing is not None:
            # The deployment's own backend reads with its own identity: that identity, and no
            # other, may read this one secret.
            if existing.reader is not None:
                readers = [pulumi.Output.from_input(f"serviceAccount:{existing.reader}")]
            elif identity is not None:
                readers = [pulumi.Output.from_input(f"serviceAccount:{identity}")]
        for i, reader in enumerate(readers):
            gcp.secretmanager.SecretIamMember(
                f"{name}-connection-reader" + (f"-{i}" if i else ""),
                project=secret_project,
                secret_id=secret.secret_id,
                role=SECRET_ACCESSOR,
                member=reader,
                opts=gcp_opts,
            )

        # --- Outputs ------------------------------------------------------------------------
        kwargs: pulumi.Input[str] | None = None
        if existing is None:
            kwargs = (
                launcher_email.apply(
                    lambda e: airflow_connection.backend_kwargs(secret_project, d, e)
                )
                if launcher_email is not None
                else airflow_connection.backend_kwargs(secret_project, d, None)
            )
        self.outputs = {
            "execution": d.execution,
            "connection_id": d.connection_id,
            "namespace": d.namespace,
            "secret_id": d.secret_id,
            "secret_project": secret_project,
            "secrets_backend": "existing" if existing is not None else "stack",
            "auth_mode": d.launch_mode,
            "launcher_email": launcher_email,
            # Hosted and remote alike: pools live in the Astro-hosted Airflow either way.
            "airflow_pool": airflow_connection.pool_spec(d, gpus),
        }
        if kwargs is not None:
            self.outputs["AIRFLOW__SECRETS__BACKEND"] = airflow_connection.BACKEND
            self.outputs["AIRFLOW__SECRETS__BACKEND_KWARGS"] = kwargs
        if agent is not None:
            variables = airflow_connection.dag_variables(
                d.connection_id, d.namespace, dict(args.gpu_scheduling), d.airflow_pool
            )
            bucket = agent.bucket_name
            self.outputs["agent"] = agent.outputs
            self.outputs["agent_values"] = pulumi.Output.from_input(kwargs).apply(
                lambda k: remote_agent.agent_values(
                    d, bucket=bucket, backend_kwargs=k, dag_variables=variables
                )
            )
        self.register_outputs(self.outputs)
