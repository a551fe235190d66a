"""Concurrent buyers over real HTTP: one winner per seat, and the control case.

The control test removes the guard from the hold service (a check, then a
separate write) and shows that the same load then sells a seat twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, true

from seatline.auth.keys import KeyStore
from seatline.auth.tokens import mint_token
from seatline.booking import errors, holds
from seatline.booking.holds import HoldRequest, hold_seats
from seatline.booking.services import Services
from seatline.models import EventSeat, Hold, HoldSeat, SeatStatus
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    DatabaseUnderTest,
    EventFixture,
    make_event,
    seat_ids,
)
from tests.live import live_server

pytestmark = pytest.mark.slow

CONCURRENT_BUYERS = 50

HOLD_SEATS = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename
    ... on Hold { id seatIds }
    ... on Error { code }
  }
}
"""


@pytest.fixture
async def server(database: DatabaseUnderTest, key_file: Path) -> AsyncIterator[str]:
    async with live_server(
        database.url, key_file, issuer=ISSUER, audience=AUDIENCE
    ) as url:
        yield url


def tokens(keys: KeyStore, count: int) -> list[str]:
    return [
        mint_token(
            keys,
            subject=f"racer-{index}",
            scopes=["bookings:write"],
            issuer=ISSUER,
            audience=AUDIENCE,
        )
        for index in range(count)
    ]


async def fire(
    base_url: str, requests: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Send every request at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60, limits=limits
    ) as client:

        async def one(token: str, variables: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(
                "/graphql",
                json={"query": HOLD_SEATS, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()["data"]["holdSeats"]
            return result

        return await asyncio.gather(*(one(token, v) for token, v in requests))


async def held_seats(services: Services, event: EventFixture) -> int:
    async with services.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(EventSeat)
            .where(
                EventSeat.event_id == event.event.id,
                EventSeat.status == SeatStatus.HELD,
            )
        )
    return count or 0


async def test_concurrent_holds_of_same_seats_have_one_winner(
    server: str, services: Services, keys: KeyStore, on_sale: EventFixture
) -> None:
    wanted = seat_ids(on_sale)[:2]
    requests = [
        (
            token,
            {
                "input": {
                    "eventId": on_sale.id,
                    "seatIds": wanted,
                    "idempotencyKey": str(uuid.uuid4()),
                }
            },
        )
        for token in tokens(keys, CONCURRENT_BUYERS)
    ]

    results = await fire(server, requests)

    outcomes = Counter(result.get("code", result["__typename"]) for result in results)
    assert outcomes == {"Hold": 1, "SEATS_UNAVAILABLE": CONCURRENT_BUYERS - 1}
    assert await held_seats(services, on_sale) == 2


async def test_concurrent_best_available_holds_never_overlap(
    server: str, services: Services, keys: KeyStore
) -> None:
    event = await make_event(services, rows=10, seats_per_row=20)
    requests = [
        (
            token,
            {
                "input": {
                    "eventId": event.id,
                    "bestAvailable": {"count": 2},
                    "idempotencyKey": str(uuid.uuid4()),
                }
            },
        )
        for token in tokens(keys, CONCURRENT_BUYERS)
    ]

    results = await fire(server, requests)

    won = [result for result in results if result["__typename"] == "Hold"]
    taken = [seat for result in won for seat in result["seatIds"]]
    assert len(taken) == len(set(taken))
    assert len(won) == CONCURRENT_BUYERS
    assert await held_seats(services, event) == len(taken)


async def test_concurrent_retries_with_one_key_hold_once(
    server: str, services: Services, keys: KeyStore, on_sale: EventFixture
) -> None:
    token = tokens(keys, 1)[0]
    variables = {
        "input": {
            "eventId": on_sale.id,
            "seatIds": seat_ids(on_sale)[:3],
            "idempotencyKey": str(uuid.uuid4()),
        }
    }

    results = await fire(server, [(token, variables)] * 20)

    assert {result["__typename"] for result in results} == {"Hold"}
    assert len({result["id"] for result in results}) == 1
    async with services.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Hold)
            .where(Hold.event_id == on_sale.event.id)
        )
    assert count == 1


async def test_control_race_without_guard_sells_seat_twice(
    monkeypatch: pytest.MonkeyPatch, services: Services
) -> None:
    if services.settings.is_sqlite:
        pytest.skip(
            "SQLite serialises every write transaction; the race needs PostgreSQL"
        )
    event = await make_event(services)
    wanted = seat_ids(event)[:2]

    # The unsafe pattern: a claim that writes the seats without checking
    # that they are free. The row locks alone only make the writers wait.
    # PostgreSQL holds run a statement built once per process, so it is
    # built again without the guard here and again after the attempts.
    monkeypatch.setattr(holds, "is_free", lambda now: true())
    holds._insert_and_claim_statement.cache_clear()

    async def attempt(index: int) -> bool:
        request = HoldRequest(
            event_id=event.event.id, idempotency_key=str(uuid.uuid4()), seat_ids=wanted
        )
        try:
            await hold_seats(services, f"control-{index}", request)
        except errors.SeatsUnavailable:
            return False
        return True

    try:
        winners = sum(await asyncio.gather(*(attempt(index) for index in range(10))))
    finally:
        holds._insert_and_claim_statement.cache_clear()

    assert winners > 1
    async with services.sessions() as session:
        claims = await session.scalar(
            select(func.count())
            .select_from(HoldSeat)
            .join(Hold, Hold.id == HoldSeat.hold_id)
            .where(Hold.event_id == event.event.id)
        )
    assert claims == winners * len(wanted)
