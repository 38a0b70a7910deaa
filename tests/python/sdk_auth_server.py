"""An authorization server built from the official MCP Python SDK
(`mcp.server.auth`), and a resource server that accepts its tokens, for
testing Coder Bridge's sign-in against an authorization server nobody here
wrote.

The SDK supplies every OAuth endpoint: metadata, authorize, token (code and
refresh grants, with its own client authentication), registration and
revocation. This file adds only what the SDK leaves to an application: an
in-memory provider that approves every authorization at once (the user is
"already signed in"), three pre-registered clients (one per client
authentication method), and, on a second port, the resource the bridge signs
in for: RFC 9728 metadata naming the authorization server, a Coder-shaped
`/api/v2/users/me`, and an MCP endpoint that answers 401 with a challenge.
`/test/stats` tells a test what the server saw.

Run: python sdk_auth_server.py --redirect-uri http://127.0.0.1:PORT/callback
It prints KEY=value lines (AS_URL, RS_URL, CLIENT_*), then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import sys
import time
from typing import Any

import uvicorn
from pydantic import AnyHttpUrl, AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import create_auth_routes, create_protected_resource_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

MCP_PATH = "/api/experimental/mcp/http"


class AutoApproveProvider(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    """In-memory clients, codes and tokens; every authorization is approved."""

    def __init__(self, access_lifetime: int) -> None:
        self.access_lifetime = access_lifetime
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        # What a test asserts on: per client id, grants by kind.
        self.stats: dict[str, Any] = {"grants": [], "registrations": [], "revocations": []}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info
        self.stats["registrations"].append(
            {"client_id": client_info.client_id, "method": client_info.token_endpoint_auth_method}
        )

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        code = secrets.token_urlsafe(24)
        assert client.client_id is not None
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject="sdk-user",
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = self.codes.get(authorization_code)
        return code if code is not None and code.client_id == client.client_id else None

    def _issue(self, client_id: str, scopes: list[str], resource: str | None, kind: str) -> OAuthToken:
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24)
        self.access[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=int(time.time()) + self.access_lifetime,
            resource=resource,
            subject="sdk-user",
        )
        self.refresh[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource, subject="sdk-user"
        )
        method = self.clients[client_id].token_endpoint_auth_method
        self.stats["grants"].append({"client_id": client_id, "kind": kind, "method": method})
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=self.access_lifetime,
            refresh_token=refresh,
            scope=" ".join(scopes) or None,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        self.codes.pop(authorization_code.code, None)
        return self._issue(authorization_code.client_id, authorization_code.scopes, authorization_code.resource, "code")

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        token = self.refresh.get(refresh_token)
        return token if token is not None and token.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        # Rotation, single use: the old refresh token dies.
        if self.refresh.pop(refresh_token.token, None) is None:
            raise TokenError(error="invalid_grant", error_description="refresh token already used")
        return self._issue(refresh_token.client_id, scopes or refresh_token.scopes, refresh_token.resource, "refresh")

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found is None or (found.expires_at is not None and found.expires_at < time.time()):
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        gone = self.access.pop(token.token, None) or self.refresh.pop(token.token, None)
        self.stats["revocations"].append(
            {"client_id": token.client_id, "kind": type(token).__name__, "revoked": gone is not None}
        )


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before the URLs are printed: a client that connects at once
    # waits in the backlog until the server accepts.
    sock.listen(128)
    return sock


def seed_clients(provider: AutoApproveProvider, redirect_uri: str) -> dict[str, str]:
    """One pre-registered client per token endpoint authentication method."""
    printed: dict[str, str] = {}
    for method in ("client_secret_basic", "client_secret_post", "none"):
        short = method.removeprefix("client_secret_").upper()
        client_id = f"sdk-{short.lower()}-{secrets.token_hex(4)}"
        secret = None if method == "none" else secrets.token_hex(16)
        provider.clients[client_id] = OAuthClientInformationFull(
            client_id=client_id,
            client_secret=secret,
            client_id_issued_at=int(time.time()),
            redirect_uris=[AnyUrl(redirect_uri)],
            token_endpoint_auth_method=method,
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            client_name=f"Coder Bridge ({method})",
        )
        printed[f"CLIENT_{short}_ID"] = client_id
        if secret is not None:
            printed[f"CLIENT_{short}_SECRET"] = secret
    return printed


def resource_app(provider: AutoApproveProvider, rs_url: str, as_url: str) -> Starlette:
    metadata_url = f"{rs_url}/.well-known/oauth-protected-resource"

    async def users_me(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if await provider.load_access_token(token) is None:
            return JSONResponse({"message": "You are not signed in."}, status_code=401)
        return JSONResponse({"id": "sdk-user", "username": "sdk-user", "email": "sdk@example.com", "name": "SDK User"})

    async def mcp(request: Request) -> Response:
        challenge = f'Bearer error="invalid_token", resource_metadata="{metadata_url}"'
        return JSONResponse({"message": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": challenge})

    async def stats(request: Request) -> Response:
        return JSONResponse(provider.stats)

    routes = create_protected_resource_routes(
        resource_url=AnyHttpUrl(rs_url), authorization_servers=[AnyHttpUrl(as_url)]
    )
    routes += [
        Route("/api/v2/users/me", users_me, methods=["GET"]),
        Route(MCP_PATH, mcp, methods=["GET", "POST"]),
        Route("/test/stats", stats, methods=["GET"]),
    ]
    return Starlette(routes=routes)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redirect-uri", required=True, help="callback URL of the pre-registered clients")
    parser.add_argument("--access-token-lifetime", type=int, default=3600)
    args = parser.parse_args()

    as_sock, rs_sock = bound_socket(), bound_socket()
    as_url = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    rs_url = f"http://127.0.0.1:{rs_sock.getsockname()[1]}"
    provider = AutoApproveProvider(args.access_token_lifetime)
    auth_routes = create_auth_routes(
        provider,
        issuer_url=AnyHttpUrl(as_url),
        client_registration_options=ClientRegistrationOptions(enabled=True),
        revocation_options=RevocationOptions(enabled=True),
    )
    as_app = Starlette(routes=auth_routes)
    servers = [
        uvicorn.Server(uvicorn.Config(as_app, log_level="warning", lifespan="off")),
        uvicorn.Server(uvicorn.Config(resource_app(provider, rs_url, as_url), log_level="warning", lifespan="off")),
    ]
    values = {"AS_URL": as_url, "RS_URL": rs_url, **seed_clients(provider, args.redirect_uri)}
    for key, value in values.items():
        print(f"{key}={value}")
    sys.stdout.flush()
    await asyncio.gather(servers[0].serve(sockets=[as_sock]), servers[1].serve(sockets=[rs_sock]))


if __name__ == "__main__":
    asyncio.run(main())
