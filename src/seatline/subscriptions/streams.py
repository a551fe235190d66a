"""The messages of live streams, built from the database and the fan-out.

Database sessions here are opened and closed around each read, never held
while a stream waits for the next change.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from seatline.booking.availability import (
    Availability,
    pack_codes,
    read_changes_since,
)
from seatline.booking.seatmap import StatusCounts, category_counts
from seatline.booking.services import Services
from seatline.models import Event, SeatStatus
from seatline.observability.metrics import FANOUT_DELIVERY_LAG
from seatline.subscriptions.fanout import Delta, FanOut, Heartbeat, Resync

logger = logging.getLogger(__name__)

K = TypeVar("K")


class UpdateKind(StrEnum):
    SNAPSHOT = "snapshot"
    DELTA = "delta"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class SeatUpdate:
    seat_id: str
    ordinal: int
    status: SeatStatus


# Compared by identity, so that the layers above can cache what they render
# from a message shared by many streams.
@dataclass(frozen=True, eq=False)
class SeatMapMessage:
    kind: UpdateKind
    event_id: uuid.UUID
    version: int
    from_version: int | None = None
    seat_count: int | None = None
    availability: str | None = None
    changes: list[SeatUpdate] = field(default_factory=list)
    reason: str | None = None


# Messages that many streams send alike, while any stream still references them:
# snapshots after a reconnect, heartbeats and deltas of subscribers that keep
# up. Sharing them lets each be encoded and rendered once.
_snapshots: weakref.WeakValueDictionary[tuple[Availability, str], SeatMapMessage] = (
    weakref.WeakValueDictionary()
)
_heartbeats: weakref.WeakValueDictionary[tuple[uuid.UUID, int], SeatMapMessage] = (
    weakref.WeakValueDictionary()
)
_deltas: weakref.WeakKeyDictionary[Delta, SeatMapMessage] = weakref.WeakKeyDictionary()


async def snapshot(
    services: Services, event_id: uuid.UUID, reason: str
) -> SeatMapMessage:
    read = await services.availability.read_shared(
        services.sessions, event_id, services.clock
    )
    availability = read.availability

    # Keyed by the codes too: a hold that lapsed changes them without a new
    # version.
    return _shared(
        _snapshots,
        (availability, reason),
        lambda: SeatMapMessage(
            kind=UpdateKind.SNAPSHOT,
            event_id=event_id,
            version=availability.version,
            seat_count=read.seat_count,
            availability=pack_codes(availability.codes),
            reason=reason,
        ),
    )


async def changes_since(
    services: Services, event_id: uuid.UUID, since: int, limit: int
) -> SeatMapMessage | None:
    now = services.clock.now()
    async with services.sessions() as session:
        event = await session.get(Event, event_id)
        assert event is not None
        found = await read_changes_since(session, event, since, now, limit)
    if found is None:
        return None
    version, changes = found
    return SeatMapMessage(
        kind=UpdateKind.DELTA,
        event_id=event_id,
        version=version,
        from_version=since + 1,
        changes=[SeatUpdate(c.seat_id, c.ordinal, c.status) for c in changes],
    )


async def seat_map_stream(
    services: Services, fanout: FanOut, event_id: uuid.UUID, since_version: int | None
) -> AsyncIterator[SeatMapMessage]:
    """Stream a snapshot, or the changes since `since_version`, then deltas."""
    heartbeat_seconds = services.settings.live_heartbeat_seconds
    async with fanout.subscribe(event_id) as subscriber:
        first = None
        if since_version is not None:
            first = await changes_since(
                services,
                event_id,
                since_version,
                services.settings.live_max_pending_changes,
            )
        if first is None:
            first = await snapshot(services, event_id, "first message")
        subscriber.start_at(first.version)
        yield first

        while True:
            item = await subscriber.next(heartbeat_seconds)
            match item:
                case Resync(reason=reason):
                    fanout.resyncs += 1
                    message = await snapshot(services, event_id, reason)
                    subscriber.start_at(message.version)
                    yield message
                case Heartbeat(version=version):
                    yield _heartbeat_message(
                        event_id, version if version is not None else first.version
                    )
                case Delta():
                    if item.published_at is not None:
                        FANOUT_DELIVERY_LAG.observe(time.time() - item.published_at)
                    yield _delta_message(event_id, item)


def _heartbeat_message(event_id: uuid.UUID, version: int) -> SeatMapMessage:
    return _shared(
        _heartbeats,
        (event_id, version),
        lambda: SeatMapMessage(
            kind=UpdateKind.HEARTBEAT, event_id=event_id, version=version
        ),
    )


def _delta_message(event_id: uuid.UUID, delta: Delta) -> SeatMapMessage:
    return _shared(
        _deltas,
        delta,
        lambda: SeatMapMessage(
            kind=UpdateKind.DELTA,
            event_id=event_id,
            version=delta.version,
            from_version=delta.from_version,
            changes=[
                SeatUpdate(seat_id, ordinal, SeatStatus(status))
                for seat_id, (ordinal, status) in delta.changes.items()
            ],
        ),
    )


def _shared(
    cache: MutableMapping[K, SeatMapMessage],
    key: K,
    build: Callable[[], SeatMapMessage],
) -> SeatMapMessage:
    """Return the message cached under `key`, building it on first use."""
    message = cache.get(key)
    if message is None:
        message = build()
        cache[key] = message
    return message


async def sales_stream(
    services: Services, fanout: FanOut, event_id: uuid.UUID
) -> AsyncIterator[tuple[int, list[StatusCounts]]]:
    """Counts per category now, then again after every change."""
    heartbeat_seconds = services.settings.live_heartbeat_seconds
    async with fanout.subscribe(event_id) as subscriber:
        version, counts = await category_counts(services, event_id)
        subscriber.start_at(version)
        yield version, counts
        while True:
            item = await subscriber.next(heartbeat_seconds)
            if isinstance(item, Heartbeat):
                continue
            version, counts = await category_counts(services, event_id)
            subscriber.start_at(version)
            yield version, counts
