"""Venue import into SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from seatline.booking.errors import InvalidInput
from seatline.booking.venues import get_venue, import_venue
from seatline.db import transaction
from seatline.models import Category, Seat, Section, Venue
from seatline.venues import PlanInvalid, build_layout, default_focus, parse_plan
from seatline.venues.generate import stadium, theatre
from tests.conftest import SEATING_PLANS_DIR, unavailable

PLANS_DIR = SEATING_PLANS_DIR
NOW = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)

Sessions = async_sessionmaker[AsyncSession]


def read_real_plan(filename: str) -> dict[str, Any]:
    """Read a real venue's plan, which licences keep out of the repository."""
    if not PLANS_DIR.is_dir():
        unavailable(f"real seating plans not found in {PLANS_DIR}")
    document: dict[str, Any] = json.loads(
        (PLANS_DIR / filename).read_text(encoding="utf-8")
    )
    return document


def new_organizer() -> str:
    return f"organizer-{secrets.token_hex(4)}"


async def import_document(
    sessions: Sessions, document: dict[str, Any], **options: Any
) -> Venue:
    plan = parse_plan(document)
    options.setdefault("organizer_id", new_organizer())
    async with transaction(sessions) as session:
        return await import_venue(session, plan, now=NOW, **options)


async def count_rows(sessions: Sessions, model: Any, venue_id: uuid.UUID) -> int:
    async with sessions() as session:
        query = (
            select(func.count()).select_from(model).where(model.venue_id == venue_id)
        )
        count: int = await session.scalar(query) or 0
        return count


async def assert_ordinals_contiguous(sessions: Sessions, venue: Venue) -> None:
    async with sessions() as session:
        query = select(
            func.min(Seat.ordinal),
            func.max(Seat.ordinal),
            func.count(func.distinct(Seat.ordinal)),
        ).where(Seat.venue_id == venue.id)
        lowest, highest, distinct = (await session.execute(query)).one()

    assert lowest == 0
    assert highest == venue.seat_count - 1
    assert distinct == venue.seat_count


async def assert_rows_numbered_from_zero(sessions: Sessions, venue: Venue) -> None:
    """Assert that position_in_row runs 0..n-1 in every row."""
    async with sessions() as session:
        query = (
            select(
                func.min(Seat.position_in_row),
                func.max(Seat.position_in_row),
                func.count(),
            )
            .where(Seat.venue_id == venue.id)
            .group_by(Seat.section_id, Seat.row_ordinal)
        )
        rows = (await session.execute(query)).all()

    assert rows
    for lowest, highest, count in rows:
        assert lowest == 0
        assert highest == count - 1


async def seat_guids_by_ordinal(sessions: Sessions, venue: Venue) -> list[str]:
    async with sessions() as session:
        query = (
            select(Seat.guid).where(Seat.venue_id == venue.id).order_by(Seat.ordinal)
        )
        return list((await session.scalars(query)).all())


def layout_guids(layout: dict[str, Any]) -> list[str]:
    return [
        seat[0]
        for section in layout["sections"]
        for row in section["rows"]
        for seat in row["seats"]
    ]


@pytest.mark.slow
async def test_import_real_stadium(sessions: Sessions) -> None:
    document = read_real_plan("metalist-stadium-kharkiv.json")

    venue = await import_document(sessions, document)

    assert venue.seat_count == 39_616
    assert await count_rows(sessions, Seat, venue.id) == 39_616
    assert await count_rows(sessions, Section, venue.id) == 58
    assert await count_rows(sessions, Category, venue.id) == 6
    await assert_ordinals_contiguous(sessions, venue)
    await assert_rows_numbered_from_zero(sessions, venue)
    assert await seat_guids_by_ordinal(sessions, venue) == layout_guids(venue.layout)


@pytest.mark.slow
async def test_import_generated_stadium(sessions: Sessions) -> None:
    document = stadium(50_000)

    venue = await import_document(sessions, document)

    assert venue.seat_count == 50_000
    assert await count_rows(sessions, Seat, venue.id) == 50_000
    assert await count_rows(sessions, Section, venue.id) == 40
    assert await count_rows(sessions, Category, venue.id) == 4
    await assert_ordinals_contiguous(sessions, venue)
    await assert_rows_numbered_from_zero(sessions, venue)


async def test_import_stores_layout_and_focus(sessions: Sessions) -> None:
    document = theatre(4, 12)
    plan = parse_plan(document)
    layout, version = build_layout(plan)

    venue = await import_document(sessions, document)
    async with sessions() as session:
        stored = await get_venue(session, venue.id)

    assert stored is not None
    assert stored.name == "Generated Theatre"
    assert stored.layout == layout
    assert stored.layout_version == version
    assert (stored.focus_x, stored.focus_y) == default_focus(plan)
    assert await seat_guids_by_ordinal(sessions, venue) == layout_guids(layout)


async def test_import_seat_columns(sessions: Sessions) -> None:
    venue = await import_document(sessions, theatre(2, 12))

    async with sessions() as session:
        query = (
            select(Seat, Section.key, Category.name)
            .join(Section, Seat.section_id == Section.id)
            .join(Category, Seat.category_id == Category.id)
            .where(Seat.venue_id == venue.id, Seat.guid == "stalls-B-8")
        )
        seat, section_key, category = (await session.execute(query)).one()

    assert section_key == "stalls"
    assert category == "Stalls centre"
    assert seat.number == "8"
    assert seat.row_label == "B"
    assert seat.row_ordinal == 1
    # Blocks of 3, 6 and 3 seats, and number 4 is left out at the first aisle.
    assert seat.position_in_row == 6
    assert seat.ordinal == 12 + 6
    layout_seat = venue.layout["sections"][0]["rows"][1]["seats"][6]
    assert [seat.guid, seat.number, seat.x, seat.y] == layout_seat[:4]


async def test_import_name_and_focus_override(sessions: Sessions) -> None:
    venue = await import_document(
        sessions, theatre(2, 4), name="Studio", focus=(1.5, -2.0)
    )

    async with sessions() as session:
        stored = await get_venue(session, venue.id)

    assert stored is not None
    assert stored.name == "Studio"
    assert (stored.focus_x, stored.focus_y) == (1.5, -2.0)


async def test_import_invalid_plan_writes_nothing(sessions: Sessions) -> None:
    organizer = new_organizer()
    document = theatre(2, 4)
    document["zones"][1]["rows"][0]["seats"][0]["category"] = "Box"

    with pytest.raises(PlanInvalid):
        await import_document(sessions, document, organizer_id=organizer)

    async with sessions() as session:
        query = select(func.count()).where(Venue.organizer_id == organizer)
        assert await session.scalar(query) == 0


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Hall\x00"}, "name"),
        ({"focus": (math.nan, 0.0)}, "focus"),
        ({"organizer_id": ""}, "organizerId"),
    ],
)
async def test_import_rejects_bad_options(
    sessions: Sessions, options: dict[str, Any], field: str
) -> None:
    options = dict(options)
    organizer = options.pop("organizer_id", new_organizer())
    seats_before = await count_all_seats(sessions)

    with pytest.raises(InvalidInput) as caught:
        await import_document(
            sessions, theatre(2, 4), organizer_id=organizer, **options
        )

    assert caught.value.field == field
    assert await count_all_seats(sessions) == seats_before
    async with sessions() as session:
        query = select(func.count()).where(Venue.organizer_id == organizer)
        assert await session.scalar(query) == 0


async def count_all_seats(sessions: Sessions) -> int:
    async with sessions() as session:
        count: int = await session.scalar(select(func.count()).select_from(Seat)) or 0
        return count


async def test_get_venue_unknown_id(sessions: Sessions) -> None:
    async with sessions() as session:
        assert await get_venue(session, uuid.uuid4()) is None
