"""Seat geometry of a venue, loaded once per process and shared.

A venue's seats never change after import, so the rows, their blocks of
physically adjacent seats and each seat's distance to the venue's focus are
computed once and cached by venue id.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seatline.models import Category, Seat, Section, Venue

# Consecutive seats further apart than this many times the row's usual
# spacing are on two sides of an aisle, so they are not adjacent.
AISLE_FACTOR = 1.6


@dataclass(frozen=True)
class SeatPlace:
    seat_id: int
    guid: str
    ordinal: int
    category_id: int
    section_id: int
    distance: float


@dataclass(frozen=True)
class VenueGeometry:
    venue_id: uuid.UUID
    seat_count: int
    # Runs of physically adjacent seats, left to right.
    blocks: list[list[SeatPlace]]
    categories: dict[str, int]
    sections: dict[str, int]
    # (block index, position in block) by seat ordinal.
    place_of: dict[int, tuple[int, int]] = field(repr=False)


class GeometryCache:
    def __init__(self, max_venues: int = 64) -> None:
        self._cache: dict[uuid.UUID, VenueGeometry] = {}
        self._max_venues = max_venues
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession, venue_id: uuid.UUID) -> VenueGeometry:
        geometry = self._cache.get(venue_id)
        if geometry is not None:
            return geometry
        async with self._lock:
            geometry = self._cache.get(venue_id)
            if geometry is None:
                geometry = await load_geometry(session, venue_id)
                if len(self._cache) >= self._max_venues:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[venue_id] = geometry
        return geometry


async def load_geometry(session: AsyncSession, venue_id: uuid.UUID) -> VenueGeometry:
    venue = await session.get(Venue, venue_id)
    if venue is None:
        raise LookupError(f"venue {venue_id} not found")

    rows = await session.execute(
        select(
            Seat.id,
            Seat.guid,
            Seat.ordinal,
            Seat.category_id,
            Seat.section_id,
            Seat.row_ordinal,
            Seat.x,
            Seat.y,
        )
        .join(Section, Section.id == Seat.section_id)
        .where(Seat.venue_id == venue_id)
        .order_by(Section.ordinal, Seat.row_ordinal, Seat.position_in_row)
    )
    blocks: list[list[SeatPlace]] = []
    current_row: tuple[int, int] | None = None
    row: list[tuple[SeatPlace, float, float]] = []
    for item in rows:
        key = (item.section_id, item.row_ordinal)
        if key != current_row and row:
            blocks.extend(_split_at_aisles(row))
            row = []
        current_row = key
        distance = math.hypot(item.x - venue.focus_x, item.y - venue.focus_y)
        place = SeatPlace(
            item.id,
            item.guid,
            item.ordinal,
            item.category_id,
            item.section_id,
            distance,
        )
        row.append((place, item.x, item.y))
    if row:
        blocks.extend(_split_at_aisles(row))

    # Result has keys(), so dict(result) would treat it as a mapping: take rows.
    categories = dict(
        (
            await session.execute(
                select(Category.name, Category.id).where(Category.venue_id == venue_id)
            )
        ).all()
    )
    sections = dict(
        (
            await session.execute(
                select(Section.key, Section.id).where(Section.venue_id == venue_id)
            )
        ).all()
    )
    place_of = {
        place.ordinal: (block_index, position)
        for block_index, block in enumerate(blocks)
        for position, place in enumerate(block)
    }
    return VenueGeometry(
        venue_id, venue.seat_count, blocks, categories, sections, place_of
    )


def _split_at_aisles(
    row: list[tuple[SeatPlace, float, float]],
) -> list[list[SeatPlace]]:
    if len(row) < 3:
        return [[place for place, _, _ in row]]
    gaps = [
        math.hypot(x2 - x1, y2 - y1)
        for (_, x1, y1), (_, x2, y2) in itertools.pairwise(row)
    ]
    usual = statistics.median(gaps)
    blocks: list[list[SeatPlace]] = [[row[0][0]]]
    for gap, (place, _, _) in zip(gaps, row[1:], strict=True):
        if usual > 0 and gap > usual * AISLE_FACTOR:
            blocks.append([])
        blocks[-1].append(place)
    return blocks
