"""Export what the Airflow side consumes, from the real program run under mocks (never re-typed):
stack outputs, each connection secret's payload and its reader, each namespace's Role rules, the
cluster CA; and what the contract suite's fake Google and Kubernetes endpoints enforce: the project
IAM grants and custom role permissions, the service-account IAM grants (Token Creator, which the
bootstrap makes: components/service_accounts.token_creator_bindings), the Roles
and RoleBindings, and each deployment's Astro identity (from the stack config).

    python -m offline.export --stack dev [--ca-pem-file ca.pem] [--endpoint 127.0.0.1:8443] [--ip-endpoint]

`--ca-pem-file`/`--endpoint` make the mocked cluster report a CA and address a test controls;
`--ip-endpoint` runs the stack in `authorized_networks` mode (the kubeconfig then pins the CA).
`--tune analytics:gpu_quota=3` (or `xcom=`, `deferrable=`) changes a deployment's config first.
`--time-scale 0.01` adds `scaled_scheduling`: every pool's and class's hints from the real budget
function (components/gke/cold_start.py) given its sourced figures times 0.01, and KPO's own default
timeout times the same factor, so a GPU cold start can be replayed in seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from components import custom_roles, service_accounts
from components.config import load
from components.gke import catalog, cold_start, gpu_pool
from offline import manifests, runner
from offline.mocks import PLACEHOLDER_CA_PEM, PlaceholderMocks

KEY = f"{runner.PROJECT}:platform"
# Node labels and taints GKE sets itself ("About node labels" / "Run GPUs in Standard node pools":
# GPU nodes carry the accelerator label and the nvidia.com/gpu=present:NoSchedule taint; Spot
# nodes `cloud.google.com/gke-spot=true`; Arm nodes the kubernetes.io/arch=arm64:NoSchedule taint).
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"
SPOT_LABEL = "cloud.google.com/gke-spot"
EFFECTS = {
    "NO_SCHEDULE": "NoSchedule",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
    "NO_EXECUTE": "NoExecute",
}


def _node_pool(registration: Any) -> dict[str, Any]:
    """A node pool as the scheduler sees its nodes: labels and taints (registered, plus GKE's own),
    its GPUs and its size limits."""
    inputs, node = registration.inputs, registration.inputs["nodeConfig"]
    name = registration.outputs.get("name") or inputs.get("name") or inputs["namePrefix"]
    labels = {**node.get("labels", {}), NODEPOOL_LABEL: name}
    taints = [
        {"key": t["key"], "value": t["value"], "effect": EFFECTS[t["effect"]]}
        for t in node.get("taints") or []
    ]
    accelerators = node.get("guestAccelerators") or []
    if accelerators:
        labels[gpu_pool.ACCELERATOR_LABEL] = accelerators[0]["type"]
        gpu_taint = {
            "key": gpu_pool.GPU_TAINT_KEY,
            "value": gpu_pool.GPU_TAINT_VALUE,
            "effect": EFFECTS[gpu_pool.GPU_TAINT_EFFECT],
        }
        taints += [gpu_taint] if gpu_taint not in taints else []
    if node.get("spot"):
        labels[SPOT_LABEL] = "true"
    arm = catalog.is_arm(node.get("machineType", ""))
    labels[gpu_pool.ARCH_KEY] = gpu_pool.ARM64 if arm else "amd64"
    if arm:
        taints.append({"key": gpu_pool.ARCH_KEY, "value": gpu_pool.ARM64, "effect": "NoSchedule"})
    autoscaling = inputs.get("autoscaling") or {}
    return {
        "name": name,
        "labels": labels,
        "taints": taints,
        "gpus": int(accelerators[0]["count"]) if accelerators else 0,
        "min_nodes": int(autoscaling.get("minNodeCount", inputs.get("nodeCount", 0))),
        "max_nodes": int(autoscaling.get("maxNodeCount", inputs.get("nodeCount", 0))),
    }


def scaled_scheduling(config: dict[str, Any], factor: float) -> dict[str, Any]:
    """The stack's `gpu_scheduling` on the sourced figures times `factor`."""
    return {
        "factor": factor,
        "kpo_default_timeout_seconds": cold_start.KPO_DEFAULT_TIMEOUT * factor,
        "hints": gpu_pool.gpu_scheduling(load(config[KEY]), cold_start.SOURCED.scaled(factor)),
    }


def _ordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registrations arrive in the order their inputs resolve, which varies from run to run."""
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _namespaced(run: runner.Run, type_: str, **fields: str) -> list[dict[str, Any]]:
    """Every Kubernetes object of `type_`: its namespace and name, and `fields` (our key -> its
    input key)."""
    return _ordered(
        [
            {
                "namespace": r.inputs["metadata"]["namespace"],
                "name": r.inputs["metadata"]["name"],
                **{key: r.inputs[source] for key, source in fields.items()},
            }
            for r in run.of_type(type_)
        ]
    )


def export(
    stack: str,
    ca_pem: str,
    endpoint: str | None,
    ip_endpoint: bool,
    tune: dict[str, dict[str, bool | int]] | None = None,
    time_scale: float | None = None,
    config_file: Path | None = None,
) -> dict[str, Any]:
    config = copy.deepcopy(runner.stack_config(stack, config_file))
    for deployment in config[KEY].get("deployments", []):
        deployment.update((tune or {}).get(deployment["name"], {}))
    if ip_endpoint:
        config[KEY]["cluster"]["control_plane"] = {
            "access": "authorized_networks",
            "authorized_networks": [
                {"cidr_block": "127.0.0.1/32", "display_name": "contract test"}
            ],
        }
    run = runner.run(
        stack, config=config, mocks=PlaceholderMocks(ca_pem=ca_pem, endpoint_host=endpoint)
    )
    secrets = {
        r.inputs["secretId"]: next(
            v.inputs["secretData"]
            for v in run.of_type("gcp:secretmanager/secretVersion:SecretVersion")
            if v.parent == r.parent
        )
        for r in run.of_type("gcp:secretmanager/secret:Secret")
    }
    roles = {
        r.inputs["metadata"]["namespace"]: r.inputs["rules"]
        for r in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
    }
    # One reader per secret, the first member in sorted order: an in-cluster secret has several
    # (one per agent service account), registered in no fixed order.
    readers: dict[str, str] = {}
    for r in sorted(
        run.of_type("gcp:secretmanager/secretIamMember:SecretIamMember"),
        key=lambda r: r.inputs["member"],
    ):
        if r.inputs["role"] == "roles/secretmanager.secretAccessor":
            readers.setdefault(r.inputs["secretId"], r.inputs["member"])
    cluster = run.one("gcp:container/cluster:Cluster")
    # Kueue's Configuration, as the stack gives it to Kueue's chart (None: Kueue off).
    kueue_config = next(
        (
            yaml.safe_load(r.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
            for r in run.of_type("kubernetes:helm.sh/v4:Chart")
            if "managerConfig" in r.inputs.get("values", {})
        ),
        None,
    )
    extra = {"scaled_scheduling": scaled_scheduling(config, time_scale)} if time_scale else {}
    return {
        **extra,
        # What the fake scheduler places pods on, and the budgets drains must respect.
        "node_pools": sorted(
            (_node_pool(r) for r in run.of_type("gcp:container/nodePool:NodePool")),
            key=lambda pool: str(pool["name"]),
        ),
        # ComputeClass name -> its node pools in priority order (the autoscaler's fallback).
        "compute_classes": {
            r.inputs["metadata"]["name"]: [
                pool
                for priority in r.inputs["spec"]["priorities"]
                for pool in priority["nodepools"]
            ]
            for r in run.of_type("kubernetes:cloud.google.com/v1:ComputeClass")
        },
        "pod_disruption_budgets": _namespaced(
            run, "kubernetes:policy/v1:PodDisruptionBudget", spec="spec"
        ),
        "stack": stack,
        # Every Kubernetes object, as pulumi-kubernetes sends it: the contract suite applies them
        # server-side to its real API server (tests/airflow/kube_real.py).
        "manifests": manifests.manifests(run),
        "kueue_manager_config": kueue_config,
        "outputs": run.outputs,
        "secrets": secrets,
        "roles": roles,
        "secret_readers": readers,
        "cluster_ca_certificate": cluster.outputs["masterAuth"]["clusterCaCertificate"],
        "cluster": {k: cluster.inputs[k] for k in ("project", "location", "name")},
        # Hosted deployments; a remote one runs as its agent (outputs: airflow[<d>].agent).
        "astro_identities": {
            d["name"]: d["astro_identity"]
            for d in config[KEY].get("deployments", [])
            if d.get("astro_identity")
        },
        "project_iam_members": _ordered(
            [
                {k: r.inputs[k] for k in ("project", "role", "member")}
                for r in run.of_type("gcp:projects/iAMMember:IAMMember")
            ]
        ),
        # Custom roles by the name grants refer to (`projects/<p>/roles/<roleId>`): the bootstrap
        # creates them (components/day0/stack_roles.py) from the same function of the same config.
        "custom_roles": {
            role.name: list(role.permissions)
            for role in custom_roles.stack_roles(load(config[KEY]))
        },
        # The bootstrap makes these (components/day0/stack_identities.py), from the same function
        # of the same config (tests/test_day0_accounts.py compares them with its registrations).
        "service_account_iam_members": _ordered(
            service_accounts.token_creator_bindings(load(config[KEY]))
        ),
        # Every secret grant (an in-cluster secret has one reader per agent service account;
        # `secret_readers` keeps one member per secret).
        "secret_iam_members": _ordered(
            [
                {k: r.inputs[k] for k in ("project", "secretId", "role", "member")}
                for r in run.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
            ]
        ),
        # Remote Execution: who may use each XCom bucket (Workload Identity principals in-cluster).
        "bucket_iam_members": _ordered(
            [
                {k: r.inputs[k] for k in ("bucket", "role", "member")}
                for r in run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
            ]
        ),
        "rbac_roles": _namespaced(
            run, "kubernetes:rbac.authorization.k8s.io/v1:Role", rules="rules"
        ),
        "role_bindings": _namespaced(
            run,
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            role_ref="roleRef",
            subjects="subjects",
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="dev", choices=runner.stacks())
    parser.add_argument("--ca-pem-file", type=Path)
    parser.add_argument("--endpoint")
    parser.add_argument("--ip-endpoint", action="store_true")
    parser.add_argument(
        "--tune",
        action="append",
        default=[],
        metavar="DEPLOYMENT:xcom=true,deferrable=false,gpu_quota=2",
        help="override a deployment's xcom/deferrable/gpu_quota settings (e.g. to test every mode)",
    )
    parser.add_argument("--time-scale", type=float, metavar="FACTOR")
    parser.add_argument(
        "--config-file", type=Path, help="a stack file other than Pulumi.<stack>.yaml"
    )
    args = parser.parse_args(argv)
    tune: dict[str, dict[str, bool | int]] = {}
    for item in args.tune:
        name, _, settings = item.partition(":")
        for pair in filter(None, settings.split(",")):
            key, _, value = pair.partition("=")
            if key == "gpu_quota" and value.isdigit():
                tune.setdefault(name, {})[key] = int(value)
            elif key in ("xcom", "deferrable") and value in ("true", "false"):
                tune.setdefault(name, {})[key] = value == "true"
            else:
                parser.error(
                    f"--tune {item}: only xcom=/deferrable= true|false and gpu_quota=<int>"
                )
    ca = args.ca_pem_file.read_text() if args.ca_pem_file else PLACEHOLDER_CA_PEM
    json.dump(
        export(
            args.stack, ca, args.endpoint, args.ip_endpoint, tune, args.time_scale, args.config_file
        ),
        sys.stdout,
        indent=2,
        sort_keys=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
