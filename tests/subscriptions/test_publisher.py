"""Seat changes reach the event's channel after commit, in version order."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from seatline.booking import errors
from seatline.booking.holds import HoldRequest, hold_seats, release_hold
from seatline.booking.services import Services
from seatline.subscriptions.publisher import seat_channel
from tests.conftest import EventFixture, seat_ids


def request(event: EventFixture, seats: list[str]) -> HoldRequest:
    return HoldRequest(
        event_id=event.event.id, idempotency_key=str(uuid.uuid4()), seat_ids=seats
    )


async def next_message(subscriber: Any, wait_seconds: float = 2.0) -> dict[str, Any]:
    event = await asyncio.wait_for(subscriber.get(), wait_seconds)
    message: dict[str, Any] = orjson.loads(event.message)
    return message


async def test_hold_publishes_changes_after_commit(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)[:2]
    async with services.publisher.broadcast.subscribe(
        seat_channel(on_sale.event.id)
    ) as sub:
        hold = await hold_seats(services, "buyer-a", request(on_sale, seats))
        held = await next_message(sub)
        await release_hold(services, "buyer-a", hold.id)
        released = await next_message(sub)

    assert held["version"] == 1
    assert sorted(change["seat_id"] for change in held["changes"]) == sorted(seats)
    assert {change["status"] for change in held["changes"]} == {"held"}
    assert released["version"] == 2
    assert {change["status"] for change in released["changes"]} == {"available"}


async def test_failed_hold_publishes_nothing(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)[:2]
    async with services.publisher.broadcast.subscribe(
        seat_channel(on_sale.event.id)
    ) as sub:
        await hold_seats(services, "buyer-a", request(on_sale, seats[:1]))
        assert (await next_message(sub))["version"] == 1
        with pytest.raises(errors.SeatsUnavailable):
            await hold_seats(services, "buyer-b", request(on_sale, seats))
        with pytest.raises(TimeoutError):
            await next_message(sub, wait_seconds=0.3)


async def test_concurrent_changes_get_consecutive_versions(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    async with services.publisher.broadcast.subscribe(
        seat_channel(on_sale.event.id)
    ) as sub:
        await asyncio.gather(
            *(
                hold_seats(services, f"buyer-{index}", request(on_sale, [seats[index]]))
                for index in range(12)
            )
        )
        versions = sorted([(await next_message(sub))["version"] for _ in range(12)])

    assert versions == list(range(1, 13))
