"""Authentication and authorization for the fake Kubernetes API server (`fake_kube`): the bearer
token, the DNS endpoint's IAM gate and RBAC from the stack's Roles and RoleBindings, and the record
of every call as the RBAC check it needs (`AuthChain` is mixed into `FakeKube`)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from fake_google import Minted, TokenRegistry

CONNECT = "container.clusters.connect"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
# Discovery is open to every authenticated user (the system:discovery ClusterRole).
DISCOVERY = ("/version", "/api", "/apis", "/api/v1")
SA_PREFIX = "system:serviceaccount:"


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
    (the API server's bearertoken authenticator lower-cases it; the Python client's in-cluster
    loader sends `bearer`)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    user: str | None = None  # the Kubernetes username the token maps to; None: 401
    via: str = ""  # who minted the token: "oauth" (the identity's own key) or its impersonator
    token: str = ""  # the bearer token, when it was one the fake Google endpoints minted
    status: int = 200  # what the auth chain answered (200: passed to the handler)
    denied_by: str = ""  # "authentication", "iam" (DNS endpoint gate) or "rbac"
    message: str = ""
    at: float = field(default_factory=time.time)

    @property
    def authorized(self) -> bool:
        return self.user is not None

    @property
    def allowed(self) -> bool:
        return self.status == 200

    @property
    def checks(self) -> list[tuple[str, str, str]]:
        """The RBAC checks the API server makes: exec over a websocket arrives as GET and, on
        Kubernetes >= 1.35, is authorized as create too (kubernetes/kubernetes#134577)."""
        if self.subresource == "exec":
            return [("get", "pods/exec", self.namespace), ("create", "pods/exec", self.namespace)]
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return [(self.verb, resource, self.namespace)]


@dataclass
class Access:
    """What GKE authorizes with, derived from the stack's registrations."""

    registry: TokenRegistry
    # (namespace, username) -> the rules of every Role bound to that user there
    rbac: dict[tuple[str, str], list[dict[str, list[str]]]]
    # members holding container.clusters.connect on the project; None: IP endpoint, no gate
    connect_members: set[str] | None
    cluster: str  # projects/<p>/locations/<l>/clusters/<c>
    # tokens the API server issued itself (service accounts, the control plane) -> username
    issued: dict[str, str] = field(default_factory=dict)
    # usernames RBAC does not restrict (GKE's own control plane, which drains nodes)
    admins: set[str] = field(default_factory=set)

    @classmethod
    def from_export(
        cls, data: dict[str, Any], registry: TokenRegistry, *, dns_endpoint: bool
    ) -> Access:
        rules = {(r["namespace"], r["name"]): r["rules"] for r in data["rbac_roles"]}
        rbac: dict[tuple[str, str], list[dict[str, list[str]]]] = {}
        for binding in data["role_bindings"]:
            ref = binding["role_ref"]
            if ref["kind"] != "Role":
                raise NotImplementedError(f"RoleBinding to a {ref['kind']}: not emulated")
            for subject in binding["subjects"]:
                if subject["kind"] == "User":
                    user = subject["name"]
                elif subject["kind"] == "ServiceAccount":
                    user = f"{SA_PREFIX}{subject['namespace']}:{subject['name']}"
                else:
                    raise NotImplementedError(f"RoleBinding subject {subject['kind']}")
                key = (binding["namespace"], user)
                rbac.setdefault(key, []).extend(rules[(binding["namespace"], ref["name"])])
        c = data["cluster"]
        connect = None
        if dns_endpoint:
            # Only the stack's custom roles are known here; the predefined roles it grants (node
            # service account roles) hold no container.clusters.* permission.
            connect = {
                m["member"]
                for m in data["project_iam_members"]
                if m["project"] == c["project"]
                and CONNECT in data["custom_roles"].get(m["role"], [])
            }
        return cls(
            registry,
            rbac,
            connect,
            f"projects/{c['project']}/locations/{c['location']}/clusters/{c['name']}",
        )

    def token(self, authorization: str | None) -> Minted | None:
        token = bearer(authorization)
        return self.registry.lookup(token) if token else None

    @staticmethod
    def username(minted: Minted) -> str:
        if EMAIL_SCOPE in minted.scopes:
            return minted.identity
        return str(int.from_bytes(minted.identity.encode()[:8], "big"))  # stands for the unique id

    def issue(self, username: str, *, admin: bool = False) -> str:
        token = f"issued-{secrets.token_urlsafe(24)}"
        self.issued[token] = username
        if admin:
            self.admins.add(username)
        return token

    def allows(self, user: str, verb: str, resource: str, namespace: str) -> bool:
        if user in self.admins:
            return True
        return any(
            "" in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
            for r in self.rbac.get((namespace, user), [])
        )


class AuthChain:
    # --- recording and auth -------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        call = self._rbac_view(request)
        call = Call(**{**call.__dict__, **self._authorize(call, request)})
        self.calls.append(call)
        if call.denied_by == "authentication":
            return self._status(401, "Unauthorized", call.message)
        if call.denied_by == "iam":
            return web.json_response(
                {"error": {"code": 403, "message": call.message, "status": "PERMISSION_DENIED"}},
                status=403,
            )
        if call.denied_by == "rbac":
            return self._status(403, "Forbidden", call.message)
        return await handler(request)

    def _authorize(self, call: Call, request: web.Request) -> dict[str, Any]:
        assert self.access is not None, "FakeKube.access is not set"
        token = bearer(request.headers.get("Authorization"))
        if token in self.access.issued:
            # In-cluster: the internal endpoint, no Google front end, no IAM gate.
            user = self.access.issued[token]
            rbac = self._decide(call, request.path, user, iam_gate=False)
            return {"user": user, "via": "serviceaccount", "token": token, **rbac}
        minted = self.access.token(request.headers.get("Authorization"))
        if minted is None:
            return {"status": 401, "denied_by": "authentication", "message": "Unauthorized"}
        user = self.access.username(minted)
        result = self._decide(call, request.path, user)
        return {"user": user, "via": minted.via, "token": minted.token, **result}

    def _decide(self, call: Call, path: str, user: str, iam_gate: bool = True) -> dict[str, Any]:
        assert self.access is not None
        gate = self.access.connect_members if iam_gate else None
        if gate is not None and f"serviceAccount:{user}" not in gate:
            # The exact body Google's front end sends is not documented; GKE's API words IAM
            # denials like this.
            message = f'Required "{CONNECT}" permission(s) for "{self.access.cluster}".'
            return {"status": 403, "denied_by": "iam", "message": message}
        if not call.resource:  # a non-resource URL
            if path in DISCOVERY:
                return {}
            message = f'forbidden: User "{user}" cannot {call.verb} path "{path}"'
            return {"status": 403, "denied_by": "rbac", "message": message}
        for verb, resource, namespace in call.checks:
            if not self.access.allows(user, verb, resource, namespace):
                # The API server's wording (GKE appends which IAM permission would also do).
                name = f' "{call.name}"' if call.name else ""
                scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
                message = (
                    f'{call.resource}{name} is forbidden: User "{user}" cannot {verb} resource '
                    f'"{resource}" in API group "" {scope}'
                )
                return {"status": 403, "denied_by": "rbac", "message": message}
        return {}

    @staticmethod
    def _rbac_view(request: web.Request) -> Call:
        parts = [p for p in request.path.split("/") if p]
        namespace = resource = subresource = ""
        name = ""
        if len(parts) >= 4 and parts[:3] == ["api", "v1", "namespaces"]:
            namespace = parts[3]
            resource = parts[4] if len(parts) > 4 else "namespaces"
            name = parts[5] if len(parts) > 5 else ""
            subresource = parts[6] if len(parts) > 6 else ""
        elif len(parts) >= 3 and parts[:2] == ["api", "v1"]:
            resource = parts[2]
        verb = {
            "POST": "create",
            "PATCH": "patch",
            "PUT": "update",
            "DELETE": "delete",
        }.get(request.method, "get")
        if request.method == "GET" and resource and not name:
            verb = "watch" if _true(request.query.get("watch")) else "list"
        return Call(
            request.method,
            request.path,
            request.query_string,
            verb,
            resource,
            subresource,
            namespace,
            name,
        )

    @staticmethod
    def _status(code: int, reason: str, message: str) -> web.Response:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": reason,
            "message": message,
            "code": code,
        }
        return web.json_response(body, status=code)
