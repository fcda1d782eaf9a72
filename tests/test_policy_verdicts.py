"""The pack's verdicts are those of the pack before issue 22's speed-up, and its servicer answers as
pulumi-policy's own would (policies/astro_gke_policies/dispatch.py).

- Replay: tests/golden/policy_verdicts.json.gz holds 15,000+ Analyze/AnalyzeStack exchanges
  recorded from the pack at 134caf3 (tests/policy_golden.py: dev, prod, a 50-deployment stack,
  unknown and odd-value sweeps, every mutation of the violation cases (tests/test_policies.py at
  134caf3), stack edits); the served pack must give every response again, whole (policies added
  since are left out of the compare).
- Differential: the SDK's `_PolicyAnalyzerServicer` and ours, in-process, on the same requests
  (today's stacks, every policy at each enforcement level, extra policies of every other shape):
  the same response bytes.
- Dispatch and linearity: an `of_type` policy runs only on its types, any other filter on every
  resource; the stack policies' work grows linearly with the deployments.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from astro_gke_policies import pack as pack_module
from astro_gke_policies import remote, stack
from astro_gke_policies.define import ADVISORY, MANDATORY, Meta, of_type, resource_policy
from astro_gke_policies.dispatch import VERSION, DispatchingServicer, TypedResourcePolicy
from pulumi.runtime import proto
from pulumi.runtime.rpc import UNKNOWN
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer

from offline import runner
from offline.analyzer import PolicyPackServer, analyze_request, stack_request
from offline.mocks import Registration
from offline.preview import load_registrations
from tests import policy_golden

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
NAMESPACE = "kubernetes:core/v1:Namespace"


@pytest.fixture(scope="module")
def golden() -> policy_golden.Golden:
    return policy_golden.load()


# A message that prints a proxy's repr (gpu-accelerator-allowed given a list or map as the type)
# carries its memory address, which differs from run to run of any pack.
ADDRESS = re.compile(r" object at 0x[0-9a-f]+>")


# Policies whose wording changed on purpose after the golden was recorded: their verdicts (which
# resource, which level) are still compared, their description and message are not.
REWORDED = {
    # issue 20: a read-only ClusterRole bound to service accounts (kube-state-metrics) is allowed;
    # the refusal names that exception (tests/test_observability.py covers both sides).
    "rbac-no-cluster-scope",
    # issue 22: an accelerator type that is not a string (missing, a number, a boolean, a list,
    # a map) is named by its index and kind instead of Python's repr of the value (a proxy's
    # repr carried a memory address); a string type keeps its message word for word.
    # tests/test_policy_messages.py shows each new message and that the refusals are the same.
    "gpu-accelerator-allowed",
}


# Policies whose verdicts changed on purpose after the golden was recorded: their entries are left
# out of the compare, like those of policies added since; their violation cases cover them.
RECHECKED = {
    # The bootstrap creates the launcher role (components/day0/stack_roles.py): a launcher's grant
    # may name `projects/<p>/roles/astroKpoLauncher_*` without the stack registering it, and the
    # role's content is checked where it is registered (tests/policy_pack/cases_stack.py: both
    # sides, in the main stack and in the bootstrap).
    "stack-launcher-only-cluster-role",
    # The budget over KPO's pods needs an integer minAvailable: the recorded stacks' maxUnavailable 0
    # is one Kubernetes leaves undefined for pods without a controller (the real disruption
    # controller warns UnmanagedPods: tests/kube/test_disruption_budget.py). Both sides:
    # tests/policy_pack/cases_workloads.py.
    "kpo-pods-disruption-budget",
}


def _entry(e: dict[str, Any]) -> dict[str, Any]:
    if e.get("policyName") in REWORDED:
        return {k: v for k, v in e.items() if k not in ("description", "message")}
    return {k: ADDRESS.sub(" object at 0x…>", v) if k == "message" else v for k, v in e.items()}


def _known_only(response: dict[str, Any] | None, known: set[str]) -> dict[str, Any] | None:
    """A response without the entries of policies the reference pack did not have, and without
    memory addresses."""
    if response is None:
        return None
    out = dict(response)
    for key in ("diagnostics", "notApplicable"):
        kept = [
            _entry(e)
            for e in response.get(key, [])
            if e.get("policyName") in known and e.get("policyName") not in RECHECKED
        ]
        out.pop(key, None)
        if kept:
            out[key] = kept
    return out


def test_the_golden_comes_from_the_pack_before_the_change(golden: policy_golden.Golden) -> None:
    assert golden.pack_commit.startswith("134caf3")
    assert {c.id for c in golden.cases} == set(golden.results)
    assert len(golden.cases) > 15_000
    # The corpus makes every policy speak at least once, so each one's verdicts are compared.
    spoken = {
        d["policyName"]
        for result in golden.results.values()
        for response in [*result["analyze"], result["stack"] or {}]
        for d in response.get("diagnostics", [])
    }
    assert spoken == set(golden.policies)
    assert len(golden.policies) == 51
    assert len(golden.stacks["dev-50"]) > 650


def test_the_benchmarks_page_counts_the_recorded_policies(golden: policy_golden.Golden) -> None:
    # docs/benchmarks.md says how many policies the corpus makes speak: the recording's, which the
    # pack has outgrown (policies added since are not compared).
    text = (runner.ROOT / "docs" / "benchmarks.md").read_text()
    counts = re.findall(r"the recorded pack's (\d+) policies", text)
    assert counts == [str(len(golden.policies))]
    assert len(pack_module.all_policies()) > len(golden.policies)
    assert set(golden.policies) <= {p.name for p in pack_module.all_policies()}


# The replay in shards (every SHARDS-th case), so that pytest-xdist runs them on all cores.
SHARDS = 4


@pytest.mark.parametrize("shard", range(SHARDS))
def test_pack_gives_the_recorded_verdicts(golden: policy_golden.Golden, shard: int) -> None:
    known = set(golden.policies)
    mismatches = []
    cases = golden.cases[shard::SHARDS]
    assert len(cases) >= len(golden.cases) // SHARDS  # together the shards replay every case
    with PolicyPackServer() as pack:
        assert known <= {p.name for p in pack.info().policies}
        for case in cases:
            got = policy_golden.run_case(pack, case)
            want = golden.results[case.id]
            got_all = [_known_only(r, known) for r in got["analyze"]] + [
                _known_only(got["stack"], known)
            ]
            want_all = [_known_only(r, known) for r in want["analyze"]] + [
                _known_only(want["stack"], known)
            ]
            if got_all != want_all:
                mismatches.append((case.id, want_all, got_all))
    assert not mismatches, mismatches[:3]


# --- the servicer against the SDK's, in-process ------------------------------------------------


def _extra_policies() -> list[Policy]:
    """A policy of every shape the dispatcher must treat as the SDK does."""

    def any_type(args: ResourceValidationArgs, report: Any) -> None:
        report(f"saw {args.resource_type} with {len(args.props)} properties", None)

    async def awaitable(args: ResourceValidationArgs, report: Any) -> None:
        if args.resource_type == NAMESPACE:
            report("async", args.urn)

    def not_applicable(args: ResourceValidationArgs, report: Any) -> None:
        if args.resource_type == ROLE:
            args.not_applicable("roles are out of scope")

    def reads_everything(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
        yield f"{sorted(props)}"  # reads each key: unknowns raise

    async def remediate(args: ResourceValidationArgs) -> Mapping[str, Any]:
        return args.props

    def stack_counts(args: StackValidationArgs, report: Any) -> None:
        report(f"{len(args.resources)} resources; tags {dict(args.stack_tags)}", None)

    return [
        ResourceValidationPolicy(name="x-any-type", description="d", validate=any_type),
        ResourceValidationPolicy(name="x-async", description="d", validate=awaitable),
        ResourceValidationPolicy(name="x-remediate-only", description="d", remediate=remediate),
        ResourceValidationPolicy(name="x-not-applicable", description="d", validate=not_applicable),
        resource_policy(
            Meta("x-suffix-filter", "d", ADVISORY),
            lambda t: t.endswith(":Role"),
            reads_everything,
        ),
        resource_policy(Meta("x-typed", "d", MANDATORY), of_type(NAMESPACE), reads_everything),
        StackValidationPolicy(name="x-stack", description="d", validate=stack_counts),
    ]


def _servicers(policies: list[Policy]) -> tuple[Any, DispatchingServicer]:
    stock = _PolicyAnalyzerServicer(
        pack_module.PACK_NAME, VERSION, policies, EnforcementLevel.MANDATORY
    )
    ours = DispatchingServicer(pack_module.PACK_NAME, policies, EnforcementLevel.MANDATORY)
    return stock, ours


def _configure(servicer: Any, levels: Mapping[str, Any], tags: dict[str, str]) -> None:
    request = proto.ConfigureAnalyzerRequest()
    for name, level in levels.items():
        request.policyConfig[name].CopyFrom(proto.PolicyConfig(enforcementLevel=level))
    servicer.Configure(request, None)
    servicer.ConfigureStack(proto.AnalyzerStackConfigureRequest(tags=tags), None)


def _requests(regs: list[Registration]) -> Iterator[Any]:
    for r in regs:
        yield analyze_request(r)
        for key in r.wire:
            yield analyze_request(r, {**r.wire, key: UNKNOWN})


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_servicer_answers_like_the_sdk(stack_name: str) -> None:
    """Today's stack (so policies added after the golden are covered too), each resource whole and
    with each property unknown, under three configurations: defaults; every policy in turn
    advisory, disabled or remediate; stack tags set."""
    policies = [*pack_module.all_policies(), *_extra_policies()]
    regs = runner.run(stack_name).registrations
    requests = list(_requests(regs))
    names = [p.name for p in policies]
    levels = [proto.ADVISORY, proto.DISABLED, proto.REMEDIATE, proto.MANDATORY]
    configs = [
        ({}, {}),
        ({n: levels[i % len(levels)] for i, n in enumerate(names)}, {"team": "ml"}),
        ({n: levels[(i + 1) % len(levels)] for i, n in enumerate(names)}, {}),
    ]
    stock, ours = _servicers(policies)
    compared = Counter[str]()
    for levels_by_name, tags in configs:
        _configure(stock, levels_by_name, tags)
        _configure(ours, levels_by_name, tags)
        for request in requests:
            want = stock.Analyze(request, None).SerializeToString(deterministic=True)
            assert ours.Analyze(request, None).SerializeToString(deterministic=True) == want
            compared["analyze"] += 1
        for resources in (regs, [dataclasses.replace(r, wire={}) for r in regs], regs[::2]):
            request = stack_request(resources)
            want = stock.AnalyzeStack(request, None).SerializeToString(deterministic=True)
            assert ours.AnalyzeStack(request, None).SerializeToString(deterministic=True) == want
            compared["stack"] += 1
    assert compared["analyze"] > 3 * 100
    # The extra policies did speak (the comparison covered their branches).
    _configure(ours, {}, {})
    response = ours.Analyze(analyze_request(regs[1]), None)
    assert {d.policyName for d in response.diagnostics} >= {"x-any-type"}
    assert {n.policy_name for n in response.not_applicable} == {"x-remediate-only"}


def test_an_of_type_policy_runs_only_on_its_types() -> None:
    seen: list[str] = []

    def check(_props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
        seen.append(args.resource_type)
        yield "flagged"

    filtered_seen: list[str] = []

    def filtered(_props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
        filtered_seen.append(args.resource_type)
        return iter(())

    typed = resource_policy(Meta("x-typed", "d", MANDATORY), of_type(NAMESPACE, ROLE), check)
    other = resource_policy(Meta("x-other", "d", MANDATORY), lambda t: True, filtered)
    assert isinstance(typed, TypedResourcePolicy) and isinstance(other, ResourceValidationPolicy)
    assert typed.types == frozenset({NAMESPACE, ROLE})
    assert getattr(other, "types", None) is None
    servicer = DispatchingServicer("p", [typed, other], EnforcementLevel.MANDATORY)
    for kind in (NAMESPACE, "gcp:storage/bucket:Bucket", ROLE):
        urn = f"urn:pulumi:s::p::{kind}::n"
        reg = Registration(kind, "n", urn, "", True, {}, {}, [], {}, False, [], "", wire={"a": 1})
        servicer.Analyze(analyze_request(reg), None)
    assert seen == [NAMESPACE, ROLE]
    assert filtered_seen == [NAMESPACE, "gcp:storage/bucket:Bucket", ROLE]
    # of_type keeps its contract: a predicate on the type.
    assert of_type(ROLE)(ROLE) is True and of_type(ROLE)(NAMESPACE) is False


def test_every_of_type_policy_of_the_pack_is_indexed() -> None:
    policies = pack_module.all_policies()
    typed = [p for p in policies if getattr(p, "types", None)]
    assert len(typed) >= 40, [p.name for p in policies if p not in typed]
    # The rest run on every resource; today only the IAM-member filters.
    assert sorted(
        p.name for p in policies if isinstance(p, ResourceValidationPolicy) and p not in typed
    ) == ["iam-no-primitive-roles", "iam-no-public-members"]


# --- stack policies stay linear ----------------------------------------------------------------


class _Counted(PolicyResource):
    """Counts reads of `props` and `parent`: the work a stack policy does on the resource."""

    reads: Counter[str] = Counter()

    def __getattribute__(self, name: str) -> Any:
        if name in ("props", "parent"):
            _Counted.reads[name] += 1
        return super().__getattribute__(name)


def _first_deployments(regs: list[Registration], keep: int) -> list[Registration]:
    """The stack with only its first `keep` Airflow deployments (and all else)."""
    kinds = (stack.DEPLOYMENT, remote.REMOTE_AGENT)
    tops = [r.urn for r in regs if r.type in kinds]
    dropped = set(tops[keep:])
    out: list[Registration] = []
    gone: set[str] = set()
    for r in regs:  # parents come before their children
        if r.urn in dropped or r.parent in gone:
            gone.add(r.urn)
        else:
            out.append(r)
    return out


def _cloned_deployments(regs: list[Registration], copies: int) -> list[Registration]:
    """The stack with each Airflow deployment (hosted and remote) present `copies` times: its
    subtree repeated with its short name (e.g. batch-remote) made unique in every URN, name and
    property (bucket names, identities)."""
    tops = [r for r in regs if r.type == stack.DEPLOYMENT]
    prefix = os.path.commonprefix([r.name for r in tops])
    subtree: dict[str, str] = {r.urn: r.name.removeprefix(prefix) for r in tops}
    for r in regs:  # parents come before their children
        if r.parent in subtree:
            subtree[r.urn] = subtree[r.parent]
    out = [r for r in regs if r.urn not in subtree]
    for i in range(copies):
        for r in regs:
            if r.urn in subtree:
                short = subtree[r.urn]
                doc = json.dumps(dataclasses.asdict(r) | {"secret_inputs": []})
                clone = json.loads(doc.replace(short, f"{short}-c{i}"))
                out.extend(load_registrations({"registrations": [clone]}))
    return out


def _reads(policy: StackValidationPolicy, regs: list[Registration]) -> int:
    servicer = DispatchingServicer("p", [policy], EnforcementLevel.MANDATORY)
    resources = servicer._resources(stack_request(regs))
    counted: list[PolicyResource] = []
    for r in resources:
        c = _Counted.__new__(_Counted)
        c.__dict__.update(r.__dict__)
        counted.append(c)
    by_urn = {resource.urn: resource for resource in counted}
    for resource in counted:
        if resource.parent is not None:
            resource.parent = by_urn[resource.parent.urn]
    _Counted.reads.clear()

    def report(message: str, urn: str | None = None) -> None:
        pass

    policy.validate(StackValidationArgs(counted, {}), report)
    return sum(_Counted.reads.values())


def test_stack_policies_are_linear_in_deployments(golden: policy_golden.Golden) -> None:
    regs = golden.stacks["dev-50"]
    stack_policies = [p for p in pack_module.all_policies() if isinstance(p, StackValidationPolicy)]
    assert len(stack_policies) >= 5
    for policy in stack_policies:
        small = _reads(policy, _first_deployments(regs, 10))
        large = _reads(policy, _first_deployments(regs, 40))
        # 4x the deployments: a linear policy does at most 4x the reads (a quadratic one ~16x).
        assert large <= 4 * small + 50, (policy.name, small, large)


def test_stack_policies_are_linear_in_remote_and_hosted_deployments(
    golden: policy_golden.Golden,
) -> None:
    """prod's three deployments (two hosted, one Remote Execution agent with its XCom bucket)
    repeated 3 and 12 times: the agent and launcher policies, too, do 4x the reads at most."""
    regs = golden.stacks["prod"]
    small_stack, large_stack = _cloned_deployments(regs, 3), _cloned_deployments(regs, 12)
    agents = [r for r in large_stack if r.type == remote.REMOTE_AGENT]
    assert len(agents) == 12
    assert len({r.urn for r in large_stack}) == len(large_stack)
    for policy in (p for p in pack_module.all_policies() if isinstance(p, StackValidationPolicy)):
        small, large = _reads(policy, small_stack), _reads(policy, large_stack)
        assert large <= 4 * small + 50, (policy.name, small, large)
