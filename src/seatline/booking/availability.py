"""Per-seat availability of an event, read in one query and packed compactly.

Encoding (`pack_codes`): two bits per seat, in layout order (seat
ordinal), four seats per byte with the first seat in the lowest two bits,
base64 (RFC 4648, with padding). Codes: 0 available, 1 held, 2 sold,
3 blocked. A 50,000-seat event is 12,500 bytes before base64, 16,668
after.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Row, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from seatline.booking.clock import Clock
from seatline.booking.seats import effective_status
from seatline.models import Event, EventSeat, Seat, SeatStatus, Venue

STATUS_CODES: dict[SeatStatus, int] = {
    SeatStatus.AVAILABLE: 0,
    SeatStatus.HELD: 1,
    SeatStatus.SOLD: 2,
    SeatStatus.BLOCKED: 3,
}
STATUS_BY_CODE = {code: status for status, code in STATUS_CODES.items()}


# Cached availability is reused while the event's version is unchanged and
# the entry is younger than this, in seconds. Expiry is not versioned, so a
# hold that lapsed shows as held for at most this long.
CACHE_MAX_AGE_SECONDS = 1.0


@dataclass(frozen=True)
class Availability:
    event_id: uuid.UUID
    version: int
    # Effective status code (see STATUS_CODES) by seat ordinal.
    codes: bytes

    @property
    def statuses(self) -> list[SeatStatus]:
        return [STATUS_BY_CODE[code] for code in self.codes]

    def free(self) -> list[bool]:
        return [code == 0 for code in self.codes]


def _status_code(now: datetime) -> ColumnElement[int]:
    """SQL expression for a seat's effective status code."""
    return case(
        (EventSeat.status == SeatStatus.AVAILABLE, 0),
        (
            (EventSeat.status == SeatStatus.HELD) & (EventSeat.hold_expires_at > now),
            1,
        ),
        (EventSeat.status == SeatStatus.HELD, 0),
        (EventSeat.status == SeatStatus.SOLD, 2),
        else_=3,
    )


async def read_availability(
    session: AsyncSession, event: Event, seat_count: int, now: datetime
) -> Availability:
    """Read every seat's effective status and the version they belong to.

    The version is read in the same statement snapshot as the seats (one
    query with a scalar subquery), so the pair is consistent. Statuses come
    back as small integers, which keeps a 50,000-seat read cheap.
    """
    version_column = (
        select(Event.seat_version).where(Event.id == event.id).scalar_subquery()
    )
    codes = bytearray(b"\x03" * seat_count)
    if session.get_bind().dialect.name == "postgresql":
        # One row of two arrays, because building 50,000 result rows took
        # most of a cold seat map's time (bench/side_by_side.py).
        ordinals, statuses, version = (
            await session.execute(
                select(
                    func.array_agg(EventSeat.ordinal),
                    func.array_agg(_status_code(now)),
                    version_column,
                ).where(EventSeat.event_id == event.id)
            )
        ).one()
        for ordinal, code in zip(ordinals or (), statuses or (), strict=True):
            codes[ordinal] = code
        if version is None:
            version = event.seat_version
        return Availability(event.id, version, bytes(codes))

    rows = (
        await session.execute(
            select(EventSeat.ordinal, _status_code(now), version_column).where(
                EventSeat.event_id == event.id
            )
        )
    ).all()
    version = _apply_rows(codes, rows, event.seat_version)
    return Availability(event.id, version, bytes(codes))


@dataclass(frozen=True)
class SharedRead:
    event: Event
    availability: Availability
    seat_count: int


class AvailabilityCache:
    """The latest availability per event, shared by this process's requests.

    An on-sale sends many seat-map reads for one event. While the event's
    version is unchanged, they share one read of every seat. When it moved,
    only the seats changed since (by their version) are read and patched in.
    Expiry changes no version, so a full read still happens at least every
    `CACHE_MAX_AGE_SECONDS`. One read per event runs at a time; concurrent
    callers wait for it instead of repeating it.
    """

    def __init__(self, max_events: int = 256) -> None:
        # Entries remember the clock time of their last full read: with the
        # domain clock, tests that move time see expiry at once.
        self._entries: dict[uuid.UUID, tuple[datetime, Availability]] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        # The next shared read per event, until it starts (see `read_shared`).
        self._next_reads: dict[uuid.UUID, asyncio.Future[SharedRead]] = {}
        self._reading: set[asyncio.Task[None]] = set()
        self._max_events = max_events

    async def read_shared(
        self,
        sessions: async_sessionmaker[AsyncSession],
        event_id: uuid.UUID,
        clock: Clock,
    ) -> SharedRead:
        """Read the availability with a session of its own, shared by callers.

        Callers that arrive before a read starts share it, so a thousand
        subscribers asking for a snapshot at once need one connection, not
        one each while they queue for the event's lock. A read that started
        already is not joined: it could predate what the caller has seen.
        """
        waiting = self._next_reads.get(event_id)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            # Callers that were all cancelled leave no unretrieved error.
            waiting.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._next_reads[event_id] = waiting
            task = asyncio.create_task(
                self._read_for_all(sessions, event_id, clock, waiting)
            )
            # The loop keeps only a weak reference to a task.
            self._reading.add(task)
            task.add_done_callback(self._reading.discard)
        return await asyncio.shield(waiting)

    async def _read_for_all(
        self,
        sessions: async_sessionmaker[AsyncSession],
        event_id: uuid.UUID,
        clock: Clock,
        waiting: asyncio.Future[SharedRead],
    ) -> None:
        lock = self._locks.setdefault(event_id, asyncio.Lock())
        async with lock:
            # From here on, new callers need a read of their own.
            if self._next_reads.get(event_id) is waiting:
                del self._next_reads[event_id]
            try:
                async with sessions() as session:
                    event = await session.get(Event, event_id)
                    if event is None:
                        raise LookupError(f"event {event_id} not found")
                    # Only the count, because the venue row also contains its
                    # layout: megabytes of JSON for a stadium.
                    seat_count = await session.scalar(
                        select(Venue.seat_count).where(Venue.id == event.venue_id)
                    )
                    assert seat_count is not None
                    availability = await self._read(
                        session, event, seat_count, clock.now()
                    )
            except Exception as error:
                waiting.set_exception(error)
            else:
                waiting.set_result(SharedRead(event, availability, seat_count))

    async def read(
        self, session: AsyncSession, event: Event, seat_count: int, now: datetime
    ) -> Availability:
        lock = self._locks.setdefault(event.id, asyncio.Lock())
        async with lock:
            return await self._read(session, event, seat_count, now)

    async def _read(
        self, session: AsyncSession, event: Event, seat_count: int, now: datetime
    ) -> Availability:
        current = await session.scalar(
            select(Event.seat_version).where(Event.id == event.id)
        )
        entry = self._entries.get(event.id)
        if entry is not None:
            read_at, cached = entry
            age = (now - read_at).total_seconds()
            if 0 <= age < CACHE_MAX_AGE_SECONDS:
                if cached.version == current:
                    return cached
                patched = await _read_changes(session, cached, now)
                self._entries[event.id] = (read_at, patched)
                return patched
        availability = await read_availability(session, event, seat_count, now)
        if len(self._entries) >= self._max_events:
            oldest = next(iter(self._entries))
            self._entries.pop(oldest)
            self._locks.pop(oldest, None)
        self._entries[event.id] = (now, availability)
        return availability


async def _read_changes(
    session: AsyncSession, cached: Availability, now: datetime
) -> Availability:
    """`cached` with the seats changed after its version read again."""
    version_column = (
        select(Event.seat_version).where(Event.id == cached.event_id).scalar_subquery()
    )
    rows = (
        await session.execute(
            select(EventSeat.ordinal, _status_code(now), version_column).where(
                EventSeat.event_id == cached.event_id,
                EventSeat.version > cached.version,
            )
        )
    ).all()
    if not rows:
        return cached
    codes = bytearray(cached.codes)
    version = _apply_rows(codes, rows, cached.version)
    return Availability(cached.event_id, version, bytes(codes))


def _apply_rows(
    codes: bytearray, rows: Sequence[Row[int, int, int]], version: int
) -> int:
    """Write (ordinal, code, version) rows into `codes`; return their version."""
    for ordinal, code, row_version in rows:
        codes[ordinal] = code
        version = row_version
    return version


def pack_codes(codes: bytes) -> str:
    """Pack one status code per byte into the two-bit base64 encoding."""
    padded = codes + bytes(-len(codes) % 4)
    packed = bytes(
        first | second << 2 | third << 4 | fourth << 6
        for first, second, third, fourth in zip(
            padded[0::4], padded[1::4], padded[2::4], padded[3::4], strict=True
        )
    )
    return base64.b64encode(packed).decode("ascii")


def unpack_statuses(encoded: str, seat_count: int) -> list[SeatStatus]:
    packed = base64.b64decode(encoded)
    return [
        STATUS_BY_CODE[(packed[ordinal >> 2] >> ((ordinal & 3) * 2)) & 3]
        for ordinal in range(seat_count)
    ]


@dataclass(frozen=True)
class ChangedSeat:
    seat_id: str
    ordinal: int
    status: SeatStatus


async def read_changes_since(
    session: AsyncSession, event: Event, since: int, now: datetime, limit: int
) -> tuple[int, list[ChangedSeat]] | None:
    """Seats changed after version `since`, with their current status.

    Returns the current version and the changes, or None when more than
    `limit` seats changed (a snapshot is cheaper then) or `since` is ahead
    of the event.
    """
    version_column = (
        select(Event.seat_version).where(Event.id == event.id).scalar_subquery()
    )
    rows = (
        await session.execute(
            select(
                Seat.guid,
                EventSeat.ordinal,
                EventSeat.status,
                EventSeat.hold_expires_at,
                version_column,
            )
            .join(Seat, Seat.id == EventSeat.seat_id)
            .where(EventSeat.event_id == event.id, EventSeat.version > since)
            .order_by(EventSeat.ordinal)
            .limit(limit + 1)
        )
    ).all()
    if len(rows) > limit:
        return None
    if rows:
        version = int(rows[0][4])
    else:
        version = int(
            await session.scalar(select(Event.seat_version).where(Event.id == event.id))
            or 0
        )
    if since > version:
        return None
    changes = [
        ChangedSeat(guid, ordinal, effective_status(status, expires, now))
        for guid, ordinal, status, expires, _ in rows
    ]
    return version, changes
