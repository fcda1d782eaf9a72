"""Loopback fakes of the two Google endpoints the real auth chain calls, deciding from the IAM
bindings the stack registered (exported by `offline.export`, never re-typed here):

- `POST /token`: Google's OAuth 2.0 token endpoint, JWT-bearer grant (RFC 7523). The assertion
  is a JWT signed with a service account's key; `iss` names the caller. The signature is checked
  against the public half of that identity's key, generated at run time (`new_key_file`).
- `POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken`: IAM Credentials. The caller
  (the bearer token's identity) gets a token for <email> only if it holds
  `roles/iam.serviceAccountTokenCreator` on that account; otherwise 403 in Google's error shape.

The real `gcloud` and `gke-gcloud-auth-plugin` reach these through a key file whose `token_uri`
is `<base>/token` and `CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS=<base>/`.

Every token minted goes into a `TokenRegistry` (token -> identity, expiry), and into the session
control plane's `Tokeninfo` (kube_real.py), where the real API server's token webhook looks it up
as GKE asks Google.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt
from kube_real import numeric_id, tokeninfo

TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth (gcloud) always signs for Google's own token endpoint; Go's oauth2 (the plugin in
# ADC mode) signs for the key file's token_uri. Google accepts its endpoint as the audience.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
# Google's answer when the caller lacks iam.serviceAccounts.getAccessToken on the target (seen in
# google-github-actions/auth#340 and DataDog/stratus-red-team#299).
DENIED_MESSAGE = (
    "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
)


def denied_body() -> dict[str, Any]:
    return {
        "error": {
            "code": 403,
            "message": DENIED_MESSAGE,
            "status": "PERMISSION_DENIED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "domain": "iam.googleapis.com",
                    "metadata": {"permission": "iam.serviceAccounts.getAccessToken"},
                }
            ],
        }
    }


@dataclass(frozen=True)
class Minted:
    token: str
    identity: str  # the Google service account the token stands for
    expires: float  # time.time()
    via: str  # "oauth" (signed with its own key) or the caller that impersonated it
    scopes: tuple[str, ...]


class TokenRegistry:
    """Access tokens by value. Thread-safe: the two fakes serve from their own threads."""

    def __init__(self, lifetime: float = 3600) -> None:
        self.lifetime = lifetime
        self.tokeninfo = tokeninfo()  # the session's control plane, when there is one
        self._tokens: dict[str, Minted] = {}
        self._lock = threading.Lock()

    def mint(self, identity: str, via: str, scopes: tuple[str, ...]) -> Minted:
        minted = Minted(
            f"ya29.fake-{secrets.token_urlsafe(24)}",
            identity,
            time.time() + self.lifetime,
            via,
            scopes,
        )
        with self._lock:
            self._tokens[minted.token] = minted
        if self.tokeninfo is not None:  # what Google's tokeninfo answers the real API server
            self.tokeninfo.record(
                minted.token, identity, numeric_id(identity), scopes, minted.expires
            )
        return minted

    def all(self) -> list[Minted]:
        with self._lock:
            return list(self._tokens.values())

    def lookup(self, token: str) -> Minted | None:
        """A live token, or None when it is unknown or expired (Google and GKE answer 401)."""
        with self._lock:
            minted = self._tokens.get(token)
        if minted is None or minted.expires <= time.time():
            return None
        return minted


def service_account_member(email: str) -> str:
    return f"serviceAccount:{email}"


@dataclass
class FakeGoogle:
    registry: TokenRegistry
    # service account email -> members holding roles/iam.serviceAccountTokenCreator on it
    token_creators: dict[str, set[str]]
    public_keys: dict[str, bytes] = field(default_factory=dict)  # identity -> PEM
    requests: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_export(cls, data: dict[str, Any], registry: TokenRegistry) -> FakeGoogle:
        """The Token Creator bindings the stack registered (gcp:serviceaccount IAMMember)."""
        creators: dict[str, set[str]] = {}
        for binding in data["service_account_iam_members"]:
            if binding["role"] == TOKEN_CREATOR:
                email = binding["service_account_id"].rsplit("/", 1)[-1]
                creators.setdefault(email, set()).add(binding["member"])
        return cls(registry, creators)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_key_file(self, identity: str, path: Path) -> Path:
        """A service-account key file for `identity` (made-up, loopback only): its private key is
        generated now, the fake keeps the public half to check the JWTs it signs."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_keys[identity] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        project = identity.split("@")[1].split(".")[0]
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": project,
                    "private_key_id": secrets.token_hex(20),
                    "private_key": pem,
                    "client_email": identity,
                    "client_id": str(int(secrets.token_hex(10), 16)),
                    "token_uri": f"{self.base_url}/token",
                }
            )
        )
        path.chmod(0o600)
        return path

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Google endpoints did not start")
        return self.base_url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._unrouted])
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/-/serviceAccounts/{target}", self._generate_access_token)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    def _log(self, endpoint: str, caller: str | None, **result: Any) -> None:
        self.requests.append({"endpoint": endpoint, "caller": caller, **result})

    # --- OAuth 2.0 token endpoint ---------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER:
            self._log("token", None, status=400, grant_type=form.get("grant_type"))
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        assertion = str(form.get("assertion", ""))
        try:
            issuer = jwt.decode(assertion, verify=False)["iss"]
            key = self.public_keys[issuer]
            claims = jwt.decode(
                assertion, certs=key, audience=[GOOGLE_TOKEN_URI, f"{self.base_url}/token"]
            )
        except (KeyError, ValueError) as error:
            self._log("token", None, status=400, error=str(error))
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status=400,
            )
        scopes = tuple(str(claims.get("scope", "")).split())
        minted = self.registry.mint(claims["iss"], "oauth", scopes)
        self._log("token", claims["iss"], status=200, token=minted.token)
        return web.json_response(
            {
                "access_token": minted.token,
                "expires_in": int(minted.expires - time.time()),
                "token_type": "Bearer",
            }
        )

    # --- IAM Credentials generateAccessToken ----------------------------------------------

    async def _generate_access_token(self, request: web.Request) -> web.Response:
        target, _, method = request.match_info["target"].partition(":")
        if method != "generateAccessToken":
            return await self._unexpected(request)
        auth = request.headers.get("Authorization", "")
        source = self.registry.lookup(auth.removeprefix("Bearer ")) if auth else None
        caller = source.identity if source else None
        if caller is None:
            self._log("generateAccessToken", None, target=target, status=401)
            return web.json_response(
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                },
                status=401,
            )
        if service_account_member(caller) not in self.token_creators.get(target, set()):
            self._log("generateAccessToken", caller, target=target, status=403)
            return web.json_response(denied_body(), status=403)
        body = await request.json()
        minted = self.registry.mint(target, caller, tuple(body.get("scope", [])))
        self._log("generateAccessToken", caller, target=target, status=200, token=minted.token)
        expire = datetime.fromtimestamp(minted.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return web.json_response({"accessToken": minted.token, "expireTime": expire})

    @web.middleware
    async def _unrouted(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as error:  # no such route, e.g. a proxy CONNECT to a real host
            if error.status not in (404, 405):
                raise
            return await self._unexpected(request)

    async def _unexpected(self, request: web.Request) -> web.Response:
        target = request.raw_path if request.method == "CONNECT" else request.path
        self._log("unexpected", None, method=request.method, path=target, status=404)
        return web.json_response(
            {"error": {"code": 404, "message": f"{request.path} is not faked"}}, status=404
        )


def worker_env(google: FakeGoogle, identity: str, workdir: Path) -> dict[str, str]:
    """The Google side of an Astro worker's environment whose identity is `identity`, pointed at
    the loopback fakes: its credentials (a key file generated now; on Astro they come from the
    worker's Workload Identity), gcloud's configuration in `workdir`, IAM Credentials overridden
    to the fake, the metadata server and every update or usage check kept off the network, and
    any other HTTP(S) request sent to the fake as a proxy, which refuses it. The plugin and gcloud
    run unchanged, with the args the kubeconfig gives them."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "gcloud"
    config.mkdir(exist_ok=True)
    # gcloud's cached answer to "am I on Google Compute Engine?": no metadata server lookup.
    (config / "gce").write_text("False")
    key = google.new_key_file(identity, workdir / "astro-identity.json")
    host = google.base_url.removeprefix("http://")
    return {
        "HOME": str(workdir),  # the plugin caches tokens next to ~/.kube/config
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS": f"{google.base_url}/",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_SURVEY_DISABLE_PROMPTS": "true",
        "GOOGLE_APPLICATION_CREDENTIALS": str(key),
        "GCE_METADATA_HOST": host,
        "GCE_METADATA_ROOT": host,
        "HTTP_PROXY": google.base_url,
        "HTTPS_PROXY": google.base_url,
        "NO_PROXY": "127.0.0.1,localhost",
    }


def activate_gcloud(env: dict[str, str]) -> None:
    """`gcloud auth activate-service-account` with the worker's key: gcloud's active account, which
    `gke-gcloud-auth-plugin --impersonate_service_account` uses through `gcloud config
    config-helper`."""
    done = subprocess.run(
        [
            "gcloud",
            "auth",
            "activate-service-account",
            "--key-file",
            env["GOOGLE_APPLICATION_CREDENTIALS"],
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gcloud auth activate-service-account failed:\n{done.stderr}")
