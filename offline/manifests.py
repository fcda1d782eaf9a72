"""Every Kubernetes object a run of the program registered, as the manifest pulumi-kubernetes
sends the API server (its type token names the group, version and kind; its inputs are the
object), in the order the API server can take them: namespaces and cluster-scoped RBAC first.

    python -m offline.manifests --stack prod [--dcgm-self-deployed] > objects.json

The tests apply them server-side to a real kube-apiserver (tests/kube/).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from typing import Any

from offline import runner

# Provider-side components that render other objects (Helm charts, YAML files): they are not
# objects themselves, and their children are not registered under mocks.
NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")
FIRST = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "Role")


def api_version(type_: str) -> tuple[str, str]:
    """`kubernetes:rbac.authorization.k8s.io/v1:Role` -> ("rbac.authorization.k8s.io/v1",
    "Role"); the core group has no name (`kubernetes:core/v1:Namespace` -> ("v1", ...))."""
    _, group_version, kind = type_.split(":")
    group, _, version = group_version.rpartition("/")
    return (version if group == "core" else f"{group}/{version}"), kind


def is_object(type_: str) -> bool:
    return type_.startswith("kubernetes:") and not type_.startswith(NOT_OBJECTS)


def _integral(value: Any) -> Any:
    """Pulumi's wire format has one number type (protobuf Struct doubles): 65534 arrives as
    65534.0. The provider sends whole numbers to the API server as integers, and so do we."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def manifests(run: runner.Run) -> list[dict[str, Any]]:
    objects = []
    for reg in run.registrations:
        if not reg.custom or not is_object(reg.type):
            continue
        version, kind = api_version(reg.type)
        body = _integral(copy.deepcopy(reg.inputs))
        body.update(apiVersion=version, kind=kind)
        body.setdefault("metadata", {}).setdefault("name", reg.name)
        objects.append(body)

    def rank(o: dict[str, Any]) -> tuple[int, str, str]:
        kind = o["kind"]
        first = FIRST.index(kind) if kind in FIRST else len(FIRST)
        return first, o["metadata"].get("namespace", ""), o["metadata"]["name"]

    return sorted(objects, key=rank)


DCGM_KEY = f"{runner.PROJECT}:platform"
# The self-deployed exporter runs its images by digest, and the digests are config (no public
# source pins its tags: components/dcgm_exporter.py). These are no image's digests, only
# well-formed values for offline renders: nothing offline pulls an image.
OFFLINE_DCGM_DIGESTS = {
    "dcgm_hostengine_digest": "sha256:" + "a" * 64,
    "dcgm_exporter_digest": "sha256:" + "b" * 64,
}


def run_stack(stack: str, dcgm_self_deployed: bool = False) -> runner.Run:
    config = copy.deepcopy(runner.stack_config(stack))
    if dcgm_self_deployed:
        observability = config[DCGM_KEY].setdefault("observability", {})
        observability["dcgm_source"] = "self-deployed"
        for key, digest in OFFLINE_DCGM_DIGESTS.items():
            observability.setdefault(key, digest)
    return runner.run(stack, config=config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="dev", choices=runner.stacks())
    parser.add_argument("--dcgm-self-deployed", action="store_true")
    args = parser.parse_args(argv)
    run = run_stack(args.stack, args.dcgm_self_deployed)
    json.dump(manifests(run), sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
