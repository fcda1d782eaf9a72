"""Wiring only: read the config once, build the components, export what Astro deploys consume."""

from collections.abc import Sequence

import pulumi

from components import config, custom_roles
from components.airflow.airflow_access import AirflowDeploymentAccess, AirflowDeploymentAccessArgs
from components.airflow.secret_encryption import SecretManagerKeys, SecretManagerKeysArgs
from components.airflow.xcom_bucket import XComStorage, XComStorageArgs
from components.gke import gpu_pool, kueue, network
from components.gke.cluster import GkeCluster, GkeClusterArgs
from components.gke.compute_class import GpuComputeClass, GpuComputeClassArgs
from components.gke.gpu_pool import GpuNodePool, GpuNodePoolArgs
from components.gke.kueue import Kueue, KueueArgs
from components.gke.node_identity import NodeServiceAccount, NodeServiceAccountArgs
from components.gke.system_pool import SystemNodePool, SystemNodePoolArgs
from components.observability.dcgm_exporter import DcgmExporter, DcgmExporterArgs
from components.observability.kube_state_metrics import KubeStateMetrics, KubeStateMetricsArgs
from components.observability.observability import (
    Observability,
    ObservabilityArgs,
    monitoring_components,
)

cfg = config.from_pulumi()  # raises ConfigError before any resource is registered
name = cfg.cluster.name
labels = cfg.all_labels

if isinstance(cfg.network, config.CreateNetworkConfig):
    net = network.Network(
        name, network.NetworkArgs(project_id=cfg.project_id, region=cfg.region, config=cfg.network)
    ).ref
else:
    net = network.existing(cfg.network)

nodes = NodeServiceAccount(
    f"{name}-nodes",
    NodeServiceAccountArgs(project_id=cfg.project_id, config=cfg.node_service_account),
)

cluster = GkeCluster(
    name,
    GkeClusterArgs(
        project_id=cfg.project_id,
        location=cfg.location,
        config=cfg.cluster,
        network=net,
        node_service_account=nodes.email,
        labels=labels,
        monitoring_components=monitoring_components(cfg),
    ),
)

SystemNodePool(
    f"{name}-{cfg.system_pool.name}",
    SystemNodePoolArgs(
        project_id=cfg.project_id,
        location=cfg.location,
        cluster=cluster.cluster.id,
        config=cfg.system_pool,
        service_account=nodes.email,
        labels=labels,
    ),
)

# One Kubernetes provider for what the stack puts into the cluster (kube-state-metrics, classes,
# deployments).
k8s_provider = cluster.provider()

class_of = {pool: gpu_class.name for gpu_class in cfg.gpu_classes for pool in gpu_class.pools}
gpu_pools: dict[str, GpuNodePool] = {}
for pool in cfg.gpu_pools:
    gpu_pools[pool.name] = GpuNodePool(
        f"{name}-{pool.name}",
        GpuNodePoolArgs(
            project_id=cfg.project_id,
            location=cfg.location,
            cluster=cluster.cluster.id,
            config=pool,
            service_account=nodes.email,
            labels=labels,
            compute_class=class_of.get(pool.name),
            queued_provisioning=pool.name in cfg.kueue.queued_pools(),
        ),
    )

for gpu_class in cfg.gpu_classes:
    GpuComputeClass(
        f"{name}-{gpu_class.name}",
        GpuComputeClassArgs(
            config=gpu_class,
            pool_names=[gpu_pools[member].pool.name for member in gpu_class.pools],
            k8s_provider=k8s_provider,
        ),
    )

# What DAGs pass to KubernetesPodOperator per pool or class (also AIRFLOW_VAR_* for agents).
gpu_scheduling = gpu_pool.gpu_scheduling(cfg)

# --- Airflow access: one isolated namespace, identity and connection per Astro deployment ---
airflow: dict[str, dict[str, object]] = {}
accesses: list[pulumi.Resource] = []
if cfg.deployments:
    # The custom roles exist before this stack runs: the bootstrap creates them (docs/day0.md).
    launcher_role = custom_roles.launcher(cfg).name
    secret_grants: Sequence[pulumi.Resource] = []
    if cfg.secret_manager.kms_keys:
        secret_grants = SecretManagerKeys(
            f"{name}-secrets-cmek",
            SecretManagerKeysArgs(project_id=cfg.project_id, config=cfg.secret_manager),
        ).grants
    # Remote Execution: the XCom role and CMEK grants, once for every remote deployment.
    remote = [d for d in cfg.deployments if d.agent is not None]
    xcom = (
        XComStorage(
            f"{name}-xcom",
            XComStorageArgs(
                project_id=cfg.project_id,
                role_name=custom_roles.xcom(cfg).name,
                kms_keys=[d.agent.xcom.kms_key for d in remote if d.agent and d.agent.xcom.kms_key],
            ),
        )
        if remote
        else None
    )
    for deployment in cfg.deployments:
        access = AirflowDeploymentAccess(
            f"{name}-{deployment.name}",
            AirflowDeploymentAccessArgs(
                project_id=cfg.project_id,
                deployment=deployment,
                cluster=cluster,
                k8s_provider=k8s_provider,
                launcher_role=launcher_role,
                secret_manager=cfg.secret_manager,
                labels=labels,
                secret_dependencies=secret_grants,
                protect=cfg.protect_live_objects,
                region=cfg.region,
                xcom_role=xcom.role_name if xcom else None,
                xcom_key_grants=xcom.key_grants if xcom else {},
                gpu_scheduling=gpu_scheduling,
                gpu_ceiling=cfg.gpu_ceiling(deployment),
            ),
        )
        airflow[deployment.name] = access.outputs
        accesses.append(access)

# --- GPU sharing across deployments (opt-in): Kueue, a flavor per pool, a queue per deployment ---
if cfg.kueue.enabled:
    Kueue(
        f"{name}-kueue",
        KueueArgs(
            config=cfg.kueue,
            flavors=kueue.flavors(cfg),
            queues=kueue.queues(cfg),
            k8s_provider=k8s_provider,
            after=[*gpu_pools.values(), *accesses],
            protect=cfg.protect_live_objects,
            # The control plane may call the webhook on the nodes (private nodes, deny-all).
            firewall=kueue.WebhookFirewall(
                project_id=network.project_of(net.network, cfg.project_id),
                network=net.network,
                source_ranges=cluster.cluster.private_cluster_config.apply(
                    lambda p: kueue.control_plane_ranges(p, pulumi.runtime.is_dry_run())
                ),
                node_service_account=nodes.email,
            ),
        ),
    )

# --- Observability: pod-state metrics, alerts with runbooks, the GPU dashboard ---
KubeStateMetrics(
    f"{name}-kube-state-metrics", KubeStateMetricsArgs(k8s_provider=k8s_provider, cluster_name=name)
)
if cfg.observability.self_deployed_dcgm:
    DcgmExporter(
        f"{name}-dcgm-exporter",
        DcgmExporterArgs(
            k8s_provider=k8s_provider,
            # Validated: both are set with dcgm_source self-deployed (components/config).
            hostengine_digest=cfg.observability.dcgm_hostengine_digest or "",
            exporter_digest=cfg.observability.dcgm_exporter_digest or "",
            after=[cluster.cluster],
        ),
    )
Observability(f"{name}-observability", ObservabilityArgs(config=cfg, labels=labels))

pulumi.export("cluster_name", cluster.name)
pulumi.export("cluster_location", cfg.location)
pulumi.export("cluster_endpoint", cluster.endpoint)
pulumi.export("node_service_account", nodes.email)
pulumi.export("airflow", airflow)
pulumi.export("gpu_scheduling", gpu_scheduling)
