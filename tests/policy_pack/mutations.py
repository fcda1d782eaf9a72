"""Mutations of the resources the stack really registers, for the policy pack tests: each case
edits, adds, removes or retypes one registered resource, and `verdicts_for` asks the pack about the
result under a given policy config."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from offline import runner
from offline.analyzer import PolicyPackServer, Verdict
from offline.mocks import Registration

Mutation = Callable[[list[Registration]], list[Registration]]
# (policy, stack, level, mutation, message fragment, policy config)
Case = tuple[str, str, str, Mutation, str, dict[str, Any]]


def find(regs: list[Registration], type_suffix: str, name: str | None = None) -> Registration:
    found = [r for r in regs if r.type.endswith(type_suffix) and (name is None or r.name == name)]
    assert found, f"no {type_suffix} {name}"
    return found[0]


def edit(type_suffix: str, name: str | None, change: Callable[[dict[str, Any]], None]) -> Mutation:
    """Mutate the wire inputs of one registered resource."""

    def mutate(regs: list[Registration]) -> list[Registration]:
        target = find(regs, type_suffix, name)
        wire = copy.deepcopy(target.wire)
        change(wire)
        return [dataclasses.replace(r, wire=wire) if r is target else r for r in regs]

    return mutate


def add(type_: str, name: str, wire: dict[str, Any], parent_of: str | None = None) -> Mutation:
    def mutate(regs: list[Registration]) -> list[Registration]:
        parent = find(regs, parent_of).urn if parent_of else ""
        stack = runner.PROJECT
        urn = f"urn:pulumi:{regs[0].urn.split('::')[0].removeprefix('urn:pulumi:')}::{stack}::{type_}::{name}"
        new = Registration(
            type_, name, urn, parent, True, {}, {}, [], {}, False, [], "", set(), wire
        )
        return [*regs, new]

    return mutate


def remove(type_suffix: str, name: str | None = None) -> Mutation:
    def mutate(regs: list[Registration]) -> list[Registration]:
        target = find(regs, type_suffix, name)
        return [r for r in regs if r is not target]

    return mutate


def retype(type_suffix: str, new_type: str) -> Mutation:
    def mutate(regs: list[Registration]) -> list[Registration]:
        target = find(regs, type_suffix)
        return [dataclasses.replace(r, type=new_type) if r is target else r for r in regs]

    return mutate


def set_path(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(wire: dict[str, Any]) -> None:
        node = wire
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        if value is DELETE:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value

    return change


DELETE = object()
CLUSTER = "container/cluster:Cluster"
POOL = "container/nodePool:NodePool"
GPU_POOL_DEV = "astro-gpu-dev-l4-spot-pool"
ROLE = "rbac.authorization.k8s.io/v1:Role"
FIREWALL = "compute/firewall:Firewall"
BUCKET = "storage/bucket:Bucket"
BUCKET_IAM = "storage/bucketIAMMember:BucketIAMMember"


def verdicts_for(
    pack: PolicyPackServer, regs: list[Registration], config: dict[str, Any], policy: str
) -> list[Verdict]:
    pack.configure({policy: config} if config else {})
    try:
        return [v for v in pack.analyze_all(regs) if v.policy == policy]
    finally:
        pack.configure({})
