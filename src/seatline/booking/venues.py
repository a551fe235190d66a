"""Venue import from a parsed seating plan, and venue lookup."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from seatline.booking.errors import InvalidInput
from seatline.booking.validation import check_text
from seatline.models import Category, Seat, Section, Venue
from seatline.venues.plan import (
    Plan,
    PlanCategory,
    PlanSection,
    build_layout,
    default_focus,
    iter_seats,
)

# Seats per executemany call. Chunks bound the parameter lists held in memory.
SEAT_INSERT_CHUNK = 5_000
# Seats go in through a Core insert on the table, because importing a
# 40,000-seat plan through the ORM bulk path took about 15% longer on SQLite
# and PostgreSQL (two runs each on a 2-core AMD EPYC VM).
SEATS_TABLE = Seat.metadata.tables[Seat.__tablename__]


async def import_venue(
    session: AsyncSession,
    plan: Plan,
    *,
    organizer_id: str,
    now: datetime,
    name: str | None = None,
    focus: tuple[float, float] | None = None,
) -> Venue:
    """Insert a venue with the plan's categories, sections and seats.

    Writes in the session's open transaction, and the caller commits. `name`
    replaces the plan's name, and `focus` the point that `default_focus`
    derives from the plan. Seat ordinals follow the layout order, so they
    index the availability encoding. Raises InvalidInput for a bad name,
    organizer id or focus before writing anything.
    """
    venue_name = check_text(
        plan.name if name is None else name, field="name", max_length=200
    )
    check_text(organizer_id, field="organizerId", max_length=255)
    if focus is None:
        focus = default_focus(plan)
    focus_x, focus_y = _check_focus(focus)

    layout, layout_version = build_layout(plan)
    venue = Venue(
        name=venue_name,
        organizer_id=organizer_id,
        seat_count=plan.seat_count,
        layout=layout,
        layout_version=layout_version,
        focus_x=focus_x,
        focus_y=focus_y,
        created_at=now,
    )
    session.add(venue)
    # Sessions do not autoflush (see seatline.db.create_sessionmaker), and the
    # bulk inserts below need the venue row for their foreign keys.
    await session.flush()

    category_ids = await _insert_categories(session, venue.id, plan.categories)
    section_ids = await _insert_sections(session, venue.id, plan.sections)
    rows = _seat_rows(plan, venue.id, category_ids, section_ids)
    for chunk in _chunks(rows, SEAT_INSERT_CHUNK):
        await session.execute(insert(SEATS_TABLE), chunk)

    return venue


async def get_venue(session: AsyncSession, venue_id: uuid.UUID) -> Venue | None:
    return await session.get(Venue, venue_id)


def _check_focus(focus: tuple[float, float]) -> tuple[float, float]:
    x, y = focus
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidInput(
            f"focus must be two finite numbers, got {focus!r}", field="focus"
        )
    return (float(x), float(y))


async def _insert_categories(
    session: AsyncSession, venue_id: uuid.UUID, categories: list[PlanCategory]
) -> dict[str, int]:
    """Insert the categories and return their ids by name."""
    values = [
        {"venue_id": venue_id, "name": category.name, "color": category.color}
        for category in categories
    ]
    statement = insert(Category).returning(Category.id, sort_by_parameter_order=True)
    ids = (await session.execute(statement, values)).scalars().all()
    return {category.name: id_ for category, id_ in zip(categories, ids, strict=True)}


async def _insert_sections(
    session: AsyncSession, venue_id: uuid.UUID, sections: list[PlanSection]
) -> list[int]:
    """Insert the sections and return their ids in plan order."""
    values = [
        {
            "venue_id": venue_id,
            "ordinal": ordinal,
            "key": section.key,
            "name": section.name,
        }
        for ordinal, section in enumerate(sections)
    ]
    statement = insert(Section).returning(Section.id, sort_by_parameter_order=True)
    ids = (await session.execute(statement, values)).scalars().all()
    return list(ids)


def _seat_rows(
    plan: Plan,
    venue_id: uuid.UUID,
    category_ids: dict[str, int],
    section_ids: list[int],
) -> Iterator[dict[str, Any]]:
    for placement in iter_seats(plan):
        seat = placement.seat
        yield {
            "venue_id": venue_id,
            "guid": seat.guid,
            "ordinal": placement.ordinal,
            "section_id": section_ids[placement.section_index],
            "category_id": category_ids[seat.category],
            "row_label": placement.row.label,
            "row_ordinal": placement.row_ordinal,
            "position_in_row": placement.position_in_row,
            "number": seat.number,
            "x": seat.x,
            "y": seat.y,
        }


def _chunks(
    items: Iterable[dict[str, Any]], size: int
) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
