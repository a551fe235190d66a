"""Organizer mutations over GraphQL: venues, events, status changes, blocked seats.

Also the sale rules that these mutations set up for buyers: no holds on
events that are not on sale, or outside their sale window.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from seatline.booking.clock import ManualClock
from seatline.booking.services import Services
from seatline.models import EventStatus
from seatline.venues.generate import theatre
from tests.conftest import ApiClient, EventFixture, make_event, seat_ids

IMPORT_VENUE = """
mutation Import($input: ImportVenueInput!) {
  importVenue(input: $input) {
    __typename
    ... on Venue { id name seatCount layoutVersion }
    ... on Error { code message field }
    ... on PlanInvalidError { problems { path message } }
  }
}
"""

CREATE_EVENT = """
mutation Create($input: CreateEventInput!) {
  createEvent(input: $input) {
    __typename
    ... on Event {
      id name status version venueId currency timeZone holdDurationSeconds
      maxSeatsPerOrder maxSeatsPerBuyer noSingleSeatGaps startsAt
      prices { category amount }
    }
    ... on Error { code message field }
  }
}
"""

STATUS_RESULT = """
    __typename
    ... on Event { id status version }
    ... on Error { code message field }
"""
PUBLISH = f"mutation($id: ID!) {{ publishEvent(eventId: $id) {{ {STATUS_RESULT} }} }}"
CLOSE = f"mutation($id: ID!) {{ closeSales(eventId: $id) {{ {STATUS_RESULT} }} }}"
CANCEL = f"mutation($id: ID!) {{ cancelEvent(eventId: $id) {{ {STATUS_RESULT} }} }}"
TRANSITIONS = {"publish": PUBLISH, "close": CLOSE, "cancel": CANCEL}
RESULT_FIELDS = {
    "publish": "publishEvent",
    "close": "closeSales",
    "cancel": "cancelEvent",
}

SEATS_RESULT = """
    __typename
    ... on Event { id version }
    ... on Error { code message field }
    ... on SeatsUnavailableError { seatIds }
"""
BLOCK = f"""
mutation Block($input: SeatsInput!) {{ blockSeats(input: $input) {{ {SEATS_RESULT} }} }}
"""
UNBLOCK = f"""
mutation Unblock($input: SeatsInput!) {{
  unblockSeats(input: $input) {{ {SEATS_RESULT} }}
}}
"""

HOLD_SEATS = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename
    ... on Hold { id status seatIds }
    ... on Error { code message field }
    ... on SeatsUnavailableError { seatIds }
  }
}
"""

SEAT_STATUS = """
query SeatStatus($id: ID!, $seatId: String!) {
  event(id: $id) { version seat(id: $seatId) { status } }
}
"""

EVENTS_ON_VENUE = """
query EventsOnVenue($venueId: ID!) {
  events(filter: {venueId: $venueId}) { edges { node { id } } }
}
"""

# theatre(rows=4, seats_per_row=10): 4 stalls rows of 10 seats, then 2 circle
# rows of 14.
SMALL_PLAN_SEATS = 4 * 10 + 2 * 14


def key() -> str:
    return str(uuid.uuid4())


def organizer_token(api: ApiClient, fixture: EventFixture) -> str:
    return api.token(fixture.organizer_id, "organizer")


def buyer_token(api: ApiClient) -> str:
    return api.token(f"buyer-{secrets.token_hex(4)}", "bookings:write")


def error_extensions(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    assert len(body["errors"]) == 1, body
    extensions: dict[str, Any] = body["errors"][0].get("extensions") or {}
    return extensions


def event_input(fixture: EventFixture, now: datetime, **overrides: Any) -> Any:
    """Build a valid createEvent input on the fixture's venue, with `overrides`."""
    categories = [name for name, _ in fixture.venue.layout["categories"]]
    values: dict[str, Any] = {
        "venueId": str(fixture.venue.id),
        "name": "Second night",
        "startsAt": (now + timedelta(days=20)).isoformat(),
        "timeZone": "Europe/Vienna",
        "saleStartsAt": (now - timedelta(hours=1)).isoformat(),
        "saleEndsAt": (now + timedelta(days=19)).isoformat(),
        "currency": "EUR",
        "prices": [
            {"category": name, "amount": 1500 + 100 * index}
            for index, name in enumerate(categories)
        ],
        "holdDurationSeconds": 300,
        "maxSeatsPerOrder": 4,
        "maxSeatsPerBuyer": 8,
    }
    values.update(overrides)
    return values


async def create_event(
    api: ApiClient, fixture: EventFixture, token: str, **overrides: Any
) -> dict[str, Any]:
    now = fixture.event.created_at
    body = await api.execute(
        CREATE_EVENT, {"input": event_input(fixture, now, **overrides)}, token=token
    )
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["createEvent"]
    return result


async def change_status(
    api: ApiClient, action: str, event_id: str, token: str
) -> dict[str, Any]:
    body = await api.execute(TRANSITIONS[action], {"id": event_id}, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][RESULT_FIELDS[action]]
    return result


async def block(
    api: ApiClient, fixture: EventFixture, seats: list[str], *, unblock: bool = False
) -> dict[str, Any]:
    body = await api.execute(
        UNBLOCK if unblock else BLOCK,
        {"input": {"eventId": fixture.id, "seatIds": seats}},
        token=organizer_token(api, fixture),
    )
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["unblockSeats" if unblock else "blockSeats"]
    return result


async def hold(
    api: ApiClient, fixture: EventFixture, seats: list[str], token: str | None = None
) -> dict[str, Any]:
    body = await api.execute(
        HOLD_SEATS,
        {"input": {"eventId": fixture.id, "seatIds": seats, "idempotencyKey": key()}},
        token=token or buyer_token(api),
    )
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["holdSeats"]
    return result


async def seat_status(api: ApiClient, fixture: EventFixture, seat_id: str) -> str:
    body = await api.execute(SEAT_STATUS, {"id": fixture.id, "seatId": seat_id})
    status: str = body["data"]["event"]["seat"]["status"]
    return status


async def event_version(api: ApiClient, fixture: EventFixture) -> int:
    """Read the seat version as the organizer, since others cannot see drafts."""
    body = await api.execute(
        SEAT_STATUS,
        {"id": fixture.id, "seatId": "stalls-A-1"},
        token=organizer_token(api, fixture),
    )
    version: int = body["data"]["event"]["version"]
    return version


# importVenue


async def test_import_venue_generated_theatre(api: ApiClient) -> None:
    organizer = api.token("organizer-import", "organizer")

    body = await api.execute(
        IMPORT_VENUE,
        {"input": {"plan": theatre(rows=4, seats_per_row=10)}},
        token=organizer,
    )

    assert "errors" not in body, body
    venue = body["data"]["importVenue"]
    assert venue["__typename"] == "Venue"
    assert venue["name"] == "Generated Theatre"
    assert venue["seatCount"] == SMALL_PLAN_SEATS
    assert len(venue["layoutVersion"]) == 16
    layout = await api.client.get(f"/venues/{venue['id']}/layout")
    assert layout.status_code == 200
    assert layout.headers["etag"] == f'"{venue["layoutVersion"]}"'


async def test_import_venue_name_override(api: ApiClient) -> None:
    organizer = api.token("organizer-import", "organizer")
    plan = theatre(rows=4, seats_per_row=10)

    named = await api.execute(
        IMPORT_VENUE, {"input": {"plan": plan, "name": "Kleiner Saal"}}, token=organizer
    )
    too_long = await api.execute(
        IMPORT_VENUE, {"input": {"plan": plan, "name": "x" * 201}}, token=organizer
    )

    assert named["data"]["importVenue"]["name"] == "Kleiner Saal"
    assert too_long["data"]["importVenue"]["__typename"] == "InvalidInputError"
    assert too_long["data"]["importVenue"]["field"] == "name"


async def test_import_venue_invalid_plan(api: ApiClient) -> None:
    organizer = api.token("organizer-import", "organizer")
    plan = theatre(rows=2, seats_per_row=4)
    stalls = plan["zones"][1]
    stalls["rows"][0]["seats"][0]["category"] = "Balcony"
    del stalls["rows"][1]["seats"][0]["seat_guid"]

    body = await api.execute(IMPORT_VENUE, {"input": {"plan": plan}}, token=organizer)

    assert "errors" not in body, body
    result = body["data"]["importVenue"]
    assert result["__typename"] == "PlanInvalidError"
    assert result["code"] == "INVALID_INPUT"
    assert result["field"] == "plan"
    paths = [problem["path"] for problem in result["problems"]]
    # References are checked only once the schema checks pass, so the unknown
    # category is not reported yet.
    assert paths == ["$.zones[1].rows[1].seats[0].seat_guid"]
    assert result["problems"][0]["message"] == "missing required field"
    assert paths[0] in result["message"]

    del stalls["rows"][1]["seats"][0]
    second = await api.execute(IMPORT_VENUE, {"input": {"plan": plan}}, token=organizer)
    problems = second["data"]["importVenue"]["problems"]
    assert [problem["path"] for problem in problems] == [
        "$.zones[1].rows[0].seats[0].category"
    ]
    assert "'Balcony'" in problems[0]["message"]


@pytest.mark.parametrize("plan", [[1, 2], "plan", {}])
async def test_import_venue_plan_not_a_plan(api: ApiClient, plan: Any) -> None:
    organizer = api.token("organizer-import", "organizer")

    body = await api.execute(IMPORT_VENUE, {"input": {"plan": plan}}, token=organizer)

    result = body["data"]["importVenue"]
    assert result["__typename"] == "PlanInvalidError"
    assert result["problems"]
    assert all(problem["path"].startswith("$") for problem in result["problems"])


async def test_import_venue_without_token(api: ApiClient) -> None:
    body = await api.execute(
        IMPORT_VENUE, {"input": {"plan": theatre(rows=2, seats_per_row=4)}}
    )

    assert body["data"] is None
    assert error_extensions(body) == {"code": "UNAUTHENTICATED"}


async def test_import_venue_buyer_forbidden(api: ApiClient) -> None:
    body = await api.execute(
        IMPORT_VENUE,
        {"input": {"plan": theatre(rows=2, seats_per_row=4)}},
        token=buyer_token(api),
    )

    assert body["data"] is None
    assert error_extensions(body) == {"code": "FORBIDDEN"}


async def test_import_venue_invalid_token_401(api: ApiClient) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": IMPORT_VENUE, "variables": {"input": {"plan": {}}}},
        headers={"Authorization": "Bearer not-a-jwt"},
    )

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


# createEvent


async def test_create_event_draft(api: ApiClient, on_sale: EventFixture) -> None:
    token = organizer_token(api, on_sale)

    event = await create_event(api, on_sale, token, noSingleSeatGaps=True)

    assert event["__typename"] == "Event", event
    assert event["status"] == "DRAFT"
    assert event["version"] == 0
    assert event["venueId"] == str(on_sale.venue.id)
    assert event["currency"] == "EUR"
    assert event["holdDurationSeconds"] == 300
    assert event["maxSeatsPerOrder"] == 4
    assert event["maxSeatsPerBuyer"] == 8
    assert event["noSingleSeatGaps"] is True
    prices = {price["category"]: price["amount"] for price in event["prices"]}
    assert prices == {"Stalls centre": 1500, "Stalls sides": 1600, "Circle": 1700}
    # Drafts are invisible to the public until published.
    public = await api.execute(EVENTS_ON_VENUE, {"venueId": str(on_sale.venue.id)})
    public_ids = [edge["node"]["id"] for edge in public["data"]["events"]["edges"]]
    assert event["id"] not in public_ids


async def test_create_event_other_organizers_venue(
    api: ApiClient, on_sale: EventFixture
) -> None:
    stranger = api.token("organizer-stranger", "organizer")

    result = await create_event(api, on_sale, stranger)

    assert result["__typename"] == "NotFoundError"
    assert result["code"] == "NOT_FOUND"
    assert result["field"] == "venueId"


async def test_create_event_unknown_venue(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = organizer_token(api, on_sale)

    unknown = await create_event(api, on_sale, token, venueId=str(uuid.uuid4()))
    malformed = await create_event(api, on_sale, token, venueId="venue-1")

    assert unknown["__typename"] == "NotFoundError"
    assert unknown["field"] == "venueId"
    assert malformed["__typename"] == "InvalidInputError"
    assert malformed["field"] == "venueId"


def _without_circle(prices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [price for price in prices if price["category"] != "Circle"]


INVALID_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("empty name", {"name": "  "}, "name"),
    ("long name", {"name": "x" * 201}, "name"),
    ("unknown time zone", {"timeZone": "Mars/Olympus_Mons"}, "timeZone"),
    ("empty time zone", {"timeZone": ""}, "timeZone"),
    ("lowercase currency", {"currency": "eur"}, "currency"),
    ("long currency", {"currency": "EURO"}, "currency"),
    ("hold too short", {"holdDurationSeconds": 59}, "holdDurationSeconds"),
    ("hold too long", {"holdDurationSeconds": 3601}, "holdDurationSeconds"),
    ("no seats per order", {"maxSeatsPerOrder": 0}, "maxSeatsPerOrder"),
    ("buyer below order", {"maxSeatsPerBuyer": 3}, "maxSeatsPerBuyer"),
    ("naive start", {"startsAt": "2030-05-01T19:30:00"}, "startsAt"),
    ("naive sale start", {"saleStartsAt": "2030-05-01T19:30:00"}, "saleStartsAt"),
    ("naive sale end", {"saleEndsAt": "2030-05-01T19:30:00"}, "saleEndsAt"),
]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [(overrides, field) for _, overrides, field in INVALID_EVENTS],
    ids=[case for case, _, _ in INVALID_EVENTS],
)
async def test_create_event_invalid_input(
    api: ApiClient, on_sale: EventFixture, overrides: dict[str, Any], field: str
) -> None:
    token = organizer_token(api, on_sale)

    result = await create_event(api, on_sale, token, **overrides)

    assert result["__typename"] == "InvalidInputError", result
    assert result["code"] == "INVALID_INPUT"
    assert result["field"] == field
    assert result["message"]


async def test_create_event_invalid_sale_window(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = organizer_token(api, on_sale)
    now = on_sale.event.created_at
    starts = now + timedelta(days=20)

    ends_before_start = await create_event(
        api,
        on_sale,
        token,
        saleStartsAt=(now + timedelta(days=2)).isoformat(),
        saleEndsAt=(now + timedelta(days=1)).isoformat(),
    )
    ends_at_start = await create_event(
        api,
        on_sale,
        token,
        saleStartsAt=(now + timedelta(days=1)).isoformat(),
        saleEndsAt=(now + timedelta(days=1)).isoformat(),
    )
    ends_long_after_event = await create_event(
        api,
        on_sale,
        token,
        startsAt=starts.isoformat(),
        saleEndsAt=(starts + timedelta(days=2)).isoformat(),
    )

    for result in (ends_before_start, ends_at_start, ends_long_after_event):
        assert result["__typename"] == "InvalidInputError", result
        assert result["field"] == "saleEndsAt"


@pytest.mark.parametrize("seconds", [60, 3600])
async def test_create_event_hold_duration_bounds(
    api: ApiClient, on_sale: EventFixture, seconds: int
) -> None:
    token = organizer_token(api, on_sale)

    result = await create_event(api, on_sale, token, holdDurationSeconds=seconds)

    assert result["__typename"] == "Event", result
    assert result["holdDurationSeconds"] == seconds


async def test_create_event_invalid_prices(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = organizer_token(api, on_sale)
    valid = event_input(on_sale, on_sale.event.created_at)["prices"]

    missing = await create_event(api, on_sale, token, prices=_without_circle(valid))
    unknown = await create_event(
        api, on_sale, token, prices=[*valid, {"category": "Balcony", "amount": 100}]
    )
    duplicate = await create_event(api, on_sale, token, prices=[*valid, valid[0]])
    negative = await create_event(
        api,
        on_sale,
        token,
        prices=[*_without_circle(valid), {"category": "Circle", "amount": -1}],
    )
    none = await create_event(api, on_sale, token, prices=[])

    for result in (missing, unknown, duplicate, negative, none):
        assert result["__typename"] == "InvalidInputError", result
        assert result["field"] == "prices"
    assert "Circle" in missing["message"]
    assert "Balcony" in unknown["message"]


async def test_create_event_failure_writes_nothing(
    api: ApiClient, services: Services
) -> None:
    fixture = await make_event(services, status=EventStatus.DRAFT)
    token = organizer_token(api, fixture)

    await create_event(api, fixture, token, currency="eur")
    await create_event(api, fixture, token, prices=[])
    listed = await api.execute(
        EVENTS_ON_VENUE, {"venueId": str(fixture.venue.id)}, token=token
    )

    ids = [edge["node"]["id"] for edge in listed["data"]["events"]["edges"]]
    assert ids == [fixture.id]


async def test_create_event_buyer_forbidden(
    api: ApiClient, on_sale: EventFixture
) -> None:
    now = on_sale.event.created_at
    body = await api.execute(
        CREATE_EVENT, {"input": event_input(on_sale, now)}, token=buyer_token(api)
    )

    assert body["data"] is None
    assert error_extensions(body) == {"code": "FORBIDDEN"}


# publishEvent, closeSales, cancelEvent


async def test_event_status_lifecycle(api: ApiClient, services: Services) -> None:
    fixture = await make_event(services, status=EventStatus.DRAFT)
    token = organizer_token(api, fixture)

    steps = ["publish", "close", "publish", "close", "cancel"]
    statuses = [
        (await change_status(api, action, fixture.id, token))["status"]
        for action in steps
    ]

    assert statuses == [
        "ON_SALE",
        "SALES_CLOSED",
        "ON_SALE",
        "SALES_CLOSED",
        "CANCELLED",
    ]


async def test_event_status_repeated_is_noop(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = organizer_token(api, on_sale)

    again = await change_status(api, "publish", on_sale.id, token)

    assert again["__typename"] == "Event"
    assert again["status"] == "ON_SALE"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (EventStatus.DRAFT, "close"),
        (EventStatus.CANCELLED, "publish"),
        (EventStatus.CANCELLED, "close"),
    ],
)
async def test_event_status_invalid_transition(
    api: ApiClient, services: Services, status: EventStatus, action: str
) -> None:
    fixture = await make_event(services, status=status)
    token = organizer_token(api, fixture)

    result = await change_status(api, action, fixture.id, token)
    current = await api.execute(
        "query($id: ID!) { event(id: $id) { status } }", {"id": fixture.id}, token=token
    )

    assert result["__typename"] == "InvalidStateError", result
    assert result["code"] == "INVALID_STATE"
    assert result["field"] == "eventId"
    assert current["data"]["event"]["status"] == status.name


@pytest.mark.parametrize("action", ["publish", "close", "cancel"])
async def test_event_status_other_organizer(
    api: ApiClient, on_sale: EventFixture, action: str
) -> None:
    stranger = api.token("organizer-stranger", "organizer")

    result = await change_status(api, action, on_sale.id, stranger)
    current = await api.execute(
        "query($id: ID!) { event(id: $id) { status } }", {"id": on_sale.id}
    )

    assert result["__typename"] == "NotFoundError", result
    assert result["code"] == "NOT_FOUND"
    assert result["field"] == "eventId"
    assert current["data"]["event"]["status"] == "ON_SALE"


async def test_event_status_unknown_or_malformed_id(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = organizer_token(api, on_sale)

    unknown = await change_status(api, "publish", str(uuid.uuid4()), token)
    malformed = await change_status(api, "cancel", "event-1", token)

    assert unknown["__typename"] == "NotFoundError"
    assert malformed["__typename"] == "InvalidInputError"
    assert malformed["field"] == "eventId"


async def test_event_status_buyer_forbidden(
    api: ApiClient, on_sale: EventFixture
) -> None:
    body = await api.execute(CANCEL, {"id": on_sale.id}, token=buyer_token(api))

    assert body["data"] is None
    assert error_extensions(body) == {"code": "FORBIDDEN"}


# blockSeats and unblockSeats


async def test_block_seats_bumps_version_once(
    api: ApiClient, on_sale: EventFixture
) -> None:
    chosen = seat_ids(on_sale)[:3]

    blocked = await block(api, on_sale, chosen)
    statuses = [await seat_status(api, on_sale, seat) for seat in chosen]
    unblocked = await block(api, on_sale, chosen, unblock=True)

    assert blocked["__typename"] == "Event", blocked
    assert blocked["version"] == 1
    assert statuses == ["BLOCKED"] * 3
    assert unblocked["__typename"] == "Event", unblocked
    assert unblocked["version"] == 2
    assert [await seat_status(api, on_sale, seat) for seat in chosen] == [
        "AVAILABLE"
    ] * 3


async def test_block_held_seat_unavailable(
    api: ApiClient, on_sale: EventFixture
) -> None:
    held_seat, free_seat = seat_ids(on_sale)[:2]
    assert (await hold(api, on_sale, [held_seat]))["__typename"] == "Hold"

    result = await block(api, on_sale, [free_seat, held_seat])

    assert result["__typename"] == "SeatsUnavailableError", result
    assert result["code"] == "SEATS_UNAVAILABLE"
    assert result["seatIds"] == [held_seat]
    assert held_seat in result["message"]
    # All or none: the free seat of the request stays on sale.
    assert await seat_status(api, on_sale, free_seat) == "AVAILABLE"
    assert await seat_status(api, on_sale, held_seat) == "HELD"
    assert await event_version(api, on_sale) == 1


async def test_block_expired_hold_seat(
    api: ApiClient, clock: ManualClock, on_sale: EventFixture
) -> None:
    seat = seat_ids(on_sale)[0]
    await hold(api, on_sale, [seat])
    clock.advance(on_sale.event.hold_duration_seconds)

    result = await block(api, on_sale, [seat])

    assert result["__typename"] == "Event", result
    assert await seat_status(api, on_sale, seat) == "BLOCKED"


async def test_block_blocked_seat_unavailable(
    api: ApiClient, on_sale: EventFixture
) -> None:
    seat = seat_ids(on_sale)[0]
    await block(api, on_sale, [seat])

    again = await block(api, on_sale, [seat])

    assert again["__typename"] == "SeatsUnavailableError", again
    assert again["seatIds"] == [seat]


async def test_unblock_not_blocked_invalid_state(
    api: ApiClient, on_sale: EventFixture
) -> None:
    blocked, free = seat_ids(on_sale)[:2]
    await block(api, on_sale, [blocked])

    result = await block(api, on_sale, [blocked, free], unblock=True)

    assert result["__typename"] == "InvalidStateError", result
    assert result["code"] == "INVALID_STATE"
    assert result["field"] == "seatIds"
    assert free in result["message"]
    assert blocked not in result["message"]
    assert await seat_status(api, on_sale, blocked) == "BLOCKED"
    assert await event_version(api, on_sale) == 1


async def test_blocked_seat_cannot_be_held(
    api: ApiClient, on_sale: EventFixture
) -> None:
    blocked, free = seat_ids(on_sale)[:2]
    await block(api, on_sale, [blocked])

    result = await hold(api, on_sale, [free, blocked])

    assert result["__typename"] == "SeatsUnavailableError", result
    assert result["code"] == "SEATS_UNAVAILABLE"
    assert result["seatIds"] == [blocked]
    assert await seat_status(api, on_sale, free) == "AVAILABLE"


async def test_unblocked_seat_can_be_held(
    api: ApiClient, on_sale: EventFixture
) -> None:
    seat = seat_ids(on_sale)[0]
    await block(api, on_sale, [seat])
    await block(api, on_sale, [seat], unblock=True)

    result = await hold(api, on_sale, [seat])

    assert result["__typename"] == "Hold", result
    assert result["seatIds"] == [seat]


@pytest.mark.parametrize(
    "seats", [["stalls-Z-99"], [], ["stalls-A-1", "stalls-A-1"]], ids=str
)
async def test_block_seats_invalid_ids(
    api: ApiClient, on_sale: EventFixture, seats: list[str]
) -> None:
    result = await block(api, on_sale, seats)

    assert result["__typename"] == "InvalidInputError", result
    assert result["field"] == "seatIds"
    assert await event_version(api, on_sale) == 0


async def test_block_seats_other_organizer(
    api: ApiClient, on_sale: EventFixture
) -> None:
    stranger = api.token("organizer-stranger", "organizer")

    body = await api.execute(
        BLOCK,
        {"input": {"eventId": on_sale.id, "seatIds": seat_ids(on_sale)[:1]}},
        token=stranger,
    )

    result = body["data"]["blockSeats"]
    assert result["__typename"] == "NotFoundError", result
    assert result["field"] == "eventId"
    assert await event_version(api, on_sale) == 0


async def test_block_seats_buyer_forbidden(
    api: ApiClient, on_sale: EventFixture
) -> None:
    body = await api.execute(
        BLOCK,
        {"input": {"eventId": on_sale.id, "seatIds": seat_ids(on_sale)[:1]}},
        token=buyer_token(api),
    )

    assert body["data"] is None
    assert error_extensions(body) == {"code": "FORBIDDEN"}


# Sale rules for buyers


@pytest.mark.parametrize(
    "status", [EventStatus.DRAFT, EventStatus.SALES_CLOSED, EventStatus.CANCELLED]
)
async def test_hold_event_not_on_sale(
    api: ApiClient, services: Services, status: EventStatus
) -> None:
    fixture = await make_event(services, status=status)

    result = await hold(api, fixture, seat_ids(fixture)[:1])

    assert result["__typename"] == "SaleNotOpenError", result
    assert result["code"] == "SALE_NOT_OPEN"
    assert result["field"] == "eventId"
    assert await event_version(api, fixture) == 0


async def test_hold_after_closing_and_reopening(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = organizer_token(api, on_sale)
    seats = seat_ids(on_sale)

    await change_status(api, "close", on_sale.id, token)
    closed = await hold(api, on_sale, seats[:1])
    await change_status(api, "publish", on_sale.id, token)
    reopened = await hold(api, on_sale, seats[:1])

    assert closed["__typename"] == "SaleNotOpenError", closed
    assert reopened["__typename"] == "Hold", reopened


async def test_hold_before_sale_window(
    api: ApiClient, services: Services, clock: ManualClock
) -> None:
    now = clock.now()
    fixture = await make_event(
        services,
        sale_starts_at=now + timedelta(hours=1),
        sale_ends_at=now + timedelta(days=2),
    )
    seats = seat_ids(fixture)

    early = await hold(api, fixture, seats[:1])
    clock.advance(3600 - 1)
    still_early = await hold(api, fixture, seats[:1])
    clock.advance(1)
    at_opening = await hold(api, fixture, seats[:1])

    assert early["__typename"] == "SaleNotOpenError", early
    assert early["field"] == "eventId"
    assert still_early["__typename"] == "SaleNotOpenError", still_early
    assert at_opening["__typename"] == "Hold", at_opening


async def test_hold_after_sale_window(
    api: ApiClient, services: Services, clock: ManualClock
) -> None:
    now = clock.now()
    fixture = await make_event(
        services,
        sale_starts_at=now - timedelta(hours=1),
        sale_ends_at=now + timedelta(hours=1),
    )
    seats = seat_ids(fixture)

    clock.advance(3600 - 1)
    last_second = await hold(api, fixture, seats[:1])
    clock.advance(1)
    at_closing = await hold(api, fixture, seats[1:2])

    assert last_second["__typename"] == "Hold", last_second
    assert at_closing["__typename"] == "SaleNotOpenError", at_closing
    assert at_closing["code"] == "SALE_NOT_OPEN"
    assert at_closing["field"] == "eventId"
