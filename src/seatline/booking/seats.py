"""Guarded seat writes and the per-event version that orders them.

Every write that changes seat status goes through `claim_seats`, then
`bump_version` in the same transaction. A claim is one UPDATE whose WHERE
clause is the caller's guard (for a hold: the seat is free), applied to
rows locked in seat-id order. So two transactions can never both win a
seat, and two claims never deadlock on each other's seats.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.sql.elements import BindParameter

from seatline.booking.errors import InvalidInput
from seatline.booking.validation import has_control_characters
from seatline.models import Event, EventSeat, Seat, SeatStatus
from seatline.subscriptions.publisher import SeatChange, SeatChangeBatch

MAX_SEATS_PER_REQUEST = 100
# The length of the seats.guid column.
MAX_SEAT_ID_LENGTH = 200


@dataclass(frozen=True)
class SeatRef:
    seat_id: int
    guid: str
    ordinal: int
    category_id: int


def is_free(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """SQL condition: the seat is available, or held by a hold that expired."""
    return or_(
        EventSeat.status == SeatStatus.AVAILABLE,
        and_(EventSeat.status == SeatStatus.HELD, EventSeat.hold_expires_at <= now),
    )


def effective_status(
    status: SeatStatus, hold_expires_at: datetime | None, now: datetime
) -> SeatStatus:
    """The status buyers see: an expired hold no longer holds its seat."""
    if (
        status is SeatStatus.HELD
        and hold_expires_at is not None
        and hold_expires_at <= now
    ):
        return SeatStatus.AVAILABLE
    return status


async def resolve_seats(
    session: AsyncSession, event: Event, guids: Sequence[str], *, field: str = "seatIds"
) -> list[SeatRef]:
    """Look up the event's seats by public id, in the order given.

    Raises `InvalidInput` naming the unknown ids, or duplicates.
    """
    if not guids:
        raise InvalidInput("at least one seat id is required", field=field)
    if len(guids) > MAX_SEATS_PER_REQUEST:
        raise InvalidInput(
            f"at most {MAX_SEATS_PER_REQUEST} seat ids per request, got {len(guids)}",
            field=field,
        )
    malformed = [
        guid
        for guid in guids
        if not 1 <= len(guid) <= MAX_SEAT_ID_LENGTH or has_control_characters(guid)
    ]
    if malformed:
        # PostgreSQL rejects NUL in text parameters, so these never reach it.
        raise InvalidInput(
            f"seat ids must be 1 to {MAX_SEAT_ID_LENGTH} characters without "
            f"control characters, got {malformed[0][:40]!r}",
            field=field,
        )
    duplicates = sorted({guid for guid in guids if guids.count(guid) > 1})
    if duplicates:
        raise InvalidInput(f"duplicate seat ids: {', '.join(duplicates)}", field=field)

    connection = await session.connection()
    rows = await connection.execute(
        _SEATS_BY_GUID, {"venue_id": event.venue_id, "guids": list(guids)}
    )
    by_guid = {
        row.guid: SeatRef(row.id, row.guid, row.ordinal, row.category_id)
        for row in rows
    }
    unknown = [guid for guid in guids if guid not in by_guid]
    if unknown:
        shown = ", ".join(unknown[:10])
        raise InvalidInput(f"unknown seat ids for this event: {shown}", field=field)
    return [by_guid[guid] for guid in guids]


# Built once, and run on the session's connection: building a statement
# per request and the ORM layer of Session.execute cost more CPU time in
# SQLAlchemy than running it.
_SEATS_BY_GUID = select(Seat.id, Seat.guid, Seat.ordinal, Seat.category_id).where(
    Seat.venue_id == bindparam("venue_id"),
    Seat.guid.in_(bindparam("guids", expanding=True)),
)


async def claim_seats(
    session: AsyncSession,
    event_id: uuid.UUID,
    seat_ids: Sequence[int],
    *,
    guard: ColumnElement[bool],
    values: dict[str, Any],
    skip_locked: bool = False,
) -> set[int]:
    """Set `values` on the seats that pass `guard`; return the ids changed.

    The caller compares the result with `seat_ids` and rolls back when a
    seat is missing, so a request gets all of its seats or none. With
    `skip_locked`, a seat that another transaction has locked counts as
    missing at once instead of being waited for.
    """
    statement = claim_statement(
        event_id, seat_ids, guard=guard, values=values, skip_locked=skip_locked
    )
    result = await session.execute(
        statement.execution_options(synchronize_session=False)
    )
    return set(result.scalars())


def claim_statement(
    event_id: uuid.UUID | BindParameter[uuid.UUID],
    seat_ids: Sequence[int] | BindParameter[list[int]],
    *,
    guard: ColumnElement[bool],
    values: dict[str, Any],
    skip_locked: bool = False,
) -> ReturningUpdate[int]:
    """Build the guarded UPDATE of `claim_seats`, returning the seat ids changed.

    Callers that run it inside a larger statement (as a CTE) must compare
    the ids returned with `seat_ids` the same way. `event_id` and `seat_ids`
    may be bound parameters, for a statement built once and run many times.
    """
    ordered = seat_ids if isinstance(seat_ids, BindParameter) else sorted(seat_ids)
    # Lock in seat-id order first; the UPDATE then re-checks the guard on
    # the locked rows. SQLite ignores FOR UPDATE and serialises writers.
    locked = (
        select(EventSeat.seat_id)
        .where(EventSeat.event_id == event_id, EventSeat.seat_id.in_(ordered), guard)
        .order_by(EventSeat.seat_id)
        .with_for_update(skip_locked=skip_locked)
    )
    return (
        update(EventSeat)
        .where(
            EventSeat.event_id == event_id,
            EventSeat.seat_id.in_(locked.scalar_subquery()),
            guard,
        )
        .values(**values)
        .returning(EventSeat.seat_id)
    )


async def bump_version(
    session: AsyncSession,
    event_id: uuid.UUID,
    seats: Sequence[SeatRef],
    status: SeatStatus,
) -> SeatChangeBatch:
    """Give this transaction's seat changes the event's next version.

    Call it last before commit: it locks the event row, which serialises
    the versions of concurrent transactions in commit order.
    """
    seat_ids = [seat.seat_id for seat in seats]
    if seats and session.get_bind().dialect.name == "postgresql":
        version = await _bump_with_seats(session, event_id, seat_ids)
    else:
        bumped_version = await session.scalar(
            update(Event)
            .where(Event.id == event_id)
            .values(seat_version=Event.seat_version + 1)
            .returning(Event.seat_version)
        )
        assert bumped_version is not None
        version = bumped_version
        await session.execute(
            update(EventSeat)
            .where(EventSeat.event_id == event_id, EventSeat.seat_id.in_(seat_ids))
            .values(version=version)
            .execution_options(synchronize_session=False)
        )
    changes = [SeatChange(seat.guid, seat.ordinal, status.value) for seat in seats]
    return SeatChangeBatch(event_id=event_id, version=version, changes=changes)


async def _bump_with_seats(
    session: AsyncSession, event_id: uuid.UUID, seat_ids: list[int]
) -> int:
    """Bump the version and stamp the seats with it in one statement.

    The event row stays locked from the bump to the commit, and every
    buyer of the event waits for it. Each round trip inside that window
    also waits for a turn of the event loop, so one is saved here.
    """
    connection = await session.connection()
    version = await connection.scalar(
        _BUMP_WITH_SEATS,
        {"param_event_id": event_id, "param_seat_ids": seat_ids},
    )
    # The seats are this transaction's own changes, so at least one row
    # matches.
    assert version is not None
    return int(version)


def _bump_with_seats_statement() -> ReturningUpdate[int]:
    bumped = (
        update(Event)
        .where(Event.id == bindparam("param_event_id"))
        .values(seat_version=Event.seat_version + 1)
        .returning(Event.seat_version)
        .cte("bumped")
    )
    return (
        update(EventSeat)
        .where(
            EventSeat.event_id == bindparam("param_event_id"),
            EventSeat.seat_id.in_(bindparam("param_seat_ids", expanding=True)),
        )
        .values(version=select(bumped.c.seat_version).scalar_subquery())
        .returning(EventSeat.version)
    )


# Built once per process: a new statement per write cost more CPU time in
# SQLAlchemy than running it. It runs on the session's connection, outside
# the ORM, so the session's objects are not synchronised.
_BUMP_WITH_SEATS = _bump_with_seats_statement()


async def seat_refs(session: AsyncSession, seat_ids: Sequence[int]) -> list[SeatRef]:
    rows = await session.execute(
        select(Seat.id, Seat.guid, Seat.ordinal, Seat.category_id)
        .where(Seat.id.in_(seat_ids))
        .order_by(Seat.id)
    )
    return [SeatRef(row.id, row.guid, row.ordinal, row.category_id) for row in rows]
