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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
    # Category names in id order, and (key, name) of sections in plan order.
    category_names: list[str] = field(default_factory=list)
    section_names: list[tuple[str, str]] = field(default_factory=list)
    # By seat ordinal: 4 x the index of the seat's category (or section) in
    # the lists above. Adding a status code (0 to 3) gives a counting key.
    category_keys: list[int] = field(default_factory=list, repr=False)
    section_keys: list[int] = field(default_factory=list, repr=False)
    # Block indexes by the distance of their closest seat, nearest first,
    # and that distance for each block.
    blocks_by_distance: list[int] = field(default_factory=list, repr=False)
    block_distance: list[float] = field(default_factory=list, repr=False)


class GeometryCache:
    def __init__(self, max_venues: int = 64) -> None:
        self._cache: dict[uuid.UUID, VenueGeometry] = {}
        self._max_venues = max_venues
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession, venue_id: uuid.UUID) -> VenueGeometry:
        return await self._get(venue_id, lambda: load_geometry(session, venue_id))

    async def get_shared(
        self, sessions: async_sessionmaker[AsyncSession], venue_id: uuid.UUID
    ) -> VenueGeometry:
        """Return the geometry, opening a session only to load a missing one.

        Callers waiting for another's load hold no database connection.
        """

        async def load() -> VenueGeometry:
            async with sessions() as session:
                return await load_geometry(session, venue_id)

        return await self._get(venue_id, load)

    async def _get(
        self, venue_id: uuid.UUID, load: Callable[[], Awaitable[VenueGeometry]]
    ) -> VenueGeometry:
        geometry = self._cache.get(venue_id)
        if geometry is not None:
            return geometry
        async with self._lock:
            geometry = self._cache.get(venue_id)
            if geometry is None:
                geometry = await load()
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

    category_rows = (
        await session.execute(
            select(Category.id, Category.name)
            .where(Category.venue_id == venue_id)
            .order_by(Category.id)
        )
    ).all()
    section_rows = (
        await session.execute(
            select(Section.id, Section.key, Section.name)
            .where(Section.venue_id == venue_id)
            .order_by(Section.ordinal)
        )
    ).all()
    category_index = {row[0]: index for index, row in enumerate(category_rows)}
    section_index = {row[0]: index for index, row in enumerate(section_rows)}
    category_keys = [0] * venue.seat_count
    section_keys = [0] * venue.seat_count
    place_of: dict[int, tuple[int, int]] = {}
    for block_index, block in enumerate(blocks):
        for position, place in enumerate(block):
            place_of[place.ordinal] = (block_index, position)
            category_keys[place.ordinal] = 4 * category_index[place.category_id]
            section_keys[place.ordinal] = 4 * section_index[place.section_id]
    block_distance = [min(place.distance for place in block) for block in blocks]
    nearest = sorted(range(len(blocks)), key=block_distance.__getitem__)
    return VenueGeometry(
        venue_id=venue_id,
        seat_count=venue.seat_count,
        blocks=blocks,
        categories={name: id_ for id_, name in category_rows},
        sections={key: id_ for id_, key, _ in section_rows},
        place_of=place_of,
        category_names=[name for _, name in category_rows],
        section_names=[(key, name) for _, key, name in section_rows],
        category_keys=category_keys,
        section_keys=section_keys,
        blocks_by_distance=nearest,
        block_distance=block_distance,
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
