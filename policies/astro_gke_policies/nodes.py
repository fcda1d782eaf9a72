"""Node pool policies: the node baseline (also on the cluster's transient default pool) and the
GPU pools' taint, accelerator, size and scale-to-zero."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, ResourceValidationPolicy

from astro_gke_policies.define import ADVISORY, MANDATORY, Meta, resource_policy
from astro_gke_policies.gke import (
    DEFAULT_ACCELERATORS,
    DEFAULT_MAX_GPU_NODES,
    PROD_STACKS_SCHEMA,
    gpu_accelerators,
    is_cluster_or_pool,
    is_pool,
    is_prod,
    node_configs,
    string_list_schema,
)
from astro_gke_policies.props import config_value, get, is_list, items, number, text

# --- Node pools (and the cluster's transient default pool) -----------------------------------


def _gke_metadata(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for config in node_configs(props):
        if get(config, "workloadMetadataConfig", "mode") != "GKE_METADATA":
            yield "nodeConfig.workloadMetadataConfig.mode must be GKE_METADATA."
    if is_pool(args.resource_type) and not node_configs(props):
        yield "nodeConfig must be set (GKE_METADATA, shielded instance, service account)."


def _shielded_boot(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for config in node_configs(props):
        for flag in ("enableSecureBoot", "enableIntegrityMonitoring"):
            if get(config, "shieldedInstanceConfig", flag) is not True:
                yield f"nodeConfig.shieldedInstanceConfig.{flag} must be true."


def _auto_repair_upgrade(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    # Flex-start pools run without auto-repair, as GKE requires (policy gpu-flex-start-pool).
    flex_start = get(props, "nodeConfig", "flexStart") is True
    for flag in ("autoUpgrade",) if flex_start else ("autoRepair", "autoUpgrade"):
        if get(props, "management", flag) is not True:
            yield f"management.{flag} must be true."


def _dedicated_service_account(
    props: Mapping[str, Any], args: ResourceValidationArgs
) -> Iterator[str]:
    configs = node_configs(props)
    if is_pool(args.resource_type) and not configs:
        yield "nodeConfig.serviceAccount must name a dedicated service account."
    for config in configs:
        account = text(config, "serviceAccount", default="default")
        if account == "default" or account.endswith("-compute@developer.gserviceaccount.com"):
            yield "nodes run as the default compute service account; use a dedicated one."


def _gpu_taint(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not gpu_accelerators(props):
        return
    taints = items(get(props, "nodeConfig", "taints"))
    wanted = any(
        get(t, "key") == "nvidia.com/gpu"
        and get(t, "value") == "present"
        and get(t, "effect") == "NO_SCHEDULE"
        for t in taints
    )
    if not wanted:
        yield "GPU pools must carry the taint nvidia.com/gpu=present:NoSchedule."


def _gpu_accelerator_allowed(
    props: Mapping[str, Any], args: ResourceValidationArgs
) -> Iterator[str]:
    allowed = tuple(config_value(args, "allowedAcceleratorTypes", DEFAULT_ACCELERATORS))
    accelerators = items(get(props, "nodeConfig", "guestAccelerators"))
    for index, accelerator in enumerate(accelerators):
        if not isinstance(accelerator, Mapping):
            continue  # not an accelerator (gpu_accelerators skips it too)
        kind = get(accelerator, "type")
        if isinstance(kind, str):
            if kind not in allowed:
                yield f"accelerator {kind} is not allowed (allowed: {', '.join(allowed)})."
        else:
            yield (
                f"nodeConfig.guestAccelerators[{index}].type is {_describe(kind)}; it must name "
                f"an allowed accelerator type ({', '.join(allowed)})."
            )


def _describe(value: Any) -> str:
    """What a property holds, for a message: never a Python repr (a proxy's carries a memory
    address), never a nested value (reading one may meet an unknown)."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value:g}"
    if isinstance(value, Mapping):
        return "a map"
    return "a list" if is_list(value) else f"a {type(value).__name__}"


def _gpu_max_nodes(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if not gpu_accelerators(props):
        return
    cap = float(config_value(args, "maxNodesPerPool", DEFAULT_MAX_GPU_NODES))
    for key in ("maxNodeCount", "totalMaxNodeCount"):
        value = number(props, "autoscaling", key)
        if value is not None and value > cap:
            yield f"autoscaling.{key} {int(value)} exceeds the cap of {int(cap)} GPU nodes per pool."
    if get(props, "autoscaling") is None and (number(props, "nodeCount") or 0) > cap:
        yield f"nodeCount exceeds the cap of {int(cap)} GPU nodes per pool."


def _gpu_scale_to_zero(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if not gpu_accelerators(props) or is_prod(args):
        return
    minimum = number(props, "autoscaling", "minNodeCount")
    if minimum is None or minimum != 0:
        yield "outside production, GPU pools should scale to zero (autoscaling.minNodeCount 0)."


def policies() -> list[ResourceValidationPolicy]:
    node_rules = [
        (
            Meta(
                "node-gke-metadata-server",
                "Nodes use the GKE metadata server (Workload Identity).",
                MANDATORY,
                "CIS GKE 5.4.2",
                "CKV_GCP_69",
            ),
            _gke_metadata,
            is_cluster_or_pool,
        ),
        (
            Meta(
                "node-secure-boot-integrity",
                "Nodes boot with secure boot and integrity monitoring.",
                MANDATORY,
                "CIS GKE 5.5.7",
                "CKV_GCP_68",
            ),
            _shielded_boot,
            is_cluster_or_pool,
        ),
        (
            Meta(
                "node-auto-repair-upgrade",
                "Node pools auto-repair and auto-upgrade.",
                MANDATORY,
                "CIS GKE 5.5.2",
                "CKV_GCP_9",
            ),
            _auto_repair_upgrade,
            is_pool,
        ),
        (
            Meta(
                "node-dedicated-service-account",
                "Nodes run as a dedicated service account, never the default compute one.",
                MANDATORY,
                "CIS GKE 5.2.1",
                "CKV2_GCP_1",
            ),
            _dedicated_service_account,
            is_cluster_or_pool,
        ),
        (
            Meta(
                "gpu-pool-taint",
                "GPU pools carry the nvidia.com/gpu=present:NoSchedule taint.",
                MANDATORY,
            ),
            _gpu_taint,
            is_pool,
        ),
        (
            Meta(
                "gpu-accelerator-allowed",
                "GPU pools use an allowed accelerator type.",
                MANDATORY,
                config_schema=string_list_schema(
                    "allowedAcceleratorTypes",
                    DEFAULT_ACCELERATORS,
                    "Accelerator types GPU pools may use.",
                ),
            ),
            _gpu_accelerator_allowed,
            is_pool,
        ),
        (
            Meta(
                "gpu-max-nodes",
                "GPU pools autoscale within a node cap.",
                MANDATORY,
                config_schema=PolicyConfigSchema(
                    properties={
                        "maxNodesPerPool": {
                            "type": "integer",
                            "minimum": 1,
                            "default": DEFAULT_MAX_GPU_NODES,
                            "description": "Largest autoscaling maximum a GPU pool may have.",
                        }
                    }
                ),
            ),
            _gpu_max_nodes,
            is_pool,
        ),
        (
            Meta(
                "gpu-scale-to-zero-non-prod",
                "Outside production, GPU pools scale to zero.",
                ADVISORY,
                config_schema=PROD_STACKS_SCHEMA,
            ),
            _gpu_scale_to_zero,
            is_pool,
        ),
    ]
    return [resource_policy(meta, applies, check) for meta, check, applies in node_rules]
