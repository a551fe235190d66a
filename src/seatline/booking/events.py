"""Events: creation, publication, sale windows and blocked seats."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Uuid, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from seatline.booking.errors import (
    InvalidInput,
    InvalidState,
    NotFound,
    SaleNotOpen,
    SeatsUnavailable,
)
from seatline.booking.seats import (
    bump_version,
    claim_seats,
    is_free,
    resolve_seats,
)
from seatline.booking.services import Services
from seatline.booking.validation import check_text
from seatline.models import (
    Category,
    Event,
    EventPrice,
    EventSeat,
    EventStatus,
    Seat,
    SeatStatus,
    Venue,
)

CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
MAX_PRICE = 100_000_000  # minor units; 1,000,000.00 in a two-decimal currency
MAX_HOLD_SECONDS = 3600
MAX_ADMISSIONS_PER_MINUTE = 100_000
MIN_PASS_SECONDS = 60
MAX_PASS_SECONDS = 3600
# The length of the events.time_zone column. The longest IANA name,
# America/Argentina/ComodRivadavia, has 32 characters.
MAX_TIME_ZONE_LENGTH = 64


@dataclass(frozen=True)
class EventDraft:
    venue_id: uuid.UUID
    name: str
    starts_at: datetime
    time_zone: str
    sale_starts_at: datetime
    sale_ends_at: datetime
    currency: str
    # Price in minor units per category name of the venue.
    prices: Mapping[str, int]
    hold_duration_seconds: int = 600
    max_seats_per_order: int = 10
    max_seats_per_buyer: int = 10
    no_single_seat_gaps: bool = False
    waiting_room: WaitingRoomRules | None = None


@dataclass(frozen=True)
class WaitingRoomRules:
    """An event's waiting room: on or off, admission rate and pass lifetime."""

    enabled: bool
    admissions_per_minute: int = 100
    pass_seconds: int = 600


def check_waiting_room_rules(rules: WaitingRoomRules) -> None:
    if not 1 <= rules.admissions_per_minute <= MAX_ADMISSIONS_PER_MINUTE:
        raise InvalidInput(
            "waitingRoom.admissionsPerMinute must be between 1 and "
            f"{MAX_ADMISSIONS_PER_MINUTE}, got {rules.admissions_per_minute}",
            field="waitingRoom.admissionsPerMinute",
        )
    if not MIN_PASS_SECONDS <= rules.pass_seconds <= MAX_PASS_SECONDS:
        raise InvalidInput(
            f"waitingRoom.passSeconds must be between {MIN_PASS_SECONDS} and "
            f"{MAX_PASS_SECONDS}, got {rules.pass_seconds}",
            field="waitingRoom.passSeconds",
        )


def _apply_waiting_room_rules(event: Event, rules: WaitingRoomRules) -> None:
    event.waiting_room_enabled = rules.enabled
    event.waiting_room_admissions_per_minute = rules.admissions_per_minute
    event.waiting_room_pass_seconds = rules.pass_seconds


def _validate_draft(draft: EventDraft) -> None:
    check_text(draft.name, field="name", max_length=200)
    check_text(draft.time_zone, field="timeZone", max_length=MAX_TIME_ZONE_LENGTH)
    try:
        ZoneInfo(draft.time_zone)
    # OSError: zoneinfo opens a file named after the key, so a key that is
    # not a valid file name fails there instead of as not found.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            f"unknown time zone {draft.time_zone!r}; "
            "use an IANA name such as Europe/Berlin",
            field="timeZone",
        ) from None
    if not CURRENCY_PATTERN.match(draft.currency):
        raise InvalidInput(
            f"currency must be an ISO 4217 code such as EUR, got {draft.currency!r}",
            field="currency",
        )
    if draft.sale_ends_at <= draft.sale_starts_at:
        raise InvalidInput("saleEndsAt must be after saleStartsAt", field="saleEndsAt")
    if draft.sale_ends_at > draft.starts_at + timedelta(days=1):
        raise InvalidInput(
            "saleEndsAt must be at most one day after the event starts",
            field="saleEndsAt",
        )
    if not 60 <= draft.hold_duration_seconds <= MAX_HOLD_SECONDS:
        raise InvalidInput(
            f"holdDurationSeconds must be between 60 and {MAX_HOLD_SECONDS}",
            field="holdDurationSeconds",
        )
    if not 1 <= draft.max_seats_per_order <= 100:
        raise InvalidInput(
            "maxSeatsPerOrder must be between 1 and 100", field="maxSeatsPerOrder"
        )
    if not draft.max_seats_per_order <= draft.max_seats_per_buyer <= 1000:
        raise InvalidInput(
            "maxSeatsPerBuyer must be between maxSeatsPerOrder and 1000",
            field="maxSeatsPerBuyer",
        )
    if draft.waiting_room is not None:
        check_waiting_room_rules(draft.waiting_room)
    for category, amount in draft.prices.items():
        if not 0 <= amount <= MAX_PRICE:
            raise InvalidInput(
                f"price for {category!r} must be between 0 and {MAX_PRICE} minor units",
                field="prices",
            )


async def create_event(
    services: Services, draft: EventDraft, *, organizer_id: str
) -> Event:
    """Create a draft event on one of the organizer's venues, all seats available."""
    _validate_draft(draft)
    now = services.clock.now()

    async with services.transaction() as session:
        venue = await session.get(Venue, draft.venue_id)
        if venue is None or venue.organizer_id != organizer_id:
            raise NotFound(f"venue {draft.venue_id} not found", field="venueId")

        categories = {
            row.name: row.id
            for row in await session.execute(
                select(Category.name, Category.id).where(Category.venue_id == venue.id)
            )
        }
        _check_prices(draft.prices, categories)

        event = Event(
            venue_id=venue.id,
            organizer_id=organizer_id,
            name=draft.name,
            starts_at=draft.starts_at,
            time_zone=draft.time_zone,
            status=EventStatus.DRAFT,
            sale_starts_at=draft.sale_starts_at,
            sale_ends_at=draft.sale_ends_at,
            currency=draft.currency,
            hold_duration_seconds=draft.hold_duration_seconds,
            max_seats_per_order=draft.max_seats_per_order,
            max_seats_per_buyer=draft.max_seats_per_buyer,
            no_single_seat_gaps=draft.no_single_seat_gaps,
            seat_version=0,
            created_at=now,
        )
        if draft.waiting_room is not None:
            _apply_waiting_room_rules(event, draft.waiting_room)
        session.add(event)
        await session.flush()
        await session.execute(
            insert(EventPrice),
            [
                {
                    "event_id": event.id,
                    "category_id": categories[name],
                    "amount": amount,
                }
                for name, amount in draft.prices.items()
            ],
        )
        await _create_event_seats(session, event)
    return event


def _check_prices(prices: Mapping[str, int], categories: Mapping[str, int]) -> None:
    unknown = sorted(set(prices) - set(categories))
    if unknown:
        raise InvalidInput(
            f"prices name unknown categories {unknown}; "
            f"the venue has {sorted(categories)}",
            field="prices",
        )
    missing = sorted(set(categories) - set(prices))
    if missing:
        raise InvalidInput(
            f"prices are missing for categories {missing}", field="prices"
        )


async def _create_event_seats(session: AsyncSession, event: Event) -> None:
    # INSERT ... SELECT copies 50,000 seats without a round trip per row.
    await session.execute(
        insert(EventSeat).from_select(
            ["event_id", "seat_id", "ordinal", "status", "version"],
            select(
                literal(event.id, type_=Uuid()),
                Seat.id,
                Seat.ordinal,
                literal(SeatStatus.AVAILABLE.value),
                literal(0),
            ).where(Seat.venue_id == event.venue_id),
        )
    )


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> Event:
    event = await session.get(Event, event_id)
    if event is None:
        raise NotFound(f"event {event_id} not found", field="eventId")
    return event


async def get_own_event(
    session: AsyncSession, event_id: uuid.UUID, organizer_id: str, *, lock: bool = False
) -> Event:
    """Return the event if `organizer_id` organizes it, else raise `NotFound`."""
    event = await session.get(Event, event_id, with_for_update=lock)
    if event is None or event.organizer_id != organizer_id:
        raise NotFound(f"event {event_id} not found", field="eventId")
    return event


def ensure_sale_open(event: Event, now: datetime) -> None:
    """Raise `SaleNotOpen` unless buyers may hold seats of `event` now."""
    if event.status is not EventStatus.ON_SALE:
        raise SaleNotOpen(
            f"event {event.id} is {event.status.value.replace('_', ' ')}, not on sale",
            field="eventId",
        )
    if now < event.sale_starts_at:
        raise SaleNotOpen(
            f"sales open at {event.sale_starts_at.isoformat()}", field="eventId"
        )
    if now >= event.sale_ends_at:
        raise SaleNotOpen(
            f"sales closed at {event.sale_ends_at.isoformat()}", field="eventId"
        )


async def configure_waiting_room(
    services: Services,
    event_id: uuid.UUID,
    rules: WaitingRoomRules,
    *,
    organizer_id: str,
) -> Event:
    """Turn an event's waiting room on or off, or change its rate and pass lifetime.

    Queued buyers keep their places; a new rate applies from the next visit.
    """
    check_waiting_room_rules(rules)
    async with services.transaction() as session:
        event = await get_own_event(session, event_id, organizer_id, lock=True)
        _apply_waiting_room_rules(event, rules)
    return event


_TRANSITIONS: dict[EventStatus, set[EventStatus]] = {
    EventStatus.DRAFT: {EventStatus.ON_SALE, EventStatus.CANCELLED},
    EventStatus.ON_SALE: {EventStatus.SALES_CLOSED, EventStatus.CANCELLED},
    EventStatus.SALES_CLOSED: {EventStatus.ON_SALE, EventStatus.CANCELLED},
    EventStatus.CANCELLED: set(),
}


async def change_event_status(
    services: Services, event_id: uuid.UUID, status: EventStatus, *, organizer_id: str
) -> Event:
    """Publish (on sale), close sales, reopen or cancel an event."""
    async with services.transaction() as session:
        event = await get_own_event(session, event_id, organizer_id, lock=True)
        if status is event.status:
            return event
        if status not in _TRANSITIONS[event.status]:
            raise InvalidState(
                f"event {event_id} cannot go from {event.status.value} "
                f"to {status.value}",
                field="eventId",
            )
        event.status = status
    return event


async def block_seats(
    services: Services, event_id: uuid.UUID, guids: Sequence[str], *, organizer_id: str
) -> Event:
    """Take free seats off sale (for technicians, cameras, guests)."""
    now = services.clock.now()
    async with services.transaction() as session:
        event = await get_own_event(session, event_id, organizer_id)
        seats = await resolve_seats(session, event, guids)
        changed = await claim_seats(
            session,
            event.id,
            [seat.seat_id for seat in seats],
            guard=is_free(now),
            values={
                "status": SeatStatus.BLOCKED,
                "hold_id": None,
                "hold_expires_at": None,
            },
        )
        if len(changed) != len(seats):
            # The UPDATE already blocked this request's free seats until the
            # rollback, so the seats it left unchanged are the taken ones.
            taken = [seat.guid for seat in seats if seat.seat_id not in changed]
            raise SeatsUnavailable(
                f"{len(taken)} of the seats are held, sold or blocked: "
                f"{', '.join(taken)}",
                seat_ids=taken,
            )
        batch = await bump_version(session, event.id, seats, SeatStatus.BLOCKED)
        event.seat_version = batch.version
    await services.publish([batch])
    return event


async def unblock_seats(
    services: Services, event_id: uuid.UUID, guids: Sequence[str], *, organizer_id: str
) -> Event:
    async with services.transaction() as session:
        event = await get_own_event(session, event_id, organizer_id)
        seats = await resolve_seats(session, event, guids)
        changed = await claim_seats(
            session,
            event.id,
            [seat.seat_id for seat in seats],
            guard=EventSeat.status == SeatStatus.BLOCKED,
            values={"status": SeatStatus.AVAILABLE},
        )
        if len(changed) != len(seats):
            not_blocked = [seat.guid for seat in seats if seat.seat_id not in changed]
            raise InvalidState(
                f"seats are not blocked: {', '.join(not_blocked[:10])}", field="seatIds"
            )
        batch = await bump_version(session, event.id, seats, SeatStatus.AVAILABLE)
        event.seat_version = batch.version
    await services.publish([batch])
    return event
