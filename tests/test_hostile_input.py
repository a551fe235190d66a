"""Hostile but well-formed input at the API edge: a typed error, no change.

Each case is a valid GraphQL request with values that a bot or a broken
client would send: duplicate, foreign or too many seats, control characters
and 10 kB strings, negative and huge numbers, ids of the wrong kind. Each
must come back as a typed error with a code and the field, and leave the
database as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from seatline.booking.holds import HoldRequest, hold_seats
from seatline.booking.orders import checkout
from seatline.booking.services import Services
from seatline.models import Event, EventSeat, Hold, Order, Payment, Ticket, Venue
from tests.conftest import ApiClient, EventFixture, make_event, seat_ids

HOLD_SEATS = """
mutation($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename
    ... on Error { code message field }
  }
}
"""
CHECKOUT = """
mutation($input: CheckoutInput!) {
  checkout(input: $input) {
    __typename
    ... on Error { code message field }
  }
}
"""
PAY_ORDER = """
mutation($input: PayOrderInput!) {
  payOrder(input: $input) {
    __typename
    ... on Error { code message field }
  }
}
"""
CANCEL_ORDER = """
mutation($id: ID!) {
  cancelOrder(orderId: $id) {
    __typename
    ... on Error { code message field }
  }
}
"""
CREATE_EVENT = """
mutation($input: CreateEventInput!) {
  createEvent(input: $input) {
    __typename
    ... on Error { code message field }
  }
}
"""
BLOCK_SEATS = """
mutation($input: SeatsInput!) {
  blockSeats(input: $input) {
    __typename
    ... on Error { code message field }
  }
}
"""
EVENTS = """
query($filter: EventFilterInput, $first: Int!, $after: String) {
  events(filter: $filter, first: $first, after: $after) { edges { cursor } }
}
"""
SEATS = """
query($id: ID!, $filter: SeatFilterInput, $first: Int!, $after: String) {
  event(id: $id) {
    seats(filter: $filter, first: $first, after: $after) { edges { cursor } }
  }
}
"""
SEAT = """
query($id: ID!, $seatId: String!) { event(id: $id) { seat(id: $seatId) { id } } }
"""

TEN_KB = "x" * 10_240
CONTROL = "A\x00\x07\u202e\x1b[31m"


@dataclass
class World:
    """What a case can refer to: an event on sale with a hold and an order."""

    event: EventFixture
    other: EventFixture
    buyer: str
    hold_id: str
    order_id: str

    def seats(self) -> list[str]:
        return seat_ids(self.event)

    def foreign_seats(self) -> list[str]:
        """Seat ids of the other event that the first event's venue lacks."""
        own = set(self.seats())
        foreign = [seat for seat in seat_ids(self.other) if seat not in own]
        assert foreign, "the other event's venue must have seats the first lacks"
        return foreign


@dataclass(frozen=True)
class Case:
    name: str
    scopes: tuple[str, ...]
    document: str
    variables: Callable[[World], dict[str, Any]]
    field: str
    code: str = "INVALID_INPUT"


def hold_input(world: World, **values: Any) -> dict[str, Any]:
    request = {"eventId": world.event.id, "idempotencyKey": str(uuid.uuid4())}
    return {"input": {**request, **values}}


def event_input(world: World, **values: Any) -> dict[str, Any]:
    now = world.event.event.created_at
    categories = [name for name, _ in world.event.venue.layout["categories"]]
    draft = {
        "venueId": str(world.event.venue.id),
        "name": "Second night",
        "startsAt": (now + timedelta(days=20)).isoformat(),
        "timeZone": "Europe/Vienna",
        "saleStartsAt": (now - timedelta(hours=1)).isoformat(),
        "saleEndsAt": (now + timedelta(days=19)).isoformat(),
        "currency": "EUR",
        "prices": [{"category": name, "amount": 1500} for name in categories],
    }
    return {"input": {**draft, **values}}


def pay_input(world: World, token: str = "tok_approve", **values: Any) -> Any:
    request = {
        "orderId": world.order_id,
        "payment": {"token": token},
        "idempotencyKey": str(uuid.uuid4()),
    }
    return {"input": {**request, **values}}


BOOK = ("bookings:write",)
ORGANIZE = ("organizer",)
CASES = [
    Case(
        "hold duplicate seats",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=[w.seats()[5], w.seats()[5]]),
        "seatIds",
    ),
    Case(
        "hold seats of another event",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=w.foreign_seats()[:2]),
        "seatIds",
    ),
    Case(
        "hold 10,000 seats",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=[f"seat-{n}" for n in range(10_000)]),
        "seatIds",
    ),
    Case(
        "hold no seats",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=[]),
        "seatIds",
    ),
    Case(
        "hold seat id with control characters",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=[CONTROL]),
        "seatIds",
    ),
    Case(
        "hold 10 kB seat id",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=[TEN_KB]),
        "seatIds",
    ),
    Case(
        "hold seats and best available",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=w.seats()[5:6], bestAvailable={"count": 1}),
        "seatIds",
    ),
    Case(
        "best available negative count",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, bestAvailable={"count": -1}),
        "bestAvailable.count",
    ),
    Case(
        "best available huge count",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, bestAvailable={"count": 2**31 - 1}),
        "bestAvailable.count",
    ),
    Case(
        "best available category with control characters",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, bestAvailable={"count": 1, "category": CONTROL}),
        "bestAvailable.category",
    ),
    Case(
        "best available 10 kB section",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, bestAvailable={"count": 1, "section": TEN_KB}),
        "bestAvailable.section",
    ),
    Case(
        "hold with 10 kB idempotency key",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=w.seats()[5:6], idempotencyKey=TEN_KB),
        "idempotencyKey",
    ),
    Case(
        "hold with control characters in idempotency key",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=w.seats()[5:6], idempotencyKey=CONTROL * 3),
        "idempotencyKey",
    ),
    Case(
        "hold event id not a uuid",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=w.seats()[5:6], eventId="1 OR 1=1"),
        "eventId",
    ),
    Case(
        "hold event id of a venue",
        BOOK,
        HOLD_SEATS,
        lambda w: hold_input(w, seatIds=w.seats()[5:6], eventId=str(w.event.venue.id)),
        "eventId",
        "NOT_FOUND",
    ),
    Case(
        "checkout with an order id",
        BOOK,
        CHECKOUT,
        lambda w: {
            "input": {"holdId": w.order_id, "idempotencyKey": str(uuid.uuid4())}
        },
        "holdId",
        "NOT_FOUND",
    ),
    Case(
        "checkout 10 kB hold id",
        BOOK,
        CHECKOUT,
        lambda w: {"input": {"holdId": TEN_KB, "idempotencyKey": str(uuid.uuid4())}},
        "holdId",
    ),
    Case(
        "pay with a hold id",
        BOOK,
        PAY_ORDER,
        lambda w: pay_input(w, orderId=w.hold_id),
        "orderId",
        "NOT_FOUND",
    ),
    Case(
        "pay with 10 kB token",
        BOOK,
        PAY_ORDER,
        lambda w: pay_input(w, TEN_KB),
        "payment.token",
    ),
    Case(
        "pay with control characters in token",
        BOOK,
        PAY_ORDER,
        lambda w: pay_input(w, CONTROL),
        "payment.token",
    ),
    Case(
        "cancel order with control characters in id",
        BOOK,
        CANCEL_ORDER,
        lambda w: {"id": CONTROL},
        "orderId",
    ),
    Case(
        "create event 10 kB name",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(w, name=TEN_KB),
        "name",
    ),
    Case(
        "create event name with control characters",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(w, name=CONTROL),
        "name",
    ),
    Case(
        "create event 10 kB time zone",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(w, timeZone=TEN_KB),
        "timeZone",
    ),
    Case(
        "create event time zone with control characters",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(w, timeZone=CONTROL),
        "timeZone",
    ),
    Case(
        "create event time zone outside the database",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(w, timeZone="../../../../etc/passwd"),
        "timeZone",
    ),
    Case(
        "create event negative hold duration",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(w, holdDurationSeconds=-(2**31)),
        "holdDurationSeconds",
    ),
    Case(
        "create event huge seat limit",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(w, maxSeatsPerOrder=2**31 - 1),
        "maxSeatsPerOrder",
    ),
    Case(
        "create event huge price",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(
            w,
            prices=[
                {"category": name, "amount": 2**31 - 1}
                for name, _ in w.event.venue.layout["categories"]
            ],
        ),
        "prices",
    ),
    Case(
        "create event category with control characters",
        ORGANIZE,
        CREATE_EVENT,
        lambda w: event_input(w, prices=[{"category": CONTROL, "amount": 100}]),
        "prices",
    ),
    Case(
        "block seats of another event",
        ORGANIZE,
        BLOCK_SEATS,
        lambda w: {"input": {"eventId": w.event.id, "seatIds": w.foreign_seats()[:1]}},
        "seatIds",
    ),
    Case(
        "block seats of an event of another organizer",
        ORGANIZE,
        BLOCK_SEATS,
        lambda w: {"input": {"eventId": w.other.id, "seatIds": seat_ids(w.other)[:1]}},
        "eventId",
        "NOT_FOUND",
    ),
]

# Queries that fail raise an error with a code in its extensions.
QUERY_CASES = [
    Case(
        "events text filter with control characters",
        (),
        EVENTS,
        lambda w: {"filter": {"text": CONTROL}, "first": 10},
        "filter.text",
    ),
    Case(
        "events 10 kB text filter",
        (),
        EVENTS,
        lambda w: {"filter": {"text": TEN_KB}, "first": 10},
        "filter.text",
    ),
    Case(
        "events venue filter with control characters",
        (),
        EVENTS,
        lambda w: {"filter": {"venueId": CONTROL}, "first": 10},
        "filter.venueId",
    ),
    Case("events negative page", (), EVENTS, lambda w: {"first": -1}, "first"),
    Case("events huge page", (), EVENTS, lambda w: {"first": 2**31 - 1}, "first"),
    Case(
        "events cursor of the seat list",
        (),
        EVENTS,
        lambda w: {"first": 10, "after": "eyJvIjogMX0="},
        "after",
    ),
    Case(
        "seats row filter with control characters",
        (),
        SEATS,
        lambda w: {"id": w.event.id, "filter": {"row": CONTROL}, "first": 10},
        "filter.row",
    ),
    Case(
        "seats 10 kB cursor",
        (),
        SEATS,
        lambda w: {"id": w.event.id, "first": 10, "after": TEN_KB},
        "after",
    ),
]


async def table_counts(services: Services, event: EventFixture) -> dict[str, Any]:
    """Rows that a rejected request must not have added or changed."""
    async with services.sessions() as session:
        counts: dict[str, Any] = {
            model.__tablename__: await session.scalar(
                select(func.count()).select_from(model)
            )
            for model in (Venue, Event, Hold, Order, Payment, Ticket)
        }
        counts["seat_version"] = await session.scalar(
            select(Event.seat_version).where(Event.id == event.event.id)
        )
        counts["seats"] = sorted(
            (
                await session.execute(
                    select(
                        EventSeat.seat_id, EventSeat.status, EventSeat.hold_id
                    ).where(EventSeat.event_id == event.event.id)
                )
            ).all()
        )
    return counts


@pytest.fixture
async def world(services: Services) -> World:
    event = await make_event(services)
    # A bigger theatre, so that some of its seat ids are not in the first.
    other = await make_event(services, rows=8, seats_per_row=14)
    buyer = f"buyer-{uuid.uuid4().hex[:8]}"
    seats = seat_ids(event)
    held = await hold_seats(
        services, buyer, HoldRequest(event.event.id, str(uuid.uuid4()), seats[:2])
    )
    unpaid = await hold_seats(
        services, buyer, HoldRequest(event.event.id, str(uuid.uuid4()), seats[2:4])
    )
    order = await checkout(services, buyer, unpaid.id, str(uuid.uuid4()))
    return World(event, other, buyer, str(held.id), str(order.id))


def principal(api: ApiClient, world: World, scopes: tuple[str, ...]) -> str | None:
    if not scopes:
        return None
    subject = world.event.organizer_id if scopes == ORGANIZE else world.buyer
    return api.token(subject, *scopes)


async def test_hostile_mutations_typed_errors(
    api: ApiClient, services: Services, world: World
) -> None:
    for case in CASES:
        before = await table_counts(services, world.event)

        body = await api.execute(
            case.document,
            case.variables(world),
            token=principal(api, world, case.scopes),
        )

        assert "errors" not in body, (case.name, body)
        (result,) = body["data"].values()
        assert result["code"] == case.code, (case.name, result)
        assert result["field"] == case.field, (case.name, result)
        assert result["message"], case.name
        assert await table_counts(services, world.event) == before, case.name


async def test_hostile_queries_typed_errors(
    api: ApiClient, services: Services, world: World
) -> None:
    for case in QUERY_CASES:
        before = await table_counts(services, world.event)

        body = await api.execute(case.document, case.variables(world))

        assert len(body.get("errors") or []) == 1, (case.name, body)
        extensions = body["errors"][0].get("extensions") or {}
        assert extensions.get("code") == case.code, (case.name, body)
        assert extensions.get("field") == case.field, (case.name, body)
        assert await table_counts(services, world.event) == before, case.name


async def test_seat_by_id_with_nul_is_null(api: ApiClient, world: World) -> None:
    body = await api.execute(SEAT, {"id": world.event.id, "seatId": "A-1\x00"})

    assert "errors" not in body, body
    assert body["data"]["event"]["seat"] is None
