"""GraphQL object types; they read through domain services, never SQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from seatline.booking import holds as hold_service
from seatline.booking import orders as order_service
from seatline.booking import seatmap
from seatline.booking.errors import InvalidInput
from seatline.models import Event as EventModel
from seatline.models import Hold as HoldModel
from seatline.models import Order as OrderModel
from seatline.models import Ticket as TicketModel
from seatline.models import Venue as VenueModel
from seatline.schema.context import Info
from seatline.schema.enums import EventStatus, HoldStatus, OrderStatus, SeatStatus
from seatline.schema.inputs import SeatFilterInput, page_size, parse_ordinal_cursor

AVAILABILITY_DESCRIPTION = (
    "Status of every seat, two bits per seat in layout order (seat ordinal), "
    "four seats per byte with the first seat in the lowest bits, base64. "
    "Codes: 0 available, 1 held, 2 sold, 3 blocked."
)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Price:
    category: str
    amount: int = strawberry.field(description="Integer minor units of the currency.")


@strawberry.type
class Venue:
    id: strawberry.ID
    name: str
    seat_count: int
    layout_version: str

    @classmethod
    def from_model(cls, venue: VenueModel) -> Venue:
        return cls(
            id=strawberry.ID(str(venue.id)),
            name=venue.name,
            seat_count=venue.seat_count,
            layout_version=venue.layout_version,
        )


@strawberry.type
class StatusCounts:
    key: str = strawberry.field(description="Category name or section key.")
    name: str
    available: int
    held: int
    sold: int
    blocked: int


@strawberry.type
class SeatMap:
    event_id: strawberry.ID
    layout_version: str = strawberry.field(
        description="Content hash of the layout; send it back to skip the layout."
    )
    layout: JSON | None = strawberry.field(
        description="Sections, rows and seats as compact JSON; null when the "
        "layoutVersion argument matches."
    )
    version: int = strawberry.field(
        description="The event's seat version that this availability reflects."
    )
    seat_count: int
    availability: str = strawberry.field(description=AVAILABILITY_DESCRIPTION)
    counts_by_category: list[StatusCounts]
    counts_by_section: list[StatusCounts]


@strawberry.type
class Seat:
    id: str = strawberry.field(description="The seat id from the seating plan.")
    ordinal: int
    section: str
    row: str
    number: str
    category: str
    status: SeatStatus
    x: float
    y: float
    price: int | None

    @classmethod
    def from_view(cls, view: seatmap.SeatView) -> Seat:
        return cls(
            id=view.seat_id,
            ordinal=view.ordinal,
            section=view.section,
            row=view.row,
            number=view.number,
            category=view.category,
            status=view.status,
            x=view.x,
            y=view.y,
            price=view.price,
        )


@strawberry.type
class SeatEdge:
    cursor: str
    node: Seat


@strawberry.type
class SeatConnection:
    edges: list[SeatEdge]
    page_info: PageInfo


@strawberry.type(description="An event's waiting room rules.")
class WaitingRoomSettings:
    enabled: bool
    admissions_per_minute: int
    pass_seconds: int = strawberry.field(
        description="How long an admission pass is valid, in seconds."
    )


@strawberry.type
class Event:
    id: strawberry.ID
    name: str
    starts_at: datetime
    time_zone: str
    status: EventStatus
    sale_starts_at: datetime
    sale_ends_at: datetime
    currency: str
    hold_duration_seconds: int
    max_seats_per_order: int
    max_seats_per_buyer: int
    no_single_seat_gaps: bool
    waiting_room: WaitingRoomSettings
    version: int
    venue_id: strawberry.ID
    _model: strawberry.Private[EventModel]

    @classmethod
    def from_model(cls, event: EventModel) -> Event:
        return cls(
            id=strawberry.ID(str(event.id)),
            name=event.name,
            starts_at=event.starts_at,
            time_zone=event.time_zone,
            status=event.status,
            sale_starts_at=event.sale_starts_at,
            sale_ends_at=event.sale_ends_at,
            currency=event.currency,
            hold_duration_seconds=event.hold_duration_seconds,
            max_seats_per_order=event.max_seats_per_order,
            max_seats_per_buyer=event.max_seats_per_buyer,
            no_single_seat_gaps=event.no_single_seat_gaps,
            waiting_room=WaitingRoomSettings(
                enabled=event.waiting_room_enabled,
                admissions_per_minute=event.waiting_room_admissions_per_minute,
                pass_seconds=event.waiting_room_pass_seconds,
            ),
            version=event.seat_version,
            venue_id=strawberry.ID(str(event.venue_id)),
            _model=event,
        )

    @strawberry.field
    async def prices(self, info: Info) -> list[Price]:
        rows = await seatmap.event_prices(info.context.services, self._model.id)
        return [Price(category=name, amount=amount) for name, amount in rows]

    @strawberry.field
    async def venue(self, info: Info) -> Venue:
        venue = await seatmap.get_venue_model(
            info.context.services, self._model.venue_id
        )
        return Venue.from_model(venue)

    @strawberry.field(description="Layout, availability and counts of every seat.")
    async def seat_map(self, info: Info, layout_version: str | None = None) -> SeatMap:
        result = await seatmap.seat_map(
            info.context.services, self._model, layout_version
        )
        return SeatMap(
            event_id=self.id,
            layout_version=result.layout_version,
            layout=cast(JSON, result.layout),
            version=result.version,
            seat_count=result.seat_count,
            availability=result.availability,
            counts_by_category=[StatusCounts(**c.__dict__) for c in result.by_category],
            counts_by_section=[StatusCounts(**c.__dict__) for c in result.by_section],
        )

    @strawberry.field(description="One seat by its id from the seating plan.")
    async def seat(self, info: Info, id: str) -> Seat | None:
        if len(id) > 200:
            return None
        views, _ = await seatmap.seat_list(
            info.context.services,
            self._model,
            seatmap.SeatFilter(),
            first=1,
            after=None,
            seat_ids=[id],
        )
        return Seat.from_view(views[0]) if views else None

    @strawberry.field(description="Seats in layout order, filtered and paginated.")
    async def seats(
        self,
        info: Info,
        filter: SeatFilterInput | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> SeatConnection:
        services = info.context.services
        size = page_size(first, services.settings.max_page_size)
        views, more = await seatmap.seat_list(
            services,
            self._model,
            (filter or SeatFilterInput()).to_domain(),
            first=size,
            after=parse_ordinal_cursor(after),
        )
        edges = [
            SeatEdge(
                cursor=seatmap.encode_cursor({"o": v.ordinal}), node=Seat.from_view(v)
            )
            for v in views
        ]
        end = edges[-1].cursor if edges else None
        return SeatConnection(
            edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end)
        )


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo


@strawberry.type
class Hold:
    id: strawberry.ID
    event_id: strawberry.ID
    status: HoldStatus
    created_at: datetime
    expires_at: datetime
    max_expires_at: datetime = strawberry.field(
        description="Extensions never move expiresAt past this time."
    )
    _model: strawberry.Private[HoldModel]

    @classmethod
    def from_model(cls, hold: HoldModel, now: datetime) -> Hold:
        return cls(
            id=strawberry.ID(str(hold.id)),
            event_id=strawberry.ID(str(hold.event_id)),
            status=hold_service.hold_status(hold, now),
            created_at=hold.created_at,
            expires_at=hold.expires_at,
            max_expires_at=hold.max_expires_at,
            _model=hold,
        )

    @strawberry.field
    async def seat_ids(self, info: Info) -> list[str]:
        if self._model.seat_guids is not None:
            return self._model.seat_guids
        return await hold_service.hold_seat_ids(info.context.services, self._model.id)


@strawberry.type
class Ticket:
    id: strawberry.ID
    code: str = strawberry.field(description="Unguessable code printed on the ticket.")
    seat_id: str
    signed_payload: str = strawberry.field(
        description="Compact JWS (ES256) of the ticket's facts for a QR code; "
        "verify it with the keys at /.well-known/jwks.json."
    )
    issued_at: datetime


@strawberry.type
class Order:
    id: strawberry.ID
    event_id: strawberry.ID
    status: OrderStatus
    currency: str
    total_amount: int = strawberry.field(description="Integer minor units.")
    created_at: datetime
    payment_deadline: datetime
    paid_at: datetime | None
    _model: strawberry.Private[OrderModel]

    @classmethod
    def from_model(cls, order: OrderModel) -> Order:
        return cls(
            id=strawberry.ID(str(order.id)),
            event_id=strawberry.ID(str(order.event_id)),
            status=order.status,
            currency=order.currency,
            total_amount=order.total_amount,
            created_at=order.created_at,
            payment_deadline=order.payment_deadline,
            paid_at=order.paid_at,
            _model=order,
        )

    @strawberry.field
    async def seat_ids(self, info: Info) -> list[str]:
        if self._model.seat_guids is not None:
            return self._model.seat_guids
        return await order_service.order_seat_ids(info.context.services, self._model.id)

    @strawberry.field
    async def tickets(self, info: Info) -> list[Ticket]:
        if self._model.tickets is not None:
            return [_ticket(ticket, seat_id) for ticket, seat_id in self._model.tickets]
        tickets = await order_service.order_tickets(
            info.context.services, self._model.id
        )
        seat_ids = await seatmap.seat_guids(
            info.context.services, [ticket.seat_id for ticket in tickets]
        )
        return [_ticket(ticket, seat_ids[ticket.seat_id]) for ticket in tickets]


def _ticket(ticket: TicketModel, seat_id: str) -> Ticket:
    return Ticket(
        id=strawberry.ID(str(ticket.id)),
        code=ticket.code,
        seat_id=seat_id,
        signed_payload=ticket.signed_payload,
        issued_at=ticket.issued_at,
    )


def parse_id(value: str, field: str) -> uuid.UUID:
    """Parse a UUID id from input; malformed ids are `InvalidInput`."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        raise InvalidInput(
            f"{field} must be a UUID, got {value[:60]!r}", field=field
        ) from None
