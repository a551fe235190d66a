"""GraphQL input types and the checks that turn them into domain requests."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from seatline.booking import seatmap
from seatline.booking.errors import InvalidInput
from seatline.booking.events import WaitingRoomRules
from seatline.booking.validation import check_text
from seatline.schema.enums import EventStatus, SeatStatus


def page_size(first: int, maximum: int) -> int:
    if not 1 <= first <= maximum:
        raise InvalidInput(
            f"first must be between 1 and {maximum}, got {first}", field="first"
        )
    return first


def parse_ordinal_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    ordinal = seatmap.decode_cursor(cursor, {"o"})["o"]
    if not isinstance(ordinal, int) or isinstance(ordinal, bool) or ordinal < 0:
        raise InvalidInput(
            "invalid cursor; pass an endCursor from a previous page", field="after"
        )
    return ordinal


def aware(value: datetime | None, field: str) -> datetime | None:
    """Reject timestamps without a UTC offset; they are ambiguous."""
    if value is not None and value.tzinfo is None:
        raise InvalidInput(
            f"{field} must include a UTC offset, such as 2027-05-01T19:30:00+02:00",
            field=field,
        )
    return value


def text_filter(value: str | None, field: str, max_length: int = 200) -> str | None:
    if value is None:
        return None
    # PostgreSQL rejects NUL in a query parameter, so control characters get
    # a typed error here.
    return check_text(value, field=field, max_length=max_length, required=False)


@strawberry.input
class SeatFilterInput:
    status: SeatStatus | None = None
    category: str | None = None
    section: str | None = strawberry.field(default=None, description="Section key.")
    row: str | None = None

    def to_domain(self) -> seatmap.SeatFilter:
        return seatmap.SeatFilter(
            status=self.status,
            category=text_filter(self.category, "filter.category"),
            section=text_filter(self.section, "filter.section"),
            row=text_filter(self.row, "filter.row"),
        )


@strawberry.input
class EventFilterInput:
    starts_after: datetime | None = None
    starts_before: datetime | None = None
    text: str | None = strawberry.field(default=None, description="Part of the name.")
    venue_id: strawberry.ID | None = None
    status: EventStatus | None = None


@strawberry.input
class BestAvailableInput:
    count: int
    category: str | None = None
    section: str | None = strawberry.field(default=None, description="Section key.")
    adjacent: bool = strawberry.field(
        default=True, description="Require all seats side by side in one row."
    )


@strawberry.input
class HoldSeatsInput:
    event_id: strawberry.ID
    seat_ids: list[str] | None = None
    best_available: BestAvailableInput | None = None
    idempotency_key: str
    admission_pass: str | None = strawberry.field(
        default=None,
        description="The pass from waitingRoom; required when the event has a "
        "waiting room.",
    )


@strawberry.input
class CheckoutInput:
    hold_id: strawberry.ID
    idempotency_key: str


@strawberry.input
class PaymentInput:
    token: str = strawberry.field(
        description="A payment token from the provider; never card numbers."
    )


@strawberry.input
class PayOrderInput:
    order_id: strawberry.ID
    payment: PaymentInput
    idempotency_key: str


@strawberry.input
class PriceInput:
    category: str
    amount: int = strawberry.field(description="Integer minor units.")


@strawberry.input(
    description="A waiting room queues buyers for an on-sale and admits them "
    "at a fixed rate; holding seats then takes an admission pass."
)
class WaitingRoomInput:
    enabled: bool
    admissions_per_minute: int = 100
    pass_seconds: int = strawberry.field(
        default=600, description="How long an admission pass is valid, in seconds."
    )

    def to_domain(self) -> WaitingRoomRules:
        return WaitingRoomRules(
            enabled=self.enabled,
            admissions_per_minute=self.admissions_per_minute,
            pass_seconds=self.pass_seconds,
        )


@strawberry.input
class CreateEventInput:
    venue_id: strawberry.ID
    name: str
    starts_at: datetime
    time_zone: str = strawberry.field(description="IANA time zone, e.g. Europe/Berlin.")
    sale_starts_at: datetime
    sale_ends_at: datetime
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR.")
    prices: list[PriceInput]
    hold_duration_seconds: int = 600
    max_seats_per_order: int = 10
    max_seats_per_buyer: int = 10
    no_single_seat_gaps: bool = False
    waiting_room: WaitingRoomInput | None = strawberry.field(
        default=None, description="Off when not given."
    )


@strawberry.input
class SeatsInput:
    event_id: strawberry.ID
    seat_ids: list[str]


@strawberry.input
class ImportVenueInput:
    plan: JSON = strawberry.field(
        description="A seating plan in the pretix JSON format."
    )
    name: str | None = strawberry.field(
        default=None, description="Overrides the plan's name."
    )
