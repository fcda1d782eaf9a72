"""Export what the Airflow side consumes, from the real program run under mocks (never re-typed):
stack outputs, each connection secret's payload and its reader, each namespace's Role rules, the
cluster CA; and what the contract suite's fake Google and Kubernetes endpoints enforce: the project
IAM grants and custom role permissions, the service-account IAM grants (Token Creator), the Roles
and RoleBindings, and each deployment's Astro identity (from the stack config).

    python -m offline.export --stack dev [--ca-pem-file ca.pem] [--endpoint 127.0.0.1:8443] [--ip-endpoint]

`--ca-pem-file`/`--endpoint` make the mocked cluster report a CA and address a test controls;
`--ip-endpoint` runs the stack in `authorized_networks` mode (the kubeconfig then pins the CA).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from offline import runner
from offline.mocks import PLACEHOLDER_CA_PEM, PlaceholderMocks

KEY = f"{runner.PROJECT}:platform"


def _ordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registrations arrive in the order their inputs resolve, which varies from run to run."""
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def export(
    stack: str,
    ca_pem: str,
    endpoint: str | None,
    ip_endpoint: bool,
    tune: dict[str, dict[str, bool]] | None = None,
) -> dict[str, Any]:
    config = copy.deepcopy(runner.stack_config(stack))
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
    readers = {
        r.inputs["secretId"]: r.inputs["member"]
        for r in run.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
        if r.inputs["role"] == "roles/secretmanager.secretAccessor"
    }
    cluster = run.one("gcp:container/cluster:Cluster")
    return {
        "stack": stack,
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
        # Custom roles by the name project grants refer to (`projects/<p>/roles/<roleId>`).
        "custom_roles": {
            r.outputs["name"]: r.inputs["permissions"]
            for r in run.of_type("gcp:projects/iAMCustomRole:IAMCustomRole")
        },
        "service_account_iam_members": _ordered(
            [
                {
                    "service_account_id": r.inputs["serviceAccountId"],
                    "role": r.inputs["role"],
                    "member": r.inputs["member"],
                }
                for r in run.of_type("gcp:serviceaccount/iAMMember:IAMMember")
            ]
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
        "rbac_roles": _ordered(
            [
                {
                    "namespace": r.inputs["metadata"]["namespace"],
                    "name": r.inputs["metadata"]["name"],
                    "rules": r.inputs["rules"],
                }
                for r in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
            ]
        ),
        "role_bindings": _ordered(
            [
                {
                    "namespace": r.inputs["metadata"]["namespace"],
                    "name": r.inputs["metadata"]["name"],
                    "role_ref": r.inputs["roleRef"],
                    "subjects": r.inputs["subjects"],
                }
                for r in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
            ]
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
        metavar="DEPLOYMENT:xcom=true,deferrable=false",
        help="override a deployment's xcom/deferrable settings (e.g. to test every mode)",
    )
    args = parser.parse_args(argv)
    tune: dict[str, dict[str, bool]] = {}
    for item in args.tune:
        name, _, settings = item.partition(":")
        for pair in filter(None, settings.split(",")):
            key, _, value = pair.partition("=")
            if key not in ("xcom", "deferrable") or value not in ("true", "false"):
                parser.error(f"--tune {item}: only xcom=/deferrable= true|false")
            tune.setdefault(name, {})[key] = value == "true"
    ca = args.ca_pem_file.read_text() if args.ca_pem_file else PLACEHOLDER_CA_PEM
    json.dump(
        export(args.stack, ca, args.endpoint, args.ip_endpoint, tune),
        sys.stdout,
        indent=2,
        sort_keys=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
