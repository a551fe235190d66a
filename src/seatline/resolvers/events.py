"""Resolvers for events, venues and seat maps."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from seatline.booking import events as event_service
from seatline.booking import orders as order_service
from seatline.booking import seatmap
from seatline.booking import venue_import as venue_service
from seatline.booking.errors import InvalidInput
from seatline.models import EventStatus as DomainEventStatus
from seatline.resolvers.common import principal, subject_or_none
from seatline.schema.context import Info
from seatline.schema.errors import (
    BusyError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    PlanInvalidError,
    PlanProblem,
    SeatsUnavailableError,
    returns_errors,
)
from seatline.schema.inputs import (
    CreateEventInput,
    EventFilterInput,
    ImportVenueInput,
    SeatsInput,
    WaitingRoomInput,
    aware,
    page_size,
    text_filter,
)
from seatline.schema.types import (
    Event,
    EventConnection,
    EventEdge,
    PageInfo,
    Venue,
    parse_id,
)
from seatline.venues.plan import PlanInvalid

EventResult = Annotated[
    Event | InvalidInputError | NotFoundError | InvalidStateError | BusyError,
    strawberry.union("EventResult"),
]
SeatsChangeResult = Annotated[
    Event
    | SeatsUnavailableError
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | BusyError,
    strawberry.union("SeatsChangeResult"),
]
ImportVenueResult = Annotated[
    Venue | PlanInvalidError | InvalidInputError, strawberry.union("ImportVenueResult")
]


async def events(
    info: Info,
    filter: EventFilterInput | None = None,
    first: int = 20,
    after: str | None = None,
) -> EventConnection:
    services = info.context.services
    size = page_size(first, services.settings.max_page_size)
    event_filter = _event_filter(filter or EventFilterInput())
    cursor = None
    if after is not None:
        values = seatmap.decode_cursor(after, {"s", "i"})
        try:
            cursor = (
                datetime.fromisoformat(values["s"]),
                parse_id(values["i"], "after"),
            )
            # A naive start time would fail when bound to the UTC column.
            if cursor[0].tzinfo is None:
                raise ValueError("cursor start time has no UTC offset")
        except (TypeError, ValueError):
            raise InvalidInput(
                "invalid cursor; pass an endCursor from a previous page", field="after"
            ) from None
    found, more = await seatmap.list_events(
        services,
        event_filter,
        first=size,
        after=cursor,
        visible_to=subject_or_none(info),
    )
    edges = [
        EventEdge(
            cursor=seatmap.encode_cursor(
                {"s": e.starts_at.isoformat(), "i": str(e.id)}
            ),
            node=Event.from_model(e),
        )
        for e in found
    ]
    end = edges[-1].cursor if edges else None
    return EventConnection(
        edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end)
    )


def _event_filter(given: EventFilterInput) -> seatmap.EventFilter:
    return seatmap.EventFilter(
        starts_after=aware(given.starts_after, "filter.startsAfter"),
        starts_before=aware(given.starts_before, "filter.startsBefore"),
        text=text_filter(given.text, "filter.text"),
        venue_id=None
        if given.venue_id is None
        else parse_id(given.venue_id, "filter.venueId"),
        status=given.status,
    )


async def event(info: Info, id: strawberry.ID) -> Event | None:
    found = await seatmap.find_event(
        info.context.services, parse_id(id, "id"), subject_or_none(info)
    )
    return None if found is None else Event.from_model(found)


@returns_errors
async def import_venue(info: Info, input: ImportVenueInput) -> ImportVenueResult:
    if input.name is not None:
        text_filter(input.name, "name")
    try:
        venue = await venue_service.import_plan(
            info.context.services,
            input.plan,
            organizer_id=principal(info).subject,
            name=input.name,
        )
    except PlanInvalid as error:
        problems = [PlanProblem(path=p.path, message=p.message) for p in error.errors]
        return PlanInvalidError(
            code=InvalidInput.code,
            message=str(error),
            field="plan",
            problems=problems,
        )
    return Venue.from_model(venue)


@returns_errors
async def create_event(info: Info, input: CreateEventInput) -> EventResult:
    prices: dict[str, int] = {}
    for price in input.prices:
        if price.category in prices:
            raise InvalidInput(
                f"price for {price.category!r} given twice", field="prices"
            )
        prices[price.category] = price.amount
    draft = event_service.EventDraft(
        venue_id=parse_id(input.venue_id, "venueId"),
        name=input.name,
        starts_at=_required(aware(input.starts_at, "startsAt")),
        time_zone=input.time_zone,
        sale_starts_at=_required(aware(input.sale_starts_at, "saleStartsAt")),
        sale_ends_at=_required(aware(input.sale_ends_at, "saleEndsAt")),
        currency=input.currency,
        prices=prices,
        hold_duration_seconds=input.hold_duration_seconds,
        max_seats_per_order=input.max_seats_per_order,
        max_seats_per_buyer=input.max_seats_per_buyer,
        no_single_seat_gaps=input.no_single_seat_gaps,
        waiting_room=None
        if input.waiting_room is None
        else input.waiting_room.to_domain(),
    )
    created = await event_service.create_event(
        info.context.services, draft, organizer_id=principal(info).subject
    )
    return Event.from_model(created)


def _required(value: datetime | None) -> datetime:
    assert value is not None
    return value


async def _change_status(
    info: Info, event_id: strawberry.ID, status: DomainEventStatus
) -> Event:
    changed = await event_service.change_event_status(
        info.context.services,
        parse_id(event_id, "eventId"),
        status,
        organizer_id=principal(info).subject,
    )
    return Event.from_model(changed)


@returns_errors
async def publish_event(info: Info, event_id: strawberry.ID) -> EventResult:
    return await _change_status(info, event_id, DomainEventStatus.ON_SALE)


@returns_errors
async def close_sales(info: Info, event_id: strawberry.ID) -> EventResult:
    return await _change_status(info, event_id, DomainEventStatus.SALES_CLOSED)


@returns_errors
async def cancel_event(info: Info, event_id: strawberry.ID) -> EventResult:
    cancelled = await order_service.cancel_event(
        info.context.services,
        parse_id(event_id, "eventId"),
        organizer_id=principal(info).subject,
    )
    return Event.from_model(cancelled)


@returns_errors
async def block_seats(info: Info, input: SeatsInput) -> SeatsChangeResult:
    changed = await event_service.block_seats(
        info.context.services,
        parse_id(input.event_id, "eventId"),
        input.seat_ids,
        organizer_id=principal(info).subject,
    )
    return Event.from_model(changed)


@returns_errors
async def unblock_seats(info: Info, input: SeatsInput) -> SeatsChangeResult:
    changed = await event_service.unblock_seats(
        info.context.services,
        parse_id(input.event_id, "eventId"),
        input.seat_ids,
        organizer_id=principal(info).subject,
    )
    return Event.from_model(changed)


@returns_errors
async def configure_waiting_room(
    info: Info, event_id: strawberry.ID, input: WaitingRoomInput
) -> EventResult:
    changed = await event_service.configure_waiting_room(
        info.context.services,
        parse_id(event_id, "eventId"),
        input.to_domain(),
        organizer_id=principal(info).subject,
    )
    return Event.from_model(changed)
