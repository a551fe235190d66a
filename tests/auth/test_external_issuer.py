"""Tokens of a trusted external OpenID Connect issuer, over HTTP and websockets.

The issuer is a second process-independent key set served on loopback; the
seatline server under test fetches its discovery document and JWKS itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
import websockets
from websockets.typing import Subprotocol

from seatline.auth.keys import KeyStore
from tests.auth.oidc_provider import Provider, running_provider
from tests.conftest import AUDIENCE, ISSUER, DatabaseUnderTest
from tests.live import live_server

pytestmark = pytest.mark.slow

ORDER = 'query { order(id: "00000000-0000-0000-0000-000000000000") { id } }'
PUBLISH = 'mutation { publishEvent(eventId: "x") { __typename } }'


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[Provider]:
    async with running_provider() as running:
        yield running


@pytest.fixture(scope="module")
async def server(
    provider: Provider, sqlite_database: DatabaseUnderTest, key_file: Path
) -> AsyncIterator[str]:
    trusted = [{"issuer": provider.issuer, "audience": "seatline-partners"}]
    extra = {
        "SEATLINE_TRUSTED_ISSUERS": orjson.dumps(trusted).decode(),
        # Refetch at once on an unknown kid, so rotation shows without waiting.
        "SEATLINE_ISSUER_REFETCH_INTERVAL_SECONDS": "0",
    }
    async with live_server(
        sqlite_database.url, key_file, issuer=ISSUER, audience=AUDIENCE, extra_env=extra
    ) as url:
        yield url


async def graphql(server: str, token: str, query: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server) as http:
        return await http.post(
            "/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {token}"},
        )


async def socket_reply(server: str, token: str) -> str | int:
    """Return the type of the first message after connection_init, or the close code."""
    url = server.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        init = {
            "type": "connection_init",
            "payload": {"Authorization": f"Bearer {token}"},
        }
        await ws.send(orjson.dumps(init).decode())
        try:
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1
        return str(reply["type"])


async def test_external_token_over_http(server: str, provider: Provider) -> None:
    token = provider.token("alice", "orders:read", audience="seatline-partners")

    response = await graphql(server, token, ORDER)

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"order": None}}


async def test_external_token_scopes_apply(server: str, provider: Provider) -> None:
    token = provider.token("alice", "orders:read", audience="seatline-partners")

    response = await graphql(server, token, PUBLISH)

    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_external_token_over_websocket(server: str, provider: Provider) -> None:
    token = provider.token("alice", "orders:read", audience="seatline-partners")

    assert await socket_reply(server, token) == "connection_ack"


async def test_rotated_external_key(server: str, provider: Provider) -> None:
    before = provider.token("alice", "orders:read", audience="seatline-partners")
    assert (await graphql(server, before, ORDER)).status_code == 200

    provider.rotate()
    after = provider.token("alice", "orders:read", audience="seatline-partners")

    assert (await graphql(server, after, ORDER)).status_code == 200
    assert await socket_reply(server, after) == "connection_ack"


async def test_unconfigured_issuer_rejected(server: str, provider: Provider) -> None:
    token = provider.token(
        "alice",
        "orders:read",
        audience="seatline-partners",
        issuer=provider.issuer.replace("/realms/test", "/realms/other"),
    )

    response = await graphql(server, token, ORDER)

    assert response.status_code == 401
    assert "issuer is not trusted" in response.text
    assert await socket_reply(server, token) == 4403


async def test_external_token_for_other_audience(
    server: str, provider: Provider
) -> None:
    token = provider.token("alice", "orders:read", audience=AUDIENCE + "-other")

    assert (await graphql(server, token, ORDER)).status_code == 401
    assert await socket_reply(server, token) == 4403


async def test_local_token_still_accepted(server: str, keys: KeyStore) -> None:
    from seatline.auth.tokens import mint_token

    token = mint_token(
        keys, subject="buyer", scopes=["orders:read"], issuer=ISSUER, audience=AUDIENCE
    )

    assert (await graphql(server, token, ORDER)).json() == {"data": {"order": None}}
