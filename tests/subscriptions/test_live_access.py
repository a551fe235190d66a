"""Who may stream what: order and sales streams, token expiry, socket limits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from websockets.typing import Subprotocol

from seatline.auth.tokens import mint_token
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ApiClient,
    DatabaseUnderTest,
    EventFixture,
    seat_ids,
)
from tests.live import live_server
from tests.subscriptions.test_seat_map_stream import (
    close_code_after_init,
    hold,
    watch,
    ws_client,
)

pytestmark = pytest.mark.slow

ORDER_UPDATES = "subscription { orderUpdates { orderId status missedUpdates } }"
SALES_UPDATES = """
subscription Sales($eventId: ID!) {
  eventSalesUpdates(eventId: $eventId) {
    version countsByCategory { key available held sold }
  }
}
"""
HOLD_AND_PAY = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) { ... on Hold { id } ... on Error { code } }
}
mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) { ... on Order { id } ... on Error { code } }
}
mutation Pay($input: PayOrderInput!) {
  payOrder(input: $input) { ... on Order { status } ... on Error { code } }
}
"""


@pytest.fixture
async def server(database: DatabaseUnderTest, key_file: Path) -> AsyncIterator[str]:
    extra = {"SEATLINE_LIVE_MAX_SOCKETS_PER_PRINCIPAL": "2"}
    async with live_server(
        database.url, key_file, issuer=ISSUER, audience=AUDIENCE, extra_env=extra
    ) as url:
        yield url


async def post(
    base_url: str, token: str, operation: str, variables: dict[str, Any]
) -> Any:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": HOLD_AND_PAY,
                "operationName": operation,
                "variables": variables,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.json()["data"]


async def buy(base_url: str, token: str, event: EventFixture, seats: list[str]) -> None:
    held = await post(
        base_url,
        token,
        "Hold",
        {
            "input": {
                "eventId": event.id,
                "seatIds": seats,
                "idempotencyKey": str(uuid.uuid4()),
            }
        },
    )
    order = await post(
        base_url,
        token,
        "Checkout",
        {
            "input": {
                "holdId": held["holdSeats"]["id"],
                "idempotencyKey": str(uuid.uuid4()),
            }
        },
    )
    paid = await post(
        base_url,
        token,
        "Pay",
        {
            "input": {
                "orderId": order["checkout"]["id"],
                "payment": {"token": "tok_approve"},
                "idempotencyKey": str(uuid.uuid4()),
            }
        },
    )
    assert paid["payOrder"]["status"] == "PAID"


async def test_order_updates_stream_own_orders(
    server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    buyer = api.token("streaming-buyer", "bookings:write")
    other = api.token("other-buyer", "bookings:write")

    async with ws_client(server, buyer) as session:
        stream = session.subscribe(GraphQLRequest(ORDER_UPDATES))
        reader = asyncio.create_task(anext(stream))
        await asyncio.sleep(0.5)
        await buy(server, other, on_sale, seat_ids(on_sale)[10:11])
        await buy(server, buyer, on_sale, seat_ids(on_sale)[:2])
        first = (await asyncio.wait_for(reader, 10))["orderUpdates"]
        second = (await asyncio.wait_for(anext(stream), 10))["orderUpdates"]

    assert first["status"] == "AWAITING_PAYMENT"
    assert second["status"] == "PAID"
    assert second["orderId"] == first["orderId"]
    assert second["missedUpdates"] is False


async def test_order_updates_need_a_token(server: str) -> None:
    async with ws_client(server) as session:
        stream = session.subscribe(GraphQLRequest(ORDER_UPDATES))
        with pytest.raises(TransportQueryError) as raised:
            await asyncio.wait_for(anext(stream), 10)

    assert raised.value.errors is not None
    assert raised.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sales_updates_for_organizer_and_partner(
    server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    organizer = api.token(on_sale.organizer_id, "organizer")
    partner = api.token("partner-app", "partner:stream")
    buyer = api.token("sales-buyer", "bookings:write")
    request = GraphQLRequest(SALES_UPDATES, variable_values={"eventId": on_sale.id})

    async with ws_client(server, organizer) as session:
        stream = session.subscribe(request)
        first = (await asyncio.wait_for(anext(stream), 10))["eventSalesUpdates"]
        await hold(server, buyer, on_sale, seat_ids(on_sale)[:3])
        second = (await asyncio.wait_for(anext(stream), 10))["eventSalesUpdates"]
    async with ws_client(server, partner) as session:
        partner_first = await asyncio.wait_for(anext(session.subscribe(request)), 10)

    assert sum(c["held"] for c in first["countsByCategory"]) == 0
    assert sum(c["held"] for c in second["countsByCategory"]) == 3
    assert second["version"] == first["version"] + 1
    assert (
        sum(c["held"] for c in partner_first["eventSalesUpdates"]["countsByCategory"])
        == 3
    )


async def test_sales_updates_hidden_from_others(
    server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    stranger = api.token("another-organizer", "organizer")
    request = GraphQLRequest(SALES_UPDATES, variable_values={"eventId": on_sale.id})

    async with ws_client(server, stranger) as session:
        with pytest.raises(TransportQueryError) as raised:
            await asyncio.wait_for(anext(session.subscribe(request)), 10)

    assert raised.value.errors is not None
    assert raised.value.errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_socket_closes_when_token_expires(
    server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    short = mint_token(
        api.keys,
        subject="short-lived",
        scopes=["bookings:write"],
        issuer=ISSUER,
        audience=AUDIENCE,
        lifetime_seconds=2,
    )
    code = await close_code_after_init(server, {"Authorization": f"Bearer {short}"})

    assert code == 4403


async def test_sockets_per_principal_are_limited(
    server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    token = api.token("many-sockets", "bookings:write")
    variables = {"eventId": on_sale.id}

    async with ws_client(server, token) as first, ws_client(server, token) as second:
        await asyncio.wait_for(anext(first.subscribe(watch(variables))), 10)
        await asyncio.wait_for(anext(second.subscribe(watch(variables))), 10)
        third = await close_code_after_init(
            server, {"Authorization": f"Bearer {token}"}
        )

    assert third == 4403


@pytest.fixture
async def guarded_server(
    database: DatabaseUnderTest, key_file: Path
) -> AsyncIterator[str]:
    extra = {
        "SEATLINE_LIVE_MAX_SOCKETS_PER_ADDRESS": "3",
        "SEATLINE_LIVE_MAX_NEW_SOCKETS_PER_SECOND": "4",
    }
    async with live_server(
        database.url, key_file, issuer=ISSUER, audience=AUDIENCE, extra_env=extra
    ) as url:
        yield url


async def handshake(base_url: str) -> tuple[int, str | None, Any]:
    """Open and close one websocket: status, Retry-After and body of a refusal."""
    url = base_url.replace("http://", "ws://") + "/graphql"
    try:
        async with websockets.connect(
            url, subprotocols=[Subprotocol("graphql-transport-ws")]
        ):
            return 101, None, None
    except websockets.InvalidStatus as refused:
        response = refused.response
        body = orjson.loads(response.body or b"{}")
        return response.status_code, response.headers.get("Retry-After"), body


async def test_new_sockets_per_second_are_limited(guarded_server: str) -> None:
    attempts = [await handshake(guarded_server) for _ in range(10)]
    await asyncio.sleep(1.5)
    after_pause, _, _ = await handshake(guarded_server)

    refused = [attempt for attempt in attempts if attempt[0] == 429]
    assert attempts[0][0] == 101
    assert len(refused) >= 4
    for _, retry_after, body in refused:
        assert retry_after == "1"
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert after_pause == 101


async def test_sockets_per_address_are_limited(
    guarded_server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    variables = {"eventId": on_sale.id}
    tokens = [api.token(f"buyer-{n}", "bookings:write") for n in range(4)]

    async with AsyncExitStack() as stack:
        for token in tokens[:3]:
            session = await stack.enter_async_context(ws_client(guarded_server, token))
            await asyncio.wait_for(anext(session.subscribe(watch(variables))), 10)
        fourth = await close_code_after_init(
            guarded_server, {"Authorization": f"Bearer {tokens[3]}"}
        )

    assert fourth == 4403
