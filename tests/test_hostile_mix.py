"""Hostile requests beside normal buyers, in production mode.

First the hostile requests run alone, and the app's SQL statement count
shows that none of them reached the database. Then they run concurrently
with buyers holding seats: every hostile request is rejected with its code
and every buyer gets a hold.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import ApiClient, EventFixture, seat_ids
from tests.test_api_auth import HOLD, hold_input

WIDE = "{ " + " ".join(f"f{n}: __typename" for n in range(200)) + " }"
HUGE_PAGES = (
    "{ events(first: 1000) { edges { node { seats(first: 1000) "
    "{ edges { node { id status } } } } } } }"
)
MANY_TOKENS = "{ " + "__typename " * 5000 + "}"
INTROSPECTION = "{ __schema { types { name fields { name } } } }"
MANY_OPERATIONS = " ".join(f"query Q{n} {{ __typename }}" for n in range(50))

# (request body, expected HTTP status, expected error code)
HOSTILE: list[tuple[Any, int, str]] = [
    ({"query": WIDE}, 200, "QUERY_LIMIT_EXCEEDED"),
    ({"query": HUGE_PAGES}, 200, "QUERY_LIMIT_EXCEEDED"),
    ({"query": MANY_TOKENS}, 200, "QUERY_LIMIT_EXCEEDED"),
    ({"query": MANY_OPERATIONS, "operationName": "Q1"}, 200, "QUERY_LIMIT_EXCEEDED"),
    ({"query": INTROSPECTION}, 200, "GRAPHQL_VALIDATION_FAILED"),
    ([{"query": "{ __typename }"}] * 20, 400, ""),
    ({"query": "{ __typename }", "variables": {"x": "y" * (2 << 20)}}, 413, ""),
]


async def send_hostile(api: ApiClient, body: Any, status: int, code: str) -> None:
    response = await api.post(body)

    assert response.status_code == status, response.text
    if code == "GRAPHQL_VALIDATION_FAILED":
        # Standard validation errors carry no code; the message names it.
        assert "introspection" in response.text.lower()
    elif code:
        assert response.json()["errors"][0]["extensions"]["code"] == code


async def buy(api: ApiClient, event: EventFixture, buyer: int) -> str:
    token = api.token(f"buyer-{buyer}", "bookings:write")
    seats = seat_ids(event)[buyer * 2 : buyer * 2 + 2]
    body = await api.execute(HOLD, hold_input(event, seats), token=token)
    typename: str = body["data"]["holdSeats"]["__typename"]
    return typename


async def test_hostile_requests_never_reach_database(api_with: Any) -> None:
    async with api_with(env="production") as (api, statements):
        for body, status, code in HOSTILE:
            await send_hostile(api, body, status, code)

        assert statements() == 0


async def test_buyers_succeed_beside_hostile_requests(
    api_with: Any, on_sale: EventFixture
) -> None:
    async with api_with(env="production") as (api, _):
        hostile = [
            send_hostile(api, body, status, code)
            for _ in range(3)
            for body, status, code in HOSTILE
        ]
        buyers = [buy(api, on_sale, buyer) for buyer in range(20)]
        results = await asyncio.gather(*buyers, *hostile)

    assert results[:20] == ["Hold"] * 20
