"""A tiny OpenID Connect provider on loopback: discovery, JWKS and signing.

It runs uvicorn inside the test's event loop, with its own RSA key set, so
seatline fetches real documents over HTTP from a second, independent issuer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.live import free_port


class Provider:
    def __init__(self, base_url: str) -> None:
        self.issuer = f"{base_url}/realms/test"
        self.keys = [_new_key()]
        self.jwks_requests = 0

    def rotate(self) -> None:
        """Sign with a new key; keep publishing the old one."""
        self.keys.insert(0, _new_key())

    def token(
        self, subject: str, scope: str, *, audience: str, issuer: str | None = None
    ) -> str:
        now = int(time.time())
        key = self.keys[0]
        claims = {
            "iss": issuer or self.issuer,
            "aud": audience,
            "sub": subject,
            "scope": scope,
            "azp": "provider-app",
            "iat": now,
            "exp": now + 300,
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=["RS256"])

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "jwks_uri": f"{self.issuer}/protocol/openid-connect/certs",
                }
            )

        async def jwks(request: Request) -> Response:
            self.jwks_requests += 1
            keys = [
                key.as_dict(private=False, use="sig", alg="RS256") for key in self.keys
            ]
            return JSONResponse({"keys": keys})

        return Starlette(
            routes=[
                Route("/realms/test/.well-known/openid-configuration", discovery),
                Route("/realms/test/protocol/openid-connect/certs", jwks),
            ]
        )


def _new_key() -> RSAKey:
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


@asynccontextmanager
async def running_provider() -> AsyncIterator[Provider]:
    port = free_port()
    provider = Provider(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        provider.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield provider
    finally:
        server.should_exit = True
        await task
