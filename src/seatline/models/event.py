"""Events, their prices and the per-event status of every seat."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from seatline.models.base import Base, new_id


class EventStatus(StrEnum):
    DRAFT = "draft"
    ON_SALE = "on_sale"
    SALES_CLOSED = "sales_closed"
    CANCELLED = "cancelled"


class SeatStatus(StrEnum):
    AVAILABLE = "available"
    HELD = "held"
    SOLD = "sold"
    BLOCKED = "blocked"


def _enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(
        enum,
        name=name,
        values_callable=lambda members: [member.value for member in members],
        native_enum=False,
        length=20,
    )


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("max_seats_per_order > 0", name="max_per_order_positive"),
        CheckConstraint("max_seats_per_buyer > 0", name="max_per_buyer_positive"),
        CheckConstraint("hold_duration_seconds > 0", name="hold_duration_positive"),
        CheckConstraint("seat_version >= 0", name="seat_version_non_negative"),
        CheckConstraint(
            "waiting_room_admissions_per_minute > 0",
            name="waiting_room_admissions_positive",
        ),
        CheckConstraint(
            "waiting_room_pass_seconds > 0", name="waiting_room_pass_positive"
        ),
        Index("ix_events_starts_at_id", "starts_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"), index=True)
    organizer_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus, "event_status"))
    sale_starts_at: Mapped[datetime]
    sale_ends_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    hold_duration_seconds: Mapped[int]
    max_seats_per_order: Mapped[int]
    max_seats_per_buyer: Mapped[int]
    no_single_seat_gaps: Mapped[bool]
    # Bumped by one in every transaction that changes a seat of this event.
    seat_version: Mapped[int]
    created_at: Mapped[datetime]
    # With the waiting room on, holding seats takes an admission pass. Buyers
    # are admitted at this many per minute; a pass lasts this many seconds.
    waiting_room_enabled: Mapped[bool] = mapped_column(
        default=False, server_default=false()
    )
    waiting_room_admissions_per_minute: Mapped[int] = mapped_column(
        default=100, server_default="100"
    )
    waiting_room_pass_seconds: Mapped[int] = mapped_column(
        default=600, server_default="600"
    )


class EventPrice(Base):
    __tablename__ = "event_prices"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_non_negative"),)

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id"), primary_key=True
    )
    # Integer minor units of the event's currency (cents for EUR).
    amount: Mapped[int]


class EventSeat(Base):
    """The status of one seat at one event.

    A seat is held when `status` is held and `hold_expires_at` is in the
    future; once that time passes it counts as available everywhere, even
    before the sweeper resets the row.
    """

    __tablename__ = "event_seats"
    __table_args__ = (
        UniqueConstraint("event_id", "ordinal"),
        CheckConstraint(
            "(status = 'held') = (hold_id IS NOT NULL AND hold_expires_at IS NOT NULL)",
            name="held_has_hold",
        ),
        CheckConstraint(
            "(status = 'sold') = (order_id IS NOT NULL)", name="sold_has_order"
        ),
        Index("ix_event_seats_hold", "hold_id"),
        Index("ix_event_seats_order", "order_id"),
        Index("ix_event_seats_event_version", "event_id", "version"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id"), primary_key=True)
    ordinal: Mapped[int]
    status: Mapped[SeatStatus] = mapped_column(_enum(SeatStatus, "seat_status"))
    hold_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("holds.id"), default=None
    )
    hold_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id"), default=None
    )
    # The event's seat_version at the last change of this seat.
    version: Mapped[int] = mapped_column(default=0)


class EventBuyer(Base):
    """A lock row per buyer and event, taken to count a buyer's seats safely."""

    __tablename__ = "event_buyers"

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    buyer_id: Mapped[str] = mapped_column(String(255), primary_key=True)
