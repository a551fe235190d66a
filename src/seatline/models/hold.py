"""Holds: seats reserved for one buyer until a deadline."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from seatline.models.base import Base, new_id
from seatline.models.event import _enum


class HoldStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    EXPIRED = "expired"
    # Checked out: the hold's seats now belong to an order.
    CHECKED_OUT = "checked_out"


class Hold(Base):
    __tablename__ = "holds"
    __allow_unmapped__ = True
    __table_args__ = (Index("ix_holds_status_expires_at", "status", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), index=True)
    buyer_id: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[HoldStatus] = mapped_column(_enum(HoldStatus, "hold_status"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Extensions never move expires_at past this.
    max_expires_at: Mapped[datetime]
    seat_count: Mapped[int]

    # Public ids of the seats, filled in by the service that created the
    # hold so that the API need not read them again; None when not loaded.
    seat_guids: list[str] | None = None


class HoldSeat(Base):
    """The seats a hold was created with, kept after the hold ends."""

    __tablename__ = "hold_seats"

    hold_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("holds.id", ondelete="CASCADE"), primary_key=True
    )
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id"), primary_key=True)
