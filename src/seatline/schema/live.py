"""Subscription types: live seat maps, order updates and sales counts."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import AsyncGenerator

import strawberry

from seatline.models import OrderStatus, SeatStatus
from seatline.schema.execution import RenderCache
from seatline.schema.types import AVAILABILITY_DESCRIPTION, StatusCounts
from seatline.subscriptions.streams import SeatMapMessage, UpdateKind

strawberry.enum(UpdateKind, name="SeatMapUpdateKind")


@strawberry.type
class SeatChange:
    seat_id: str
    ordinal: int
    status: SeatStatus


@strawberry.type(
    description="One message of a live seat map. Apply a SNAPSHOT whole; apply "
    "a DELTA when fromVersion is at most your version + 1 and version is "
    "greater than yours; on any other gap, resubscribe with sinceVersion."
)
class SeatMapUpdate:
    kind: UpdateKind
    event_id: strawberry.ID
    version: int
    from_version: int | None = strawberry.field(
        description="First version this delta covers; null for snapshots "
        "and heartbeats."
    )
    seat_count: int | None
    availability: str | None = strawberry.field(description=AVAILABILITY_DESCRIPTION)
    changes: list[SeatChange]
    reason: str | None = strawberry.field(description="Why a snapshot was sent.")
    # Results of executing this update, shared by the subscribers it reaches.
    render_cache: strawberry.Private[RenderCache] = dataclasses.field(
        default_factory=dict
    )

    @classmethod
    def from_message(cls, message: SeatMapMessage) -> SeatMapUpdate:
        """The update for `message`, one object per message."""
        update = _updates.get(message)
        if update is None:
            update = cls._build(message)
            _updates[message] = update
        return update

    @classmethod
    def _build(cls, message: SeatMapMessage) -> SeatMapUpdate:
        return cls(
            kind=message.kind,
            event_id=strawberry.ID(str(message.event_id)),
            version=message.version,
            from_version=message.from_version,
            seat_count=message.seat_count,
            availability=message.availability,
            changes=[
                SeatChange(seat_id=c.seat_id, ordinal=c.ordinal, status=c.status)
                for c in message.changes
            ],
            reason=message.reason,
        )


_updates: weakref.WeakKeyDictionary[SeatMapMessage, SeatMapUpdate] = (
    weakref.WeakKeyDictionary()
)


@strawberry.type
class OrderUpdate:
    order_id: strawberry.ID | None
    event_id: strawberry.ID | None
    status: OrderStatus | None
    missed_updates: bool = strawberry.field(
        description="True when updates were dropped; re-read your orders."
    )


@strawberry.type
class SalesUpdate:
    event_id: strawberry.ID
    version: int
    counts_by_category: list[StatusCounts]


SeatMapStream = AsyncGenerator[SeatMapUpdate, None]
OrderStream = AsyncGenerator[OrderUpdate, None]
SalesStream = AsyncGenerator[SalesUpdate, None]
