"""Pulumi mocks for running the real program offline, and a monitor that records every registration.

Values the cloud would compute (emails, endpoints, the cluster CA) are invented here and are
recognisable as placeholders: see :data:`PLACEHOLDERS`. Output names are camelCase, as the
provider schema spells them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2

PROJECT_NUMBER = "123456789012"
PLACEHOLDER_CA_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "UExBQ0VIT0xERVItQ0EtaW52ZW50ZWQtYnktdGhlLW9mZmxpbmUtbW9ja3M=\n"
    "-----END CERTIFICATE-----\n"
)
# The control plane's internal endpoint a cluster reports (a placeholder, like the endpoint).
PRIVATE_ENDPOINT = "203.0.113.2"
SECRET_SIG = rpc._special_secret_sig  # the wire marker of a secret value


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12]


@dataclass
class Registration:
    """One RegisterResource call, as the engine would have received it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    ignore_changes: list[str]
    provider: str
    secret_inputs: set[str] = field(default_factory=set)
    # The inputs exactly as serialized on the wire (secrets still marked): what the engine
    # forwards to policy packs.
    wire: dict[str, Any] = field(default_factory=dict)
    # The id the mocks returned, and the resource options that decide how a change is applied
    # (offline/review.py): replacement order, replaceOnChanges, what a delete leaves behind.
    id: str = ""
    delete_before_replace: bool = False
    replace_on_changes: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    deleted_with: str = ""


class PlaceholderMocks(pulumi.runtime.Mocks):
    """Invents the outputs a real provider would return, deterministically.

    ``ca_pem`` and ``endpoint_host`` let a test substitute a CA it controls (e.g. trustme's) and a
    local server address.
    """

    def __init__(self, ca_pem: str = PLACEHOLDER_CA_PEM, endpoint_host: str | None = None):
        self.ca_pem = ca_pem
        self.endpoint_host = endpoint_host

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "gcp:organizations/getProject:getProject":
            pid = args.args.get("projectId", "placeholder-project")
            return {
                "projectId": pid,
                "number": PROJECT_NUMBER,
                "name": pid,
                "id": f"projects/{pid}",
            }
        raise NotImplementedError(f"offline mocks do not answer {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        if not args.custom:
            return "", {}
        handler = _OUTPUTS.get(args.typ)
        rid, extra = handler(self, args.name, inputs) if handler else (f"{args.name}-id", {})
        return rid, {**inputs, **extra}


def _account(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    email = f"{i['accountId']}@{i['project']}.iam.gserviceaccount.com"
    return f"projects/{i['project']}/serviceAccounts/{email}", {
        "email": email,
        "member": f"serviceAccount:{email}",
        "uniqueId": str(int(_short_hash(email), 16))[:21],
        "name": f"projects/{i['project']}/serviceAccounts/{email}",
    }


def _cluster(m: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    region = i["location"] if i["location"].count("-") == 1 else i["location"].rsplit("-", 1)[0]
    dns = m.endpoint_host or f"gke-{_short_hash(i['project'], i['name'])}.{region}.gke.goog"
    cpe = dict(i.get("controlPlaneEndpointsConfig") or {})
    cpe["dnsEndpointConfig"] = {**(cpe.get("dnsEndpointConfig") or {}), "endpoint": dns}
    master_auth = {**(i.get("masterAuth") or {}), "clusterCaCertificate": _b64(m.ca_pem)}
    return f"projects/{i['project']}/locations/{i['location']}/clusters/{i['name']}", {
        "endpoint": m.endpoint_host or "203.0.113.10",
        "masterAuth": master_auth,
        "controlPlaneEndpointsConfig": cpe,
        # A Private Service Connect cluster (no masterIpv4CidrBlock given) reports its internal
        # endpoint and no control-plane /28 (telepresenceio/telepresence.io#303).
        "privateClusterConfig": {
            **(i.get("privateClusterConfig") or {}),
            **(
                {}
                if (i.get("privateClusterConfig") or {}).get("masterIpv4CidrBlock")
                else {"privateEndpoint": PRIVATE_ENDPOINT}
            ),
        },
        "selfLink": f"https://container.googleapis.com/v1/projects/{i['project']}/locations/{i['location']}/clusters/{i['name']}",
    }


def _network(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = f"projects/{i['project']}/global/networks/{i['name']}"
    return rid, {"selfLink": f"https://www.googleapis.com/compute/v1/{rid}"}


def _subnetwork(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = f"projects/{i['project']}/regions/{i['region']}/subnetworks/{i['name']}"
    return rid, {"selfLink": f"https://www.googleapis.com/compute/v1/{rid}"}


def _custom_role(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = f"projects/{i['project']}/roles/{i['roleId']}"
    return rid, {"name": rid}


def _service_identity(
    _: PlaceholderMocks, name: str, i: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    agent = i["service"].split(".")[0]
    email = f"service-{PROJECT_NUMBER}@gcp-sa-{agent}.iam.gserviceaccount.com"
    return f"projects/{i['project']}/services/{i['service']}", {
        "email": email,
        "member": f"serviceAccount:{email}",
    }


def _secret(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"projects/{i['project']}/secrets/{i['secretId']}", {
        "name": f"projects/{PROJECT_NUMBER}/secrets/{i['secretId']}"
    }


def _node_pool(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # The provider's name_prefix rule: a prefix of up to 14 characters gets a 24-digit timestamp
    # and counter, a longer one 9 random characters (pulumi-gcp NodePool `name_prefix`).
    prefix = str(i.get("namePrefix") or "")
    digest = str(int(hashlib.sha256(f"{i['cluster']}/{name}".encode()).hexdigest(), 16))
    pool = i.get("name") or (
        f"{prefix}{digest[:24]}" if len(prefix) <= 14 else f"{prefix}{_short_hash(name)[:9]}"
    )
    return f"{i['cluster']}/nodePools/{pool}", {"name": pool}


def _pool(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = (
        f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
        f"{i['workloadIdentityPoolId']}"
    )
    return rid, {"name": rid}


def _pool_provider(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = (
        f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
        f"{i['workloadIdentityPoolId']}/providers/{i['workloadIdentityPoolProviderId']}"
    )
    return rid, {"name": rid}


def _key_ring(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"projects/{i['project']}/locations/{i['location']}/keyRings/{i['name']}", {}


def _crypto_key(_: PlaceholderMocks, name: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"{i['keyRing']}/cryptoKeys/{i['name']}", {}


_OUTPUTS = {
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": _pool,
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": _pool_provider,
    "gcp:kms/keyRing:KeyRing": _key_ring,
    "gcp:kms/cryptoKey:CryptoKey": _crypto_key,
    "gcp:container/nodePool:NodePool": _node_pool,
    "gcp:projects/iAMCustomRole:IAMCustomRole": _custom_role,
    "gcp:projects/serviceIdentity:ServiceIdentity": _service_identity,
    "gcp:secretmanager/secret:Secret": _secret,
    "gcp:serviceaccount/account:Account": _account,
    "gcp:container/cluster:Cluster": _cluster,
    "gcp:compute/network:Network": _network,
    "gcp:compute/subnetwork:Subnetwork": _subnetwork,
}

# Values that only the mocks produce; the preview marks them.
PLACEHOLDERS = ("gke.goog", "203.0.113.", PROJECT_NUMBER, _b64(PLACEHOLDER_CA_PEM))


def _unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == SECRET_SIG:
            return _unwrap_secrets(value.get("value"))
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def _secret_paths(value: Any, path: str = "") -> set[str]:
    """Top-level input names whose wire value is (or contains) a secret."""
    found: set[str] = set()
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == SECRET_SIG:
            return {path}
        for k, v in value.items():
            found |= _secret_paths(v, path or k)
    elif isinstance(value, list):
        for v in value:
            found |= _secret_paths(v, path)
    return found


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, plus a record of each request's options and dependency edges.
    `on_register`, when given, sees each registration as it happens (e.g. to analyze it while the
    program goes on)."""

    def __init__(
        self,
        mocks: pulumi.runtime.Mocks,
        on_register: Callable[[Registration], None] | None = None,
    ):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.on_register = on_register

    def RegisterResource(self, request: Any) -> Any:
        """MockMonitor.RegisterResource, with the reply built by protobuf's C `Struct.update`
        instead of the SDK's async serializer: the mocked states are plain JSON values, for which
        both produce the same Struct (checked by tests/test_mocks.py), and the request is
        deserialized once. Everything the program does stays the real SDK."""
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        pulumi_mocks._ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        resource_args = pulumi.runtime.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=pulumi_mocks._resolve_callbacks(request.transforms),
        )
        id_or_none, state = self.mocks.new_resource(resource_args)
        id_ = id_or_none or ""
        reply = struct_pb2.Struct()
        reply.update(state)
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)

        wire = json_format.MessageToDict(request.object)
        registration = Registration(
            type=request.type,
            name=request.name,
            urn=urn,
            parent=request.parent,
            custom=bool(request.custom),
            inputs=_unwrap_secrets(inputs),
            outputs=_unwrap_secrets(state),
            # The SDK collects these in sets: sorted, so a record does not depend on hash order.
            dependencies=sorted(request.dependencies),
            property_dependencies={
                k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())
            },
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            provider=request.provider,
            secret_inputs=_secret_paths(wire),
            wire=wire,
            id=id_,
            delete_before_replace=bool(request.deleteBeforeReplace),
            replace_on_changes=list(request.replaceOnChanges),
            retain_on_delete=bool(request.retainOnDelete),
            deleted_with=request.deletedWith,
        )
        self.registrations.append(registration)
        if self.on_register is not None:
            self.on_register(registration)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=reply)
