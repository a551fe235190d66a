"""The process-wide availability cache and its shared reads."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from seatline.booking.availability import STATUS_CODES, SharedRead
from seatline.booking.holds import HoldRequest, hold_seats
from seatline.booking.services import Services
from seatline.models import SeatStatus
from tests.conftest import make_event, seat_ids


async def hold(services: Services, event_id: uuid.UUID, seat: str) -> None:
    request = HoldRequest(event_id, str(uuid.uuid4()), seat_ids=[seat])
    await hold_seats(services, "buyer-1", request)


def counting_sessions(services: Services) -> tuple[Any, list[int]]:
    opened: list[int] = []

    def sessions() -> Any:
        opened.append(1)
        return services.sessions()

    return sessions, opened


async def test_read_shared_serves_concurrent_callers_with_one_read(
    services: Services,
) -> None:
    event = await make_event(services)
    await hold(services, event.event.id, seat_ids(event)[0])
    sessions, opened = counting_sessions(services)

    reads = await asyncio.gather(
        *(
            services.availability.read_shared(sessions, event.event.id, services.clock)
            for _ in range(50)
        )
    )

    assert len(opened) == 1
    assert all(read is reads[0] for read in reads)
    assert reads[0].seat_count == len(seat_ids(event))
    assert reads[0].availability.codes[0] == STATUS_CODES[SeatStatus.HELD]
    assert reads[0].availability.codes.count(0) == len(seat_ids(event)) - 1


async def test_read_shared_after_a_change_sees_it(services: Services) -> None:
    event = await make_event(services)
    cache = services.availability
    before = await cache.read_shared(services.sessions, event.event.id, services.clock)

    await hold(services, event.event.id, seat_ids(event)[3])
    after = await cache.read_shared(services.sessions, event.event.id, services.clock)

    assert isinstance(after, SharedRead)
    assert after.availability.version == before.availability.version + 1
    assert after.availability.codes[3] == STATUS_CODES[SeatStatus.HELD]


async def test_read_shared_of_missing_event_fails_every_caller(
    services: Services,
) -> None:
    missing = uuid.uuid4()
    cache = services.availability

    results = await asyncio.gather(
        *(
            cache.read_shared(services.sessions, missing, services.clock)
            for _ in range(3)
        ),
        return_exceptions=True,
    )

    assert all(isinstance(result, LookupError) for result in results)


@pytest.mark.parametrize("callers", [1, 5])
async def test_read_shared_leaves_no_pending_read(
    services: Services, callers: int
) -> None:
    event = await make_event(services)
    cache = services.availability

    await asyncio.gather(
        *(
            cache.read_shared(services.sessions, event.event.id, services.clock)
            for _ in range(callers)
        )
    )

    assert cache._next_reads == {}
    assert cache._reading == set()
