"""Live seat maps over graphql-transport-ws, driven by the gql client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from websockets.typing import Subprotocol

from seatline.booking.availability import unpack_statuses
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ApiClient,
    DatabaseUnderTest,
    EventFixture,
    seat_ids,
)
from tests.live import live_server

pytestmark = pytest.mark.slow

SEAT_MAP_UPDATES = """
    subscription Watch($eventId: ID!, $since: Int) {
      seatMapUpdates(eventId: $eventId, sinceVersion: $since) {
        kind version fromVersion seatCount availability reason
        changes { seatId ordinal status }
      }
    }
"""

HOLD = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) { __typename ... on Hold { id } ... on Error { code } }
}
"""


@pytest.fixture
async def server(database: DatabaseUnderTest, key_file: Path) -> AsyncIterator[str]:
    extra = {"SEATLINE_LIVE_HEARTBEAT_SECONDS": "1"}
    async with live_server(
        database.url, key_file, issuer=ISSUER, audience=AUDIENCE, extra_env=extra
    ) as url:
        yield url


def watch(variables: dict[str, Any]) -> GraphQLRequest:
    return GraphQLRequest(SEAT_MAP_UPDATES, variable_values=variables)


def ws_client(base_url: str, token: str | None = None) -> Client:
    params = {} if token is None else {"Authorization": f"Bearer {token}"}
    transport = WebsocketsTransport(
        url=base_url.replace("http://", "ws://") + "/graphql",
        init_payload=params,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        close_timeout=1,
    )
    return Client(transport=transport)


async def hold(
    base_url: str, token: str, event: EventFixture, seats: list[str]
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": HOLD,
                "variables": {
                    "input": {
                        "eventId": event.id,
                        "seatIds": seats,
                        "idempotencyKey": str(uuid.uuid4()),
                    }
                },
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.json()["data"]["holdSeats"]["__typename"] == "Hold", response.text


async def test_stream_starts_with_snapshot_then_deltas(
    server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    buyer = api.token("watcher", "bookings:write")
    seats = seat_ids(on_sale)
    messages: list[dict[str, Any]] = []

    async with ws_client(server) as session:
        stream = session.subscribe(watch({"eventId": on_sale.id}))
        first = (await anext(stream))["seatMapUpdates"]
        await hold(server, buyer, on_sale, seats[:2])
        await hold(server, buyer, on_sale, seats[5:6])
        while sum(len(m["changes"]) for m in messages) < 3:
            message = (await asyncio.wait_for(anext(stream), 10))["seatMapUpdates"]
            if message["kind"] == "DELTA":
                messages.append(message)

    assert first["kind"] == "SNAPSHOT"
    assert first["version"] == 0
    statuses = unpack_statuses(first["availability"], first["seatCount"])
    assert {status.value for status in statuses} == {"available"}
    assert messages[0]["fromVersion"] == 1
    assert messages[-1]["version"] == 2
    changed = {
        change["seatId"]: change["status"] for m in messages for change in m["changes"]
    }
    assert changed == {seats[0]: "HELD", seats[1]: "HELD", seats[5]: "HELD"}


async def test_stream_since_version_sends_only_changes(
    server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    buyer = api.token("watcher", "bookings:write")
    seats = seat_ids(on_sale)
    await hold(server, buyer, on_sale, seats[:2])
    await hold(server, buyer, on_sale, seats[3:4])

    async with ws_client(server) as session:
        stream = session.subscribe(watch({"eventId": on_sale.id, "since": 1}))
        first = (await anext(stream))["seatMapUpdates"]

    assert first["kind"] == "DELTA"
    assert first["fromVersion"] == 2
    assert first["version"] == 2
    assert [change["seatId"] for change in first["changes"]] == [seats[3]]


async def test_idle_stream_gets_heartbeats(server: str, on_sale: EventFixture) -> None:
    async with ws_client(server) as session:
        stream = session.subscribe(watch({"eventId": on_sale.id}))
        await anext(stream)
        heartbeat = (await asyncio.wait_for(anext(stream), 10))["seatMapUpdates"]

    assert heartbeat["kind"] == "HEARTBEAT"
    assert heartbeat["version"] == 0


async def close_code_after_init(base_url: str, payload: dict[str, Any]) -> int | None:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(
            orjson.dumps({"type": "connection_init", "payload": payload}).decode()
        )
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


async def test_invalid_token_closes_socket_with_4403(server: str) -> None:
    code = await close_code_after_init(server, {"Authorization": "Bearer not-a-token"})

    assert code == 4403
