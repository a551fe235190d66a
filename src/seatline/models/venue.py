"""Venues, their seat categories, sections and seats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from seatline.models.base import Base, new_id


class Venue(Base):
    __tablename__ = "venues"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    organizer_id: Mapped[str] = mapped_column(String(255), index=True)
    seat_count: Mapped[int]
    # The compact layout JSON served to clients, and its content hash that
    # clients send back to skip downloading an unchanged layout.
    layout: Mapped[dict[str, Any]] = mapped_column(JSON)
    layout_version: Mapped[str] = mapped_column(String(64))
    # The point that "best available" seats are closest to (a stage or the
    # centre of a pitch), in plan coordinates.
    focus_x: Mapped[float]
    focus_y: Mapped[float]
    created_at: Mapped[datetime]


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("venue_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    color: Mapped[str | None] = mapped_column(String(32))


class Section(Base):
    """A zone of the seating plan: a stand, a balcony, a block."""

    __tablename__ = "sections"
    __table_args__ = (UniqueConstraint("venue_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE")
    )
    ordinal: Mapped[int]
    key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))


class Seat(Base):
    __tablename__ = "seats"
    __table_args__ = (
        UniqueConstraint("venue_id", "guid"),
        UniqueConstraint("venue_id", "ordinal"),
        Index("ix_seats_venue_row", "venue_id", "section_id", "row_ordinal"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("venues.id", ondelete="CASCADE")
    )
    # The plan's seat_guid; the public seat id within its venue.
    guid: Mapped[str] = mapped_column(String(200))
    # Position of the seat in the layout and in the availability encoding.
    ordinal: Mapped[int]
    section_id: Mapped[int] = mapped_column(ForeignKey("sections.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    row_label: Mapped[str] = mapped_column(String(100))
    row_ordinal: Mapped[int]
    # Order of the seat within its row, left to right; adjacent seats differ
    # by one.
    position_in_row: Mapped[int]
    number: Mapped[str] = mapped_column(String(100))
    x: Mapped[float]
    y: Mapped[float]
