"""Read side of events: seat maps, counts, per-seat lookups and listings."""

from __future__ import annotations

import base64
import binascii
import operator
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, or_, select

from seatline.booking.availability import Availability, SharedRead, pack_codes
from seatline.booking.errors import InvalidInput, NotFound
from seatline.booking.geometry import VenueGeometry
from seatline.booking.seats import effective_status, is_free
from seatline.booking.services import Services
from seatline.models import (
    Category,
    Event,
    EventPrice,
    EventSeat,
    EventStatus,
    Seat,
    SeatStatus,
    Section,
    Venue,
)


@dataclass(frozen=True)
class StatusCounts:
    key: str
    name: str
    available: int
    held: int
    sold: int
    blocked: int


@dataclass(frozen=True)
class SeatMap:
    event_id: uuid.UUID
    layout_version: str
    # None when the client already has `layout_version`.
    layout: dict[str, Any] | None
    version: int
    seat_count: int
    availability: str
    by_category: list[StatusCounts]
    by_section: list[StatusCounts]


async def seat_map(
    services: Services, event: Event, known_layout_version: str | None
) -> SeatMap:
    async with services.sessions() as session:
        layout_version, seat_count = (
            await session.execute(
                select(Venue.layout_version, Venue.seat_count).where(
                    Venue.id == event.venue_id
                )
            )
        ).one()
        layout = None
        if known_layout_version != layout_version:
            layout = await session.scalar(
                select(Venue.layout).where(Venue.id == event.venue_id)
            )
    shared, geometry = await shared_reads(services, event.id)
    availability = shared.availability
    packed, by_category, by_section = _derived(geometry, availability)
    return SeatMap(
        event_id=event.id,
        layout_version=layout_version,
        layout=layout,
        version=availability.version,
        seat_count=seat_count,
        availability=packed,
        by_category=by_category,
        by_section=by_section,
    )


# The packed encoding and counts of the latest availability per event, so
# that requests sharing a cached availability also share this work.
_DERIVED: dict[
    uuid.UUID, tuple[Availability, str, list[StatusCounts], list[StatusCounts]]
] = {}


def _derived(
    geometry: VenueGeometry, availability: Availability
) -> tuple[str, list[StatusCounts], list[StatusCounts]]:
    entry = _DERIVED.get(availability.event_id)
    if entry is not None and entry[0] is availability:
        return entry[1], entry[2], entry[3]
    packed = pack_codes(availability.codes)
    by_category, by_section = _counts(geometry, availability)
    if len(_DERIVED) > 256:
        _DERIVED.clear()
    _DERIVED[availability.event_id] = (availability, packed, by_category, by_section)
    return packed, by_category, by_section


def _counts(
    geometry: VenueGeometry, availability: Availability
) -> tuple[list[StatusCounts], list[StatusCounts]]:
    """Seats per status, by category and by section."""
    codes = availability.codes
    by_category = Counter(map(operator.add, geometry.category_keys, codes))
    by_section = Counter(map(operator.add, geometry.section_keys, codes))

    def build(counter: Counter[int], index: int, key: str, name: str) -> StatusCounts:
        base = index * 4
        return StatusCounts(
            key=key,
            name=name,
            available=counter[base],
            held=counter[base + 1],
            sold=counter[base + 2],
            blocked=counter[base + 3],
        )

    categories = [
        build(by_category, index, name, name)
        for index, name in enumerate(geometry.category_names)
    ]
    sections = [
        build(by_section, index, key, name)
        for index, (key, name) in enumerate(geometry.section_names)
    ]
    return categories, sections


@dataclass(frozen=True)
class SeatView:
    seat_id: str
    ordinal: int
    section: str
    row: str
    number: str
    category: str
    status: SeatStatus
    x: float
    y: float
    price: int | None


@dataclass(frozen=True)
class SeatFilter:
    status: SeatStatus | None = None
    category: str | None = None
    section: str | None = None
    row: str | None = None


async def seat_list(
    services: Services,
    event: Event,
    seat_filter: SeatFilter,
    *,
    first: int,
    after: int | None,
    seat_ids: list[str] | None = None,
) -> tuple[list[SeatView], bool]:
    """Return one page of the event's seats in layout order, and whether more follow.

    `after` is the ordinal of the last seat of the previous page.
    """
    now = services.clock.now()
    query = (
        select(
            Seat.guid,
            Seat.ordinal,
            Section.key,
            Seat.row_label,
            Seat.number,
            Category.name,
            EventSeat.status,
            EventSeat.hold_expires_at,
            Seat.x,
            Seat.y,
            Seat.category_id,
        )
        .join(
            EventSeat, (EventSeat.seat_id == Seat.id) & (EventSeat.event_id == event.id)
        )
        .join(Section, Section.id == Seat.section_id)
        .join(Category, Category.id == Seat.category_id)
        .where(Seat.venue_id == event.venue_id)
        .order_by(Seat.ordinal)
        .limit(first + 1)
    )
    if seat_ids is not None:
        # No seat id contains NUL, and PostgreSQL rejects it in a parameter.
        searchable = [seat_id for seat_id in seat_ids if "\x00" not in seat_id]
        query = query.where(Seat.guid.in_(searchable))
    if after is not None:
        query = query.where(Seat.ordinal > after)
    if seat_filter.category is not None:
        query = query.where(Category.name == seat_filter.category)
    if seat_filter.section is not None:
        query = query.where(Section.key == seat_filter.section)
    if seat_filter.row is not None:
        query = query.where(Seat.row_label == seat_filter.row)
    if seat_filter.status is not None:
        query = query.where(_status_condition(seat_filter.status, now))

    async with services.sessions() as session:
        rows = (await session.execute(query)).all()
        prices = dict(
            (
                await session.execute(
                    select(EventPrice.category_id, EventPrice.amount).where(
                        EventPrice.event_id == event.id
                    )
                )
            ).all()
        )
    views = [
        SeatView(
            seat_id=row[0],
            ordinal=row[1],
            section=row[2],
            row=row[3],
            number=row[4],
            category=row[5],
            status=effective_status(row[6], row[7], now),
            x=row[8],
            y=row[9],
            price=prices.get(row[10]),
        )
        for row in rows[:first]
    ]
    return views, len(rows) > first


def _status_condition(status: SeatStatus, now: datetime) -> Any:
    if status is SeatStatus.AVAILABLE:
        return is_free(now)
    if status is SeatStatus.HELD:
        return and_(
            EventSeat.status == SeatStatus.HELD, EventSeat.hold_expires_at > now
        )
    return EventSeat.status == status


@dataclass(frozen=True)
class EventFilter:
    starts_after: datetime | None = None
    starts_before: datetime | None = None
    text: str | None = None
    venue_id: uuid.UUID | None = None
    status: EventStatus | None = None


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode("ascii").rstrip("=")


def decode_cursor(
    cursor: str, keys: set[str], *, field: str = "after"
) -> dict[str, Any]:
    """Decode an opaque cursor; anything malformed is `InvalidInput`."""
    try:
        if len(cursor) > 200:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise InvalidInput(
            "invalid cursor; pass an endCursor from a previous page", field=field
        ) from None
    if not isinstance(values, dict) or set(values) != keys:
        raise InvalidInput(
            "invalid cursor; pass an endCursor from a previous page", field=field
        )
    return values


async def list_events(
    services: Services,
    event_filter: EventFilter,
    *,
    first: int,
    after: tuple[datetime, uuid.UUID] | None,
    visible_to: str | None,
) -> tuple[list[Event], bool]:
    """Return one page of events by start time, with drafts only for their organizer."""
    query = select(Event).order_by(Event.starts_at, Event.id).limit(first + 1)
    if visible_to is None:
        query = query.where(Event.status != EventStatus.DRAFT)
    else:
        query = query.where(
            or_(Event.status != EventStatus.DRAFT, Event.organizer_id == visible_to)
        )
    if after is not None:
        starts_at, event_id = after
        query = query.where(
            or_(
                Event.starts_at > starts_at,
                and_(Event.starts_at == starts_at, Event.id > event_id),
            )
        )
    if event_filter.starts_after is not None:
        query = query.where(Event.starts_at >= event_filter.starts_after)
    if event_filter.starts_before is not None:
        query = query.where(Event.starts_at < event_filter.starts_before)
    if event_filter.text:
        pattern = "%" + _escape_like(event_filter.text.lower()) + "%"
        query = query.where(func.lower(Event.name).like(pattern, escape="\\"))
    if event_filter.venue_id is not None:
        query = query.where(Event.venue_id == event_filter.venue_id)
    if event_filter.status is not None:
        query = query.where(Event.status == event_filter.status)

    async with services.sessions() as session:
        events = list(await session.scalars(query))
    return events[:first], len(events) > first


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def event_prices(
    services: Services, event_id: uuid.UUID
) -> list[tuple[str, int]]:
    async with services.sessions() as session:
        rows = await session.execute(
            select(Category.name, EventPrice.amount)
            .join(EventPrice, EventPrice.category_id == Category.id)
            .where(EventPrice.event_id == event_id)
            .order_by(Category.id)
        )
        return [(name, amount) for name, amount in rows]


async def get_venue_model(services: Services, venue_id: uuid.UUID) -> Venue:
    async with services.sessions() as session:
        venue = await session.get(Venue, venue_id)
    if venue is None:
        raise NotFound(f"venue {venue_id} not found", field="venueId")
    return venue


async def seat_guids(services: Services, seat_ids: list[int]) -> dict[int, str]:
    if not seat_ids:
        return {}
    async with services.sessions() as session:
        rows = await session.execute(
            select(Seat.id, Seat.guid).where(Seat.id.in_(seat_ids))
        )
        return dict(rows.all())


async def find_event(
    services: Services, event_id: uuid.UUID, viewer: str | None
) -> Event | None:
    """Return the event, unless it is a draft and `viewer` is not its organizer."""
    async with services.sessions() as session:
        event = await session.get(Event, event_id)
    if event is None or not visible_to(event, viewer):
        return None
    return event


def visible_to(event: Event, viewer: str | None) -> bool:
    """Return whether `viewer` may see the event: drafts only their organizer."""
    return event.status is not EventStatus.DRAFT or event.organizer_id == viewer


async def category_counts(
    services: Services, event_id: uuid.UUID
) -> tuple[int, list[StatusCounts]]:
    """The event's version and its seat counts by category and status."""
    shared, geometry = await shared_reads(services, event_id)
    _, by_category, _ = _derived(geometry, shared.availability)
    return shared.availability.version, by_category


async def shared_reads(
    services: Services, event_id: uuid.UUID
) -> tuple[SharedRead, VenueGeometry]:
    """Read the event, its availability and geometry without holding a session.

    Reads of one event queue for its availability lock. Each holding a
    pooled connection while it waited emptied the pool in an on-sale.
    """
    try:
        shared = await services.availability.read_shared(
            services.sessions, event_id, services.clock
        )
    except LookupError:
        raise NotFound(f"event {event_id} not found", field="eventId") from None
    geometry = await services.geometry.get_shared(
        services.sessions, shared.event.venue_id
    )
    return shared, geometry
