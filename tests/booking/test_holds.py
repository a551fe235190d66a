"""Holds: all or none, expiry, extension cap, limits, sale window, idempotency."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from seatline.app import create_app
from seatline.booking import errors
from seatline.booking.best_available import BestAvailableRequest
from seatline.booking.clock import ManualClock
from seatline.booking.events import block_seats
from seatline.booking.expiry import sweep
from seatline.booking.holds import (
    HoldRequest,
    extend_hold,
    hold_seats,
    hold_status,
    release_hold,
)
from seatline.booking.services import Services
from seatline.models import Event, EventSeat, Hold, HoldStatus, SeatStatus
from tests.conftest import (
    DatabaseUnderTest,
    EventFixture,
    make_event,
    seat_ids,
    settings_for,
)


def request(
    event: EventFixture,
    seats: list[str] | None = None,
    *,
    key: str | None = None,
    best: BestAvailableRequest | None = None,
) -> HoldRequest:
    return HoldRequest(
        event_id=event.event.id,
        idempotency_key=key or str(uuid.uuid4()),
        seat_ids=seats,
        best_available=best,
    )


async def statuses(services: Services, event: EventFixture) -> dict[SeatStatus, int]:
    async with services.sessions() as session:
        rows = await session.execute(
            select(EventSeat.status, func.count())
            .where(EventSeat.event_id == event.event.id)
            .group_by(EventSeat.status)
        )
        return {status: count for status, count in rows}  # noqa: C416 - Result has keys()


async def version(services: Services, event: EventFixture) -> int:
    async with services.sessions() as session:
        value = await session.scalar(
            select(Event.seat_version).where(Event.id == event.event.id)
        )
    assert value is not None
    return value


async def test_hold_takes_all_requested_seats(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)[:3]

    hold = await hold_seats(services, "buyer-a", request(on_sale, seats))

    assert hold.status is HoldStatus.ACTIVE
    assert hold.seat_count == 3
    assert (await statuses(services, on_sale))[SeatStatus.HELD] == 3
    assert await version(services, on_sale) == 1


async def test_hold_is_all_or_none(services: Services, on_sale: EventFixture) -> None:
    seats = seat_ids(on_sale)
    await hold_seats(services, "buyer-a", request(on_sale, [seats[1]]))

    with pytest.raises(errors.SeatsUnavailable) as raised:
        await hold_seats(services, "buyer-b", request(on_sale, seats[0:3]))

    assert raised.value.seat_ids == [seats[1]]
    assert (await statuses(services, on_sale))[SeatStatus.HELD] == 1
    assert await version(services, on_sale) == 1


async def test_hold_rejects_unknown_and_duplicate_seats(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)

    with pytest.raises(errors.InvalidInput, match="unknown seat ids") as unknown:
        await hold_seats(
            services, "buyer-a", request(on_sale, [seats[0], "no-such-seat"])
        )
    with pytest.raises(errors.InvalidInput, match="duplicate seat ids"):
        await hold_seats(services, "buyer-a", request(on_sale, [seats[0], seats[0]]))
    with pytest.raises(errors.InvalidInput, match="at least one seat"):
        await hold_seats(services, "buyer-a", request(on_sale, []))

    assert unknown.value.field == "seatIds"
    assert SeatStatus.HELD not in await statuses(services, on_sale)


async def test_hold_rejects_seats_of_another_venue(services: Services) -> None:
    first = await make_event(services)
    second = await make_event(services, rows=10)
    foreign = [seat for seat in seat_ids(second) if seat not in set(seat_ids(first))]

    with pytest.raises(errors.InvalidInput, match="unknown seat ids"):
        await hold_seats(services, "buyer-a", request(first, foreign[:1]))


async def test_expired_hold_frees_seats_before_sweeper(
    services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)[:2]
    first = await hold_seats(services, "buyer-a", request(on_sale, seats))
    clock.advance(on_sale.event.hold_duration_seconds + 1)

    second = await hold_seats(services, "buyer-b", request(on_sale, seats))

    assert hold_status(first, clock.now()) is HoldStatus.EXPIRED
    assert second.buyer_id == "buyer-b"
    assert (await statuses(services, on_sale))[SeatStatus.HELD] == 2


async def stored_hold(services: Services, hold_id: uuid.UUID) -> Hold:
    async with services.sessions() as session:
        stored = await session.get(Hold, hold_id)
    assert stored is not None
    return stored


async def sweep_all(services: Services) -> None:
    """Sweep until nothing is left; the database is shared with other tests."""
    while sum((await sweep(services)).__dict__.values()):
        pass


async def test_sweeper_releases_expired_holds(
    services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    hold = await hold_seats(
        services, "buyer-a", request(on_sale, seat_ids(on_sale)[:4])
    )
    clock.advance(on_sale.event.hold_duration_seconds - 1)
    await sweep_all(services)
    assert (await stored_hold(services, hold.id)).status is HoldStatus.ACTIVE

    clock.advance(2)
    await sweep_all(services)

    assert (await stored_hold(services, hold.id)).status is HoldStatus.EXPIRED
    assert SeatStatus.HELD not in await statuses(services, on_sale)
    assert await version(services, on_sale) == 2


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_sweeper_runs_while_request_pool_is_full(
    database: DatabaseUnderTest,
    key_file: Path,
    services: Services,
    clock: ManualClock,
    on_sale: EventFixture,
) -> None:
    seats = seat_ids(on_sale)[:2]
    hold = await hold_seats(services, "buyer-a", request(on_sale, seats))
    clock.advance(on_sale.event.hold_duration_seconds + 1)
    settings = settings_for(
        database,
        key_file,
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout_seconds=0.5,
        sweeper_interval_seconds=0.05,
    )
    app = create_app(settings, clock=clock, payments=services.payments)

    # The request pool's only connection stays busy throughout.
    async with (
        app.router.lifespan_context(app),
        app.state.engine.connect() as busy,
    ):
        await busy.execute(text("SELECT 1"))
        for _ in range(200):
            if (await stored_hold(services, hold.id)).status is HoldStatus.EXPIRED:
                break
            await asyncio.sleep(0.05)

    assert (await stored_hold(services, hold.id)).status is HoldStatus.EXPIRED


async def test_sweeper_leaves_reheld_seats_alone(
    services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)[:2]
    await hold_seats(services, "buyer-a", request(on_sale, seats))
    clock.advance(on_sale.event.hold_duration_seconds + 1)
    await hold_seats(services, "buyer-b", request(on_sale, seats))

    await sweep(services)

    assert (await statuses(services, on_sale))[SeatStatus.HELD] == 2


async def test_extend_hold_moves_deadline_up_to_cap(
    services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    hold = await hold_seats(
        services, "buyer-a", request(on_sale, seat_ids(on_sale)[:1])
    )
    duration = on_sale.event.hold_duration_seconds
    cap = services.settings.hold_max_lifetime_seconds

    clock.advance(duration - 10)
    extended = await extend_hold(services, "buyer-a", hold.id)
    assert (extended.expires_at - clock.now()).total_seconds() == duration

    while (extended.max_expires_at - extended.expires_at).total_seconds() > 0:
        clock.advance(duration - 10)
        extended = await extend_hold(services, "buyer-a", hold.id)

    assert extended.expires_at == extended.max_expires_at
    assert (extended.max_expires_at - hold.created_at).total_seconds() == cap
    with pytest.raises(errors.LimitExceeded, match="maximum lifetime"):
        await extend_hold(services, "buyer-a", hold.id)


async def test_extend_expired_hold_fails(
    services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    hold = await hold_seats(
        services, "buyer-a", request(on_sale, seat_ids(on_sale)[:1])
    )
    clock.advance(on_sale.event.hold_duration_seconds)

    with pytest.raises(errors.HoldExpired):
        await extend_hold(services, "buyer-a", hold.id)


async def test_release_hold_frees_seats(
    services: Services, on_sale: EventFixture
) -> None:
    hold = await hold_seats(
        services, "buyer-a", request(on_sale, seat_ids(on_sale)[:2])
    )

    released = await release_hold(services, "buyer-a", hold.id)

    assert released.status is HoldStatus.RELEASED
    assert SeatStatus.HELD not in await statuses(services, on_sale)
    with pytest.raises(errors.InvalidState):
        await release_hold(services, "buyer-a", hold.id)


async def test_other_buyer_cannot_touch_hold(
    services: Services, on_sale: EventFixture
) -> None:
    hold = await hold_seats(
        services, "buyer-a", request(on_sale, seat_ids(on_sale)[:2])
    )

    with pytest.raises(errors.NotFound):
        await release_hold(services, "buyer-b", hold.id)
    with pytest.raises(errors.NotFound):
        await extend_hold(services, "buyer-b", hold.id)


async def test_per_order_limit(services: Services, on_sale: EventFixture) -> None:
    limit = on_sale.event.max_seats_per_order

    with pytest.raises(errors.LimitExceeded) as raised:
        await hold_seats(
            services, "buyer-a", request(on_sale, seat_ids(on_sale)[: limit + 1])
        )

    assert raised.value.limit == limit
    assert SeatStatus.HELD not in await statuses(services, on_sale)


async def test_per_buyer_limit_counts_active_holds(
    services: Services, clock: ManualClock
) -> None:
    event = await make_event(services, max_seats_per_order=4, max_seats_per_buyer=6)
    seats = seat_ids(event)
    await hold_seats(services, "buyer-a", request(event, seats[0:4]))

    with pytest.raises(errors.LimitExceeded) as raised:
        await hold_seats(services, "buyer-a", request(event, seats[10:13]))
    assert raised.value.limit == 6

    await hold_seats(services, "buyer-a", request(event, seats[10:12]))
    await hold_seats(services, "buyer-b", request(event, seats[20:24]))

    clock.advance(event.event.hold_duration_seconds + 1)
    await hold_seats(services, "buyer-a", request(event, seats[30:34]))


async def test_hold_requires_open_sale(services: Services, clock: ManualClock) -> None:
    from datetime import timedelta

    from seatline.models import EventStatus

    draft = await make_event(services, status=EventStatus.DRAFT)
    closed = await make_event(services, status=EventStatus.SALES_CLOSED)
    later = await make_event(
        services,
        sale_starts_at=clock.now() + timedelta(hours=1),
        sale_ends_at=clock.now() + timedelta(days=2),
    )

    for event in (draft, closed, later):
        with pytest.raises(errors.SaleNotOpen):
            await hold_seats(services, "buyer-a", request(event, seat_ids(event)[:1]))

    clock.advance(3601)
    await hold_seats(services, "buyer-a", request(later, seat_ids(later)[:1]))
    clock.advance(2 * 86400)
    with pytest.raises(errors.SaleNotOpen, match="sales closed"):
        await hold_seats(services, "buyer-a", request(later, seat_ids(later)[1:2]))


async def test_blocked_seats_cannot_be_held(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    await block_seats(
        services, on_sale.event.id, seats[:1], organizer_id=on_sale.organizer_id
    )

    with pytest.raises(errors.SeatsUnavailable):
        await hold_seats(services, "buyer-a", request(on_sale, seats[:2]))


async def test_hold_idempotency_key_replays(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)[:2]
    key = str(uuid.uuid4())

    first = await hold_seats(services, "buyer-a", request(on_sale, seats, key=key))
    again = await hold_seats(services, "buyer-a", request(on_sale, seats, key=key))

    assert again.id == first.id
    assert (await statuses(services, on_sale))[SeatStatus.HELD] == 2
    assert await version(services, on_sale) == 1
    with pytest.raises(errors.IdempotencyKeyReused):
        await hold_seats(
            services, "buyer-a", request(on_sale, seat_ids(on_sale)[5:6], key=key)
        )


async def test_hold_idempotency_key_replays_failure(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)[:2]
    key = str(uuid.uuid4())
    taken = await hold_seats(services, "buyer-b", request(on_sale, seats))
    with pytest.raises(errors.SeatsUnavailable):
        await hold_seats(services, "buyer-a", request(on_sale, seats, key=key))
    await release_hold(services, "buyer-b", taken.id)

    with pytest.raises(errors.SeatsUnavailable) as replayed:
        await hold_seats(services, "buyer-a", request(on_sale, seats, key=key))

    assert sorted(replayed.value.seat_ids) == sorted(seats)


async def test_idempotency_keys_are_per_buyer(
    services: Services, on_sale: EventFixture
) -> None:
    key = str(uuid.uuid4())
    seats = seat_ids(on_sale)

    first = await hold_seats(services, "buyer-a", request(on_sale, seats[:1], key=key))
    second = await hold_seats(
        services, "buyer-b", request(on_sale, seats[1:2], key=key)
    )

    assert first.id != second.id


async def test_hold_rejects_bad_idempotency_key(
    services: Services, on_sale: EventFixture
) -> None:
    for key in ("short", "x" * 201, "has\nnewline-inside"):
        with pytest.raises(errors.InvalidInput) as raised:
            await hold_seats(
                services, "buyer-a", request(on_sale, seat_ids(on_sale)[:1], key=key)
            )
        assert raised.value.field == "idempotencyKey"


async def test_concurrent_sweepers_expire_each_hold_once(
    services: Services, clock: ManualClock
) -> None:
    event = await make_event(
        services, rows=10, seats_per_row=20, max_seats_per_buyer=100
    )
    seats = seat_ids(event)
    created = [
        await hold_seats(
            services, f"buyer-{index}", request(event, seats[2 * index : 2 * index + 2])
        )
        for index in range(40)
    ]
    clock.advance(event.event.hold_duration_seconds + 1)

    results = await asyncio.gather(*(sweep(services) for _ in range(4)))

    assert sum(result.expired_holds for result in results) >= len(created)
    for hold in created:
        assert (await stored_hold(services, hold.id)).status is HoldStatus.EXPIRED
    assert SeatStatus.HELD not in await statuses(services, event)
    # Forty holds took versions 1 to 40; each sweeper transaction that freed
    # seats took one more, and every freed seat carries one of those.
    async with services.sessions() as session:
        seat_versions = set(
            (
                await session.scalars(
                    select(EventSeat.version).where(
                        EventSeat.event_id == event.event.id, EventSeat.version > 0
                    )
                )
            ).all()
        )
    final = await version(services, event)
    assert 41 <= final <= 44
    assert seat_versions == set(range(41, final + 1))


async def test_concurrent_best_available_buyers_scatter(
    services: Services, on_sale: EventFixture
) -> None:
    buyers = [f"buyer-{n}" for n in range(8)]
    best = BestAvailableRequest(count=2)

    holds = await asyncio.gather(
        *(hold_seats(services, buyer, request(on_sale, best=best)) for buyer in buyers)
    )

    taken = [seat for hold in holds for seat in hold.seat_guids or []]
    assert len(taken) == len(set(taken)) == 16
    # Every chooser was counted out again, or later buyers would scatter.
    assert not services.choosers
