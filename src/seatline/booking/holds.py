"""Holds: reserve seats for one buyer until a deadline, all or none."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from seatline.booking.best_available import (
    BestAvailableRequest,
    choose_seats,
    single_gaps,
)
from seatline.booking.errors import (
    BookingError,
    HoldExpired,
    InvalidInput,
    InvalidState,
    LimitExceeded,
    NotFound,
    SeatsUnavailable,
    SingleSeatGap,
)
from seatline.booking.events import ensure_sale_open, get_event
from seatline.booking.idempotency import (
    IdempotentCall,
    idempotency_row,
    raise_if_stored,
    raise_stored_error,
    record_result,
    run_idempotent,
)
from seatline.booking.seatmap import shared_reads
from seatline.booking.seats import (
    SeatRef,
    bump_version,
    claim_seats,
    claim_statement,
    is_free,
    resolve_seats,
    seat_refs,
)
from seatline.booking.services import Services
from seatline.booking.waiting_room import require_admission
from seatline.models import (
    Event,
    EventBuyer,
    EventSeat,
    Hold,
    HoldSeat,
    HoldStatus,
    IdempotencyRecord,
    Order,
    Seat,
    SeatStatus,
)
from seatline.models.base import new_id
from seatline.observability import outcomes
from seatline.subscriptions.publisher import SeatChangeBatch

# How often best available re-chooses after losing a race for its seats.
# Each retry picks at random among twice as many of the best candidates as
# the last, so buyers who collided spread out instead of colliding again.
BEST_AVAILABLE_ATTEMPTS = 8


@dataclass(frozen=True)
class HoldRequest:
    event_id: uuid.UUID
    idempotency_key: str
    seat_ids: list[str] | None = None
    best_available: BestAvailableRequest | None = None
    # Required for events with a waiting room. Left out of `as_dict`, so a
    # retry with a fresh pass replays the same idempotent request.
    admission_pass: str | None = None

    def as_dict(self) -> dict[str, Any]:
        best = self.best_available
        return {
            "event_id": str(self.event_id),
            "seat_ids": self.seat_ids,
            "best_available": None if best is None else best.__dict__,
        }


def hold_status(hold: Hold, now: datetime) -> HoldStatus:
    """The status a buyer sees: an active hold past its deadline is expired."""
    if hold.status is HoldStatus.ACTIVE and hold.expires_at <= now:
        return HoldStatus.EXPIRED
    return hold.status


async def hold_seats(services: Services, buyer_id: str, request: HoldRequest) -> Hold:
    """Hold the requested seats for `buyer_id`, all of them or none."""
    if (request.seat_ids is None) == (request.best_available is None):
        raise InvalidInput(
            "give either seatIds or bestAvailable, not both", field="seatIds"
        )
    call = IdempotentCall.create(
        buyer_id, request.idempotency_key, "holdSeats", request.as_dict()
    )

    async def perform() -> Hold:
        with outcomes.hold_attempt():
            if request.best_available is not None:
                return await _hold_best_available(services, buyer_id, request, call)
            assert request.seat_ids is not None
            return await _hold_chosen(
                services,
                buyer_id,
                request.event_id,
                request.seat_ids,
                call,
                admission_pass=request.admission_pass,
            )

    # Each path looks the key up itself: chosen seats in their transaction,
    # because a separate session cost each hold a pool checkout and four
    # round trips, and best available before its shared read.
    return await run_idempotent(
        services,
        call,
        perform,
        lambda result: _replay(services, buyer_id, result),
        lookup_first=False,
    )


async def _replay(services: Services, buyer_id: str, result: dict[str, Any]) -> Hold:
    raise_stored_error(result)
    return await get_hold(services, buyer_id, uuid.UUID(result["hold_id"]))


async def _hold_chosen(
    services: Services,
    buyer_id: str,
    event_id: uuid.UUID,
    guids: list[str],
    call: IdempotentCall,
    *,
    admission_pass: str | None,
) -> Hold:
    now = services.clock.now()
    async with services.transaction() as session:
        await raise_if_stored(session, call)
        event = await get_event(session, event_id)
        ensure_sale_open(event, now)
        require_admission(services, event, buyer_id, admission_pass, now)
        seats = await resolve_seats(session, event, guids)
        await check_seat_limits(session, event, buyer_id, len(seats), now)
        if event.no_single_seat_gaps:
            await _check_single_gaps(services, session, event, seats, now)
        hold, batch = await _claim(services, session, event, buyer_id, seats, now, call)
    await services.publish([batch])
    return hold


async def _hold_best_available(
    services: Services, buyer_id: str, request: HoldRequest, call: IdempotentCall
) -> Hold:
    best = request.best_available
    assert best is not None
    if not 1 <= best.count <= 100:
        raise InvalidInput(
            "bestAvailable.count must be between 1 and 100", field="bestAvailable.count"
        )

    services.choosers[request.event_id] += 1
    try:
        return await _choose_and_claim(services, buyer_id, request, call)
    finally:
        services.choosers[request.event_id] -= 1
        if not services.choosers[request.event_id]:
            del services.choosers[request.event_id]


async def _choose_and_claim(
    services: Services, buyer_id: str, request: HoldRequest, call: IdempotentCall
) -> Hold:
    best = request.best_available
    assert best is not None
    lost: frozenset[int] = frozenset()
    for attempt in range(BEST_AVAILABLE_ATTEMPTS):
        now = services.clock.now()
        if attempt == 0:
            async with services.sessions() as session:
                await raise_if_stored(session, call)
        # Choose on a read, outside the write transaction, so that the
        # event's version lock is never held while choosing. The guarded
        # write below makes a stale choice lose the race, never double-sell.
        # The read is shared with the buyers choosing at the same moment and
        # takes one connection for all of them.
        shared, geometry = await shared_reads(services, request.event_id)
        event = shared.event
        ensure_sale_open(event, now)
        require_admission(services, event, buyer_id, request.admission_pass, now)
        _check_filters(best, geometry.categories, geometry.sections)
        availability = shared.availability
        places = choose_seats(
            geometry,
            availability.free(),
            best,
            avoid_single_gaps=event.no_single_seat_gaps,
            exclude=lost,
            # Buyers choosing together would all pick the one best block,
            # and all but one would lose the race. Each picks at random among
            # as many of the best blocks as there are buyers choosing.
            spread=max(
                services.choosers[request.event_id], 1 if attempt == 0 else 4 << attempt
            ),
        )
        if places is None:
            raise SeatsUnavailable(
                _no_seats_message(best), seat_ids=[], field="bestAvailable"
            )
        seats = [SeatRef(p.seat_id, p.guid, p.ordinal, p.category_id) for p in places]
        try:
            async with services.transaction() as session:
                event = await get_event(session, request.event_id)
                ensure_sale_open(event, now)
                await check_seat_limits(session, event, buyer_id, best.count, now)
                hold, batch = await _claim(
                    services,
                    session,
                    event,
                    buyer_id,
                    seats,
                    now,
                    call,
                    best_available=True,
                )
        except _LostRace as race:
            lost = lost | race.ordinals
            continue
        await services.publish([batch])
        return hold
    raise SeatsUnavailable(
        "the best available seats were taken by other buyers while choosing; try again",
        seat_ids=[],
        field="bestAvailable",
    )


class _LostRace(BookingError):
    def __init__(self, ordinals: frozenset[int]) -> None:
        super().__init__("seats taken concurrently")
        self.ordinals = ordinals


def _check_filters(
    best: BestAvailableRequest, categories: dict[str, int], sections: dict[str, int]
) -> None:
    if best.category is not None and best.category not in categories:
        raise InvalidInput(
            f"unknown category {best.category!r}", field="bestAvailable.category"
        )
    if best.section is not None and best.section not in sections:
        raise InvalidInput(
            f"unknown section {best.section!r}", field="bestAvailable.section"
        )


def _no_seats_message(best: BestAvailableRequest) -> str:
    where = []
    if best.category:
        where.append(f"category {best.category!r}")
    if best.section:
        where.append(f"section {best.section!r}")
    kind = "adjacent seats" if best.adjacent else "seats"
    place = f" in {' and '.join(where)}" if where else ""
    return f"no {best.count} {kind} available{place}"


async def _claim(
    services: Services,
    session: AsyncSession,
    event: Event,
    buyer_id: str,
    seats: list[SeatRef],
    now: datetime,
    call: IdempotentCall,
    *,
    best_available: bool = False,
) -> tuple[Hold, SeatChangeBatch]:
    expires_at = now + timedelta(seconds=event.hold_duration_seconds)
    hold = Hold(
        id=new_id(),
        event_id=event.id,
        buyer_id=buyer_id,
        status=HoldStatus.ACTIVE,
        created_at=now,
        expires_at=expires_at,
        max_expires_at=now
        + timedelta(seconds=services.settings.hold_max_lifetime_seconds),
        seat_count=len(seats),
    )
    seat_ids = [seat.seat_id for seat in seats]
    result = {"hold_id": str(hold.id)}
    # Buyers asking for the best seats all choose the same ones. A seat
    # another buyer is claiming is lost for this choice anyway, so it is
    # skipped, not waited for while holding a pooled connection.
    skip_locked = best_available
    if session.get_bind().dialect.name == "postgresql":
        record = idempotency_row(call, result, services)
        changed = await _insert_and_claim(
            session, hold, seat_ids, now, record, skip_locked=skip_locked
        )
        _raise_if_lost(seats, changed, best_available=best_available)
    else:
        session.add(hold)
        await session.flush()
        changed = await claim_seats(
            session,
            event.id,
            seat_ids,
            guard=is_free(now),
            values={
                "status": SeatStatus.HELD,
                "hold_id": hold.id,
                "hold_expires_at": expires_at,
            },
            skip_locked=skip_locked,
        )
        _raise_if_lost(seats, changed, best_available=best_available)
        session.add_all(
            HoldSeat(hold_id=hold.id, seat_id=seat_id) for seat_id in seat_ids
        )
        record_result(session, call, result, services)
        # Write everything else first: from the version bump to the commit
        # the event row is locked, and other buyers of this event wait on it.
        await session.flush()
    batch = await bump_version(session, event.id, seats, SeatStatus.HELD)
    hold.seat_guids = [seat.guid for seat in seats]
    return hold, batch


async def _insert_and_claim(
    session: AsyncSession,
    hold: Hold,
    seat_ids: list[int],
    now: datetime,
    record: dict[str, Any],
    *,
    skip_locked: bool,
) -> set[int]:
    """Insert the hold, claim its seats and store the result in one statement.

    Returns the seat ids the claim changed. The hold seats are inserted for
    the claimed seats only, and a caller that finds a seat missing raises,
    which rolls all of it back. One statement saves three round trips and
    the ORM flush per hold. Each round trip costs CPU time in this process.
    """
    connection = await session.connection()
    changed = await connection.scalars(
        _insert_and_claim_statement(skip_locked),
        {
            "param_hold_id": hold.id,
            "param_event_id": hold.event_id,
            "param_buyer_id": hold.buyer_id,
            "param_hold_status": hold.status,
            "param_created_at": hold.created_at,
            "param_expires_at": hold.expires_at,
            "param_max_expires_at": hold.max_expires_at,
            "param_seat_count": hold.seat_count,
            "param_seat_ids": seat_ids,
            "param_now": now,
            **{f"param_record_{name}": value for name, value in record.items()},
        },
    )
    return set(changed)


@functools.cache
def _insert_and_claim_statement(skip_locked: bool) -> Select[int]:
    # Built once per process with bound parameters: building the statement
    # and its cache key for every hold cost more CPU time than compiling.
    # The parameter names differ from the column names, because SQLAlchemy
    # adds a parameter named like a column to the UPDATE's SET clause.
    hold_row = (
        insert(Hold)
        .values(
            id=bindparam("param_hold_id"),
            event_id=bindparam("param_event_id"),
            buyer_id=bindparam("param_buyer_id"),
            status=bindparam("param_hold_status"),
            created_at=bindparam("param_created_at"),
            expires_at=bindparam("param_expires_at"),
            max_expires_at=bindparam("param_max_expires_at"),
            seat_count=bindparam("param_seat_count"),
        )
        .returning(Hold.id)
        .cte("hold_row")
    )
    claimed = claim_statement(
        bindparam("param_event_id"),
        bindparam("param_seat_ids", expanding=True),
        guard=is_free(bindparam("param_now")),
        values={
            "status": SeatStatus.HELD,
            "hold_id": bindparam("param_hold_id"),
            "hold_expires_at": bindparam("param_expires_at"),
        },
        skip_locked=skip_locked,
    ).cte("claimed")
    # The foreign keys of hold_seats and event_seats to the new hold are
    # checked at the end of the statement, after every part ran.
    hold_seats = (
        insert(HoldSeat)
        .from_select(
            [HoldSeat.hold_id, HoldSeat.seat_id],
            select(hold_row.c.id, claimed.c.seat_id).select_from(
                hold_row.join(claimed, true())
            ),
        )
        .cte("hold_seat_rows")
    )
    stored = (
        insert(IdempotencyRecord)
        .values(
            {
                name: bindparam(f"param_record_{name}")
                for name in (
                    "principal_id",
                    "key",
                    "operation",
                    "request_hash",
                    "result",
                    "created_at",
                )
            }
        )
        .cte("stored_result")
    )
    return select(claimed.c.seat_id).add_cte(hold_seats, stored)


def _raise_if_lost(
    seats: list[SeatRef], changed: set[int], *, best_available: bool
) -> None:
    if len(changed) == len(seats):
        return
    if best_available:
        raise _LostRace(frozenset(s.ordinal for s in seats if s.seat_id not in changed))
    taken = [seat.guid for seat in seats if seat.seat_id not in changed]
    raise SeatsUnavailable(
        f"{len(taken)} of the requested seats are not available: "
        f"{', '.join(taken[:20])}",
        seat_ids=taken,
    )


async def check_seat_limits(
    session: AsyncSession, event: Event, buyer_id: str, count: int, now: datetime
) -> None:
    """Enforce the per-order and per-buyer seat limits of the event.

    Locks the buyer's row for this event first, so two concurrent holds of
    one buyer are counted one after the other.
    """
    if count > event.max_seats_per_order:
        raise LimitExceeded(
            f"at most {event.max_seats_per_order} seats per order, requested {count}",
            limit=event.max_seats_per_order,
            field="seatIds",
        )

    await _lock_buyer(session, event.id, buyer_id)
    connection = await session.connection()
    held_count, sold_count = (
        await connection.execute(
            _BUYER_SEAT_COUNTS,
            {"event_id": event.id, "buyer_id": buyer_id, "now": now},
        )
    ).one()
    already = (held_count or 0) + (sold_count or 0)
    if already + count > event.max_seats_per_buyer:
        raise LimitExceeded(
            f"at most {event.max_seats_per_buyer} seats per buyer for this event; "
            f"you hold or bought {already} and requested {count}",
            limit=event.max_seats_per_buyer,
            field="seatIds",
        )


async def _lock_buyer(
    session: AsyncSession, event_id: uuid.UUID, buyer_id: str
) -> None:
    statement = _lock_buyer_statement(session.get_bind().dialect.name)
    # On the connection, because Session.execute runs an INSERT through the
    # ORM's bulk insert path, which costs CPU time and adds nothing here.
    connection = await session.connection()
    await connection.execute(
        statement, {"param_event_id": event_id, "param_buyer_id": buyer_id}
    )


@functools.cache
def _lock_buyer_statement(dialect: str) -> postgresql.Insert | sqlite.Insert:
    # An upsert that sets the key to itself locks the row it finds, so the
    # row is created if missing and locked in one statement.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(EventBuyer).values(
        event_id=bindparam("param_event_id"), buyer_id=bindparam("param_buyer_id")
    )
    return statement.on_conflict_do_update(
        index_elements=[EventBuyer.event_id, EventBuyer.buyer_id],
        set_={"buyer_id": statement.excluded.buyer_id},
    )


def _buyer_seat_counts() -> Select[int, int]:
    held = (
        select(func.count())
        .select_from(EventSeat)
        .join(Hold, Hold.id == EventSeat.hold_id)
        .where(
            EventSeat.event_id == bindparam("event_id"),
            EventSeat.status == SeatStatus.HELD,
            EventSeat.hold_expires_at > bindparam("now"),
            Hold.buyer_id == bindparam("buyer_id"),
        )
    )
    sold = (
        select(func.count())
        .select_from(EventSeat)
        .join(Order, Order.id == EventSeat.order_id)
        .where(
            EventSeat.event_id == bindparam("event_id"),
            EventSeat.status == SeatStatus.SOLD,
            Order.buyer_id == bindparam("buyer_id"),
        )
    )
    # One statement for both counts, because each round trip costs server
    # CPU time and a turn of the event loop.
    return select(held.scalar_subquery(), sold.scalar_subquery())


# Built once per process: a new statement per hold cost more CPU time in
# SQLAlchemy than running it.
_BUYER_SEAT_COUNTS = _buyer_seat_counts()


async def _check_single_gaps(
    services: Services,
    session: AsyncSession,
    event: Event,
    seats: list[SeatRef],
    now: datetime,
) -> None:
    # NOTE: checked on a read before the guarded write, so two concurrent
    # holds can together still leave a gap; the seats themselves stay safe.
    geometry = await services.geometry.get(session, event.venue_id)
    availability = await services.availability.read(
        session, event, geometry.seat_count, now
    )
    isolated = single_gaps(
        geometry, availability.free(), {seat.ordinal for seat in seats}
    )
    if isolated:
        raise SingleSeatGap(
            "this selection would leave single empty seats beside it: "
            f"{', '.join(isolated[:10])}; add them or choose other seats",
            seat_ids=isolated,
        )


async def get_hold(services: Services, buyer_id: str, hold_id: uuid.UUID) -> Hold:
    async with services.sessions() as session:
        return await _own_hold(session, buyer_id, hold_id)


async def _own_hold(
    session: AsyncSession, buyer_id: str, hold_id: uuid.UUID, *, lock: bool = False
) -> Hold:
    hold = await session.get(Hold, hold_id, with_for_update=lock)
    if hold is None or hold.buyer_id != buyer_id:
        raise NotFound(f"hold {hold_id} not found", field="holdId")
    return hold


async def hold_seat_ids(services: Services, hold_id: uuid.UUID) -> list[str]:
    """Public ids of the seats a hold was created with."""
    async with services.sessions() as session:
        rows = await session.scalars(
            select(Seat.guid)
            .join(HoldSeat, HoldSeat.seat_id == Seat.id)
            .where(HoldSeat.hold_id == hold_id)
            .order_by(Seat.ordinal)
        )
        return list(rows)


async def extend_hold(services: Services, buyer_id: str, hold_id: uuid.UUID) -> Hold:
    """Move the deadline by the event's hold duration, up to the lifetime cap."""
    now = services.clock.now()
    async with services.transaction() as session:
        hold = await _own_hold(session, buyer_id, hold_id, lock=True)
        _ensure_active(hold, now)
        event = await get_event(session, hold.event_id)
        new_expiry = min(
            now + timedelta(seconds=event.hold_duration_seconds), hold.max_expires_at
        )
        if new_expiry <= hold.expires_at:
            raise LimitExceeded(
                f"hold {hold_id} reached its maximum lifetime at "
                f"{hold.max_expires_at.isoformat()}; check out or release it",
                limit=services.settings.hold_max_lifetime_seconds,
                field="holdId",
            )
        hold.expires_at = new_expiry
        await session.execute(
            update(EventSeat)
            .where(EventSeat.hold_id == hold.id, EventSeat.status == SeatStatus.HELD)
            .values(hold_expires_at=new_expiry)
            .execution_options(synchronize_session=False)
        )
    return hold


def _ensure_active(hold: Hold, now: datetime) -> None:
    status = hold_status(hold, now)
    if status is HoldStatus.EXPIRED:
        raise HoldExpired(
            f"hold {hold.id} expired at {hold.expires_at.isoformat()}; "
            "hold the seats again",
            field="holdId",
        )
    if status is not HoldStatus.ACTIVE:
        raise InvalidState(f"hold {hold.id} is {status.value}", field="holdId")


async def release_hold(services: Services, buyer_id: str, hold_id: uuid.UUID) -> Hold:
    """Give the hold's seats back; releasing an expired hold is allowed."""
    async with services.transaction() as session:
        hold = await _own_hold(session, buyer_id, hold_id, lock=True)
        if hold.status is not HoldStatus.ACTIVE:
            raise InvalidState(f"hold {hold.id} is {hold.status.value}", field="holdId")
        hold.status = HoldStatus.RELEASED
        batch = await free_hold_seats(session, hold)
    outcomes.hold_released()
    if batch is not None:
        await services.publish([batch])
    return hold


async def free_hold_seats(session: AsyncSession, hold: Hold) -> SeatChangeBatch | None:
    """Make the seats still held by `hold` available; bump the version."""
    changed = await claim_seats(
        session,
        hold.event_id,
        await _hold_seat_ids(session, hold.id),
        guard=(EventSeat.hold_id == hold.id) & (EventSeat.status == SeatStatus.HELD),
        values={
            "status": SeatStatus.AVAILABLE,
            "hold_id": None,
            "hold_expires_at": None,
        },
    )
    if not changed:
        return None
    return await bump_version(
        session,
        hold.event_id,
        await seat_refs(session, sorted(changed)),
        SeatStatus.AVAILABLE,
    )


async def _hold_seat_ids(session: AsyncSession, hold_id: uuid.UUID) -> list[int]:
    rows = await session.scalars(
        select(HoldSeat.seat_id).where(HoldSeat.hold_id == hold_id)
    )
    return list(rows)
