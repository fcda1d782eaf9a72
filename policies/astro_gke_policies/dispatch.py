"""The pack's Analyzer service: pulumi-policy's own servicer, with `Analyze` and `AnalyzeStack`
doing each request's work once instead of once per policy (issue 22).

pulumi-policy 1.21.0's `_PolicyAnalyzerServicer.Analyze` runs, for every resource policy on every
resource: `json_format.MessageToDict` of the request's properties, `deserialize_properties`, a new
`unknown_checking_proxy` over them, and the resource options; then the policy's own filter, which
for almost every policy says "not my type". With 51 policies that is 51 conversions of the same
Struct per resource, about 5 ms; `AnalyzeStack` likewise converts every resource once per stack
policy. Here:

- each request's properties, options and provider are converted once, when the first policy
  that runs needs them, and the result is handed to every policy that runs (policies read
  `args.props`; none may write to it); a resource no policy applies to is not converted at all;
- the conversion is `struct_to_dict` (the same dict as `json_format.MessageToDict`, about four
  times faster), then the SDK's own `deserialize_properties` and `unknown_checking_proxy`;
- resource policies are indexed by resource type: a policy built with `define.resource_policy`
  and an `of_type(...)` filter runs only on its types (its filter would return at once on any
  other); one with an `on_type(test)` filter (a pure function of the type) only on the types its
  test accepts, asked once per type; every other resource policy (another filter, or a plain
  `ResourceValidationPolicy`) runs on every resource, as before;
- the runtime set-up the SDK repeats on every request keeps its effect but parses the stack's
  config once (`_configure_runtime_settings`);
- `AnalyzeStack` builds the resource graph once for all stack policies.

One difference no verdict shows: the SDK converts a resource's properties even when no policy
applies to it, so a property the engine could never send (an unknown special signature) made
`Analyze` fail; here it fails only when a policy runs on that resource.

Everything else is the SDK's, unchanged: which policies run and in which order, enforcement
levels and config (`Configure` can change them between calls), the violation and "can't run
during preview" diagnostics, not-applicable entries, awaitable validations, GetAnalyzerInfo,
Configure, ConfigureStack and Remediate. tests/test_policy_verdicts.py checks that this servicer
and the SDK's answer byte-for-byte the same, and that the served pack still gives the verdicts
recorded from the pack before this change.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from concurrent import futures
from inspect import isawaitable, signature
from typing import Any, cast

import grpc
import pulumi.runtime
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyProviderResource,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as sdk
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

# What `PolicyPack` passes the servicer (Python packs take their version from PulumiPolicy.yaml).
VERSION = "0.0.1"

# Whether this SDK's `Settings` takes an organization (the SDK asks on every request).
_SETTINGS_TAKE_ORGANIZATION = "organization" in signature(pulumi.runtime.Settings).parameters


class TypedResourcePolicy(ResourceValidationPolicy):
    """A resource policy that names the resource types it can apply to (`types`; None: any type)
    or, instead, a pure function of the type that says so (`type_test`: asked once per type).
    Its validation still checks the type itself, so it behaves the same under any servicer."""

    def __init__(
        self,
        types: frozenset[str] | None,
        type_test: Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.types = types
        self.type_test = type_test


def _may_apply(policy: ResourceValidationPolicy, resource_type: str) -> bool:
    types: frozenset[str] | None = getattr(policy, "types", None)
    if types is not None:
        return resource_type in types
    type_test: Callable[[str], bool] | None = getattr(policy, "type_test", None)
    return type_test is None or bool(type_test(resource_type))


def _number(value: float) -> float:
    # json_format.MessageToDict refuses these (a JSON number cannot be NaN or infinite),
    # in the same words.
    if math.isinf(value) or math.isnan(value):
        name = "Infinity" if math.isinf(value) else "NaN"
        raise ValueError(
            f"Fail to serialize {name} for Value.number_value, which would parse as string_value"
        )
    return value


def _value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return {k: _value(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_value(v) for v in value.list_value.values]
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        return _number(value.number_value)
    return None  # null_value, or no value set


def struct_to_dict(struct: Any) -> dict[str, Any]:
    """`json_format.MessageToDict` of a `google.protobuf.Struct` (what the SDK converts each
    request's properties with), about four times faster: the same values (None, bool, float,
    str, list, dict) with the keys in the same order (tests/test_policy_struct.py)."""
    return {k: _value(v) for k, v in struct.fields.items()}


def _properties(struct: Any) -> Any:
    """A request's properties as the SDK hands them to a policy."""
    return unknown_checking_proxy(deserialize_properties(struct_to_dict(struct)))


def _run(result: Any) -> None:
    """The SDK's way of finishing an awaitable validation."""
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        task = asyncio.Task(cast(Coroutine[Any, Any, Any], result), loop=loop)
        loop.run_until_complete(task)
        loop.close()


class DispatchingServicer(sdk._PolicyAnalyzerServicer):
    def __init__(
        self,
        name: str,
        policies: list[Policy],
        enforcement_level: EnforcementLevel,
        description: str | None = None,
    ) -> None:
        if not sdk._POLICY_PACK_NAME_RE.match(name):  # PolicyPack's check
            raise TypeError(f"Invalid policy pack name {name}")
        super().__init__(name, VERSION, policies, enforcement_level, description=description)
        self._name = name
        self._resource_policies = [p for p in policies if isinstance(p, ResourceValidationPolicy)]
        # Per resource type, the resource policies that may apply to it, in pack order (the order
        # of the diagnostics); filled as types arrive (a type's list never changes).
        self._by_type: dict[str, list[ResourceValidationPolicy]] = {}
        self._stack_policies = [p for p in policies if isinstance(p, StackValidationPolicy)]
        self._config: tuple[str, dict[str, Any]] | None = None  # PULUMI_CONFIG, parsed

    def _policies_for(self, resource_type: str) -> list[ResourceValidationPolicy]:
        found = self._by_type.get(resource_type)
        if found is None:
            found = [p for p in self._resource_policies if _may_apply(p, resource_type)]
            self._by_type[resource_type] = found
        return found

    def _configure_runtime_settings(self) -> None:
        """The SDK's, minus the work that gives the same answer on every request.

        grpc runs each call in a fresh `contextvars.Context`, so the SDK sets the Pulumi runtime
        up again on every request from the environment the engine started the pack with
        (pulumi's analyzer_plugin.go `constructEnv`: PULUMI_CONFIG, the stack's whole config as
        JSON, and PULUMI_ORGANIZATION/PROJECT/STACK/DRY_RUN). That is kept, and so is a new
        `Settings` per request; what is not redone is parsing PULUMI_CONFIG (kept while the
        variable holds the same text and every value is a string, which nothing can change)
        and `inspect.signature(Settings)` (a property of the installed SDK). Together they were
        0.14-0.30 ms a request at 1-100 deployments, more than every policy's work."""
        raw = os.environ.get("PULUMI_CONFIG")
        if raw is not None:
            cached = self._config
            if cached is not None and cached[0] == raw:
                config = cached[1]
            else:
                config = pulumi.runtime.get_config_env()
                if all(isinstance(v, str) for v in config.values()):
                    self._config = (raw, config)  # else parsed afresh each time, as before
            for key, value in config.items():
                pulumi.runtime.set_config(key, value)
        if (
            "PULUMI_PROJECT" in os.environ
            and "PULUMI_STACK" in os.environ
            and "PULUMI_DRY_RUN" in os.environ
        ):
            settings_args: dict[str, Any] = {
                "project": os.environ["PULUMI_PROJECT"],
                "stack": os.environ["PULUMI_STACK"],
                "dry_run": os.environ["PULUMI_DRY_RUN"] == "true",
            }
            if _SETTINGS_TAKE_ORGANIZATION:
                settings_args["organization"] = os.environ.get(
                    "PULUMI_ORGANIZATION", "organization"
                )
            pulumi.runtime.configure(pulumi.runtime.Settings(**settings_args))

    def _stack_tags(self) -> Mapping[str, str]:
        tags: Mapping[str, str] = self._PolicyAnalyzerServicer__stack_tags  # type: ignore[attr-defined]
        return tags

    def _cannot_run(self, response: Any, policy: Policy, error: UnknownValueError) -> None:
        response.diagnostics.append(
            proto.AnalyzeDiagnostic(
                policyName=policy.name,
                policyPackName=self._name,
                policyPackVersion=VERSION,
                message=(
                    f"can't run policy '{policy.name}' from policy pack "
                    f"'{self._name}@v{VERSION}' during preview: {error.message}"
                ),
                urn="",
                description=policy.description,
                enforcementLevel=self._map_enforcement_level(EnforcementLevel.ADVISORY),
            )
        )

    def _validate(self, response: Any, policy: Any, args: Any, report: Any) -> None:
        """The SDK's try/except around one policy's validation."""
        try:
            _run(policy.validate(args, report))
        except UnknownValueError as e:
            self._cannot_run(response, policy, e)
        except sdk._NotApplicableError as e:
            response.not_applicable.append(
                proto.PolicyNotApplicable(policy_name=policy.name, reason=e.reason or "")
            )

    def Analyze(self, request: Any, _context: Any) -> Any:
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        # Converted once, when the first policy runs: a resource no policy applies to costs no
        # conversion at all.
        args: tuple[Any, ...] | None = None
        for policy in self._policies_for(request.type):
            level = self._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED:
                continue
            if not policy.has_validation():
                response.not_applicable.append(
                    proto.PolicyNotApplicable(
                        policy_name=policy.name, reason="Policy does not implement validate"
                    )
                )
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            report = self._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
            if args is None:
                args = (
                    _properties(request.properties),
                    self._get_resource_options(request),
                    self._get_provider_resource(request),
                    self._stack_tags(),
                )
            props, opts, provider, stack_tags = args
            validation_args = ResourceValidationArgs(
                request.type,
                props,
                request.urn,
                request.name,
                opts,
                provider,
                self._get_policy_config(policy.name),
                stack_tags,
            )
            self._validate(response, policy, validation_args, report)
        return response

    def _get_provider_resource(self, request: Any) -> PolicyProviderResource | None:
        """The SDK's, with the faster conversion of the provider's properties."""
        if not request.HasField("provider"):
            return None
        provider = request.provider
        return PolicyProviderResource(
            provider.type, _properties(provider.properties), provider.urn, provider.name
        )

    def _resources(self, request: Any) -> list[PolicyResource]:
        """The stack's resources with parents and dependencies linked, as the SDK builds them."""
        resources: list[PolicyResource] = []
        links: list[tuple[str, list[str], dict[str, list[str]]]] = []
        for r in request.resources:
            resources.append(
                PolicyResource(
                    r.type,
                    _properties(r.properties),
                    r.urn,
                    r.name,
                    self._get_resource_options(r),
                    self._get_provider_resource(r),
                    None,
                    [],
                    {},
                )
            )
            deps = {k: list(v.urns) for k, v in r.propertyDependencies.items()}
            links.append((r.parent, list(r.dependencies), deps))
        by_urn = {r.urn: r for r in resources}
        for resource, (parent, dependencies, property_dependencies) in zip(
            resources, links, strict=True
        ):
            if parent in by_urn:
                resource.parent = by_urn[parent]
            resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
            for k, urns in property_dependencies.items():
                resource.property_dependencies[k] = [by_urn[d] for d in urns if d in by_urn]
        return resources

    def AnalyzeStack(self, request: Any, _context: Any) -> Any:
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        resources: list[PolicyResource] | None = None
        for policy in self._stack_policies:
            level = self._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED:
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            report = self._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
            if resources is None:
                resources = self._resources(request)
            args = StackValidationArgs(
                resources, self._get_policy_config(policy.name), self._stack_tags()
            )
            self._validate(response, policy, args, report)
        return response


def serve(servicer: DispatchingServicer) -> None:
    """What `pulumi_policy.PolicyPack` does once it has its servicer: serve the Analyzer service
    on 127.0.0.1 (the SDK's gRPC options and worker count), print the port on stdout, block."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), options=sdk._GRPC_CHANNEL_OPTIONS
    )
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, server)
    port = server.add_insecure_port(address="127.0.0.1:0")
    server.start()
    sys.stdout.buffer.write(f"{port}\n".encode())
    sys.stdout.flush()
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(0)
