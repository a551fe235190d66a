"""The read side over GraphQL: event listings, one event, seat maps and seats."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from seatline.booking.availability import unpack_statuses
from seatline.booking.clock import ManualClock
from seatline.booking.events import (
    EventDraft,
    block_seats,
    change_event_status,
    create_event,
    unblock_seats,
)
from seatline.booking.holds import HoldRequest, hold_seats, release_hold
from seatline.booking.orders import PaymentRequest, checkout, pay_order
from seatline.booking.services import Services
from seatline.booking.venue_import import import_plan
from seatline.models import Event, EventStatus, SeatStatus
from seatline.venues.generate import stadium
from tests.conftest import ApiClient, EventFixture, make_event, seat_ids

EVENTS = """
query Events($filter: EventFilterInput, $first: Int! = 20, $after: String) {
  events(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id name status startsAt venueId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

EVENT = """
query Event($id: ID!) {
  event(id: $id) {
    id name status timeZone currency version venueId
    prices { category amount }
    venue { id seatCount layoutVersion }
  }
}
"""

SEAT_MAP = """
query SeatMap($id: ID!, $layoutVersion: String) {
  event(id: $id) {
    version
    seatMap(layoutVersion: $layoutVersion) {
      eventId layoutVersion layout version seatCount availability
      countsByCategory { key name available held sold blocked }
      countsBySection { key name available held sold blocked }
    }
  }
}
"""

SEAT = """
query Seat($id: ID!, $seatId: String!) {
  event(id: $id) {
    seat(id: $seatId) {
      id ordinal section row number category status x y price
    }
  }
}
"""

SEATS = """
query Seats($id: ID!, $filter: SeatFilterInput, $first: Int! = 100, $after: String) {
  event(id: $id) {
    seats(filter: $filter, first: $first, after: $after) {
      edges { cursor node { id ordinal section row category status price } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

# make_event's 6 x 12 theatre: 6 stalls rows of 3 side, 6 centre and 3 side
# seats, then 2 circle rows of 16 seats.
SEAT_COUNT = 104
CATEGORY_SIZES = {"Stalls centre": 36, "Stalls sides": 36, "Circle": 32}
SECTION_SIZES = {"stalls": 72, "circle": 32}
# make_event prices the categories in layout order at 1000, 2000 and 3000.
CATEGORY_PRICES = {"Stalls centre": 1000, "Stalls sides": 2000, "Circle": 3000}


def key() -> str:
    return str(uuid.uuid4())


def tag() -> str:
    """Return a word unique to one test, to put in event names and filter by."""
    return f"t{secrets.token_hex(5)}"


def iso(value: datetime) -> str:
    return value.isoformat()


def error_extensions(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    assert len(body["errors"]) == 1, body
    extensions: dict[str, Any] = body["errors"][0].get("extensions") or {}
    return extensions


def encode_cursor(values: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    padded = cursor + "=" * (-len(cursor) % 4)
    values: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(padded))
    return values


async def add_event(
    services: Services,
    fixture: EventFixture,
    name: str,
    starts_at: datetime,
    status: EventStatus = EventStatus.ON_SALE,
) -> Event:
    """Create another event on the fixture's venue, by the same organizer."""
    now = services.clock.now()
    categories = [name for name, _ in fixture.venue.layout["categories"]]
    draft = EventDraft(
        venue_id=fixture.venue.id,
        name=name,
        starts_at=starts_at,
        time_zone="Europe/Vienna",
        sale_starts_at=now - timedelta(hours=1),
        sale_ends_at=now + timedelta(days=9),
        currency="EUR",
        prices=dict.fromkeys(categories, 1000),
    )
    event = await create_event(services, draft, organizer_id=fixture.organizer_id)
    steps = {
        EventStatus.DRAFT: [],
        EventStatus.ON_SALE: [EventStatus.ON_SALE],
        EventStatus.SALES_CLOSED: [EventStatus.ON_SALE, EventStatus.SALES_CLOSED],
        EventStatus.CANCELLED: [EventStatus.CANCELLED],
    }[status]
    for step in steps:
        event = await change_event_status(
            services, event.id, step, organizer_id=fixture.organizer_id
        )
    return event


async def list_names(
    api: ApiClient, event_filter: dict[str, Any], token: str | None = None
) -> list[str]:
    body = await api.execute(EVENTS, {"filter": event_filter}, token=token)
    assert "errors" not in body, body
    return [edge["node"]["name"] for edge in body["data"]["events"]["edges"]]


async def hold(services: Services, fixture: EventFixture, seats: list[str]) -> Any:
    request = HoldRequest(
        event_id=fixture.event.id, idempotency_key=key(), seat_ids=seats
    )
    return await hold_seats(services, "buyer-1", request)


async def seat_map(api: ApiClient, fixture: EventFixture, **variables: Any) -> Any:
    body = await api.execute(SEAT_MAP, {"id": fixture.id, **variables})
    assert "errors" not in body, body
    return body["data"]["event"]["seatMap"]


def statuses(map_: dict[str, Any]) -> list[SeatStatus]:
    return unpack_statuses(map_["availability"], map_["seatCount"])


def count_total(counts: dict[str, int]) -> int:
    return counts["available"] + counts["held"] + counts["sold"] + counts["blocked"]


# events


async def test_events_pages_by_start_time_then_id(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    word = tag()
    base = services.clock.now() + timedelta(days=20)
    offsets_hours = [3, 0, 1, 1, 2]  # two events share a start time
    created = [
        await add_event(services, on_sale, f"{word} {index}", base + timedelta(hours=h))
        for index, h in enumerate(offsets_hours)
    ]
    expected = [e.name for e in sorted(created, key=lambda e: (e.starts_at, e.id))]

    seen: list[str] = []
    pages: list[bool] = []
    after = None
    for _ in range(3):
        body = await api.execute(
            EVENTS, {"filter": {"text": word}, "first": 2, "after": after}
        )
        assert "errors" not in body, body
        connection = body["data"]["events"]
        edges = connection["edges"]
        seen.extend(edge["node"]["name"] for edge in edges)
        pages.append(connection["pageInfo"]["hasNextPage"])
        assert connection["pageInfo"]["endCursor"] == edges[-1]["cursor"]
        after = connection["pageInfo"]["endCursor"]

    assert seen == expected
    assert pages == [True, True, False]

    past_end = await api.execute(
        EVENTS, {"filter": {"text": word}, "first": 2, "after": after}
    )
    assert past_end["data"]["events"]["edges"] == []
    assert past_end["data"]["events"]["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": None,
    }


async def test_events_last_full_page_has_no_next(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    word = tag()
    base = services.clock.now() + timedelta(days=20)
    for index in range(2):
        await add_event(services, on_sale, f"{word} {index}", base)

    body = await api.execute(EVENTS, {"filter": {"text": word}, "first": 2})

    assert len(body["data"]["events"]["edges"]) == 2
    assert body["data"]["events"]["pageInfo"]["hasNextPage"] is False


async def test_events_filter_start_range(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    word = tag()
    base = services.clock.now() + timedelta(days=20)
    for hours in range(4):
        await add_event(
            services, on_sale, f"{word} +{hours}h", base + timedelta(hours=hours)
        )

    between = await list_names(
        api,
        {
            "text": word,
            "startsAfter": iso(base + timedelta(hours=1)),
            "startsBefore": iso(base + timedelta(hours=3)),
        },
    )
    after_only = await list_names(
        api, {"text": word, "startsAfter": iso(base + timedelta(hours=2))}
    )
    before_only = await list_names(
        api, {"text": word, "startsBefore": iso(base + timedelta(hours=1))}
    )

    # startsAfter is inclusive and startsBefore exclusive.
    assert between == [f"{word} +1h", f"{word} +2h"]
    assert after_only == [f"{word} +2h", f"{word} +3h"]
    assert before_only == [f"{word} +0h"]


async def test_events_filter_start_range_other_offset(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    word = tag()
    starts = services.clock.now().replace(microsecond=0) + timedelta(days=20)
    await add_event(services, on_sale, f"{word} match", starts)
    # The same instant written at UTC+05:00 must compare as that instant.
    shifted = starts.astimezone(timezone(timedelta(hours=5)))

    found = await list_names(api, {"text": word, "startsAfter": iso(shifted)})
    missed = await list_names(
        api, {"text": word, "startsAfter": iso(shifted + timedelta(seconds=1))}
    )

    assert found == [f"{word} match"]
    assert missed == []


async def test_events_filter_text_case_insensitive(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    word = tag()
    starts = services.clock.now() + timedelta(days=20)
    await add_event(services, on_sale, f"{word} Jazz Night", starts)
    await add_event(services, on_sale, f"{word} Rock Show", starts)

    assert await list_names(api, {"text": f"{word.upper()} jAZZ"}) == [
        f"{word} Jazz Night"
    ]
    assert await list_names(api, {"text": f"{word} ROCK s"}) == [f"{word} Rock Show"]


@pytest.mark.parametrize(
    ("names", "text", "expected"),
    [
        (["100% live", "1000 live"], "100%", ["100% live"]),
        (["a_b", "axb"], "a_b", ["a_b"]),
        (["c\\d", "cxd"], "c\\d", ["c\\d"]),
        (["50%_off", "50 off"], "50%_", ["50%_off"]),
    ],
)
async def test_events_filter_text_wildcards_literal(
    api: ApiClient,
    services: Services,
    on_sale: EventFixture,
    names: list[str],
    text: str,
    expected: list[str],
) -> None:
    word = tag()
    starts = services.clock.now() + timedelta(days=20)
    for name in names:
        await add_event(services, on_sale, f"{word} {name}", starts)

    found = await list_names(api, {"text": f"{word} {text}"})

    assert found == [f"{word} {name}" for name in expected]


async def test_events_filter_venue_id(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    other = await make_event(services, name="other venue event")
    word = tag()
    starts = services.clock.now() + timedelta(days=20)
    await add_event(services, on_sale, f"{word} here", starts)
    await add_event(services, other, f"{word} there", starts)

    on_venue = await list_names(api, {"text": word, "venueId": str(on_sale.venue.id)})
    on_other_venue = await list_names(
        api, {"text": word, "venueId": str(other.venue.id)}
    )
    nowhere = await list_names(api, {"text": word, "venueId": str(uuid.uuid4())})

    assert on_venue == [f"{word} here"]
    assert on_other_venue == [f"{word} there"]
    assert nowhere == []


async def test_events_filter_status(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    word = tag()
    starts = services.clock.now() + timedelta(days=20)
    for status in (
        EventStatus.ON_SALE,
        EventStatus.SALES_CLOSED,
        EventStatus.CANCELLED,
    ):
        await add_event(services, on_sale, f"{word} {status.value}", starts, status)

    for status in (
        EventStatus.ON_SALE,
        EventStatus.SALES_CLOSED,
        EventStatus.CANCELLED,
    ):
        found = await list_names(api, {"text": word, "status": status.name})
        assert found == [f"{word} {status.value}"], status


async def test_events_drafts_only_for_their_organizer(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    word = tag()
    starts = services.clock.now() + timedelta(days=20)
    draft = await add_event(
        services, on_sale, f"{word} draft", starts, EventStatus.DRAFT
    )
    await add_event(services, on_sale, f"{word} public", starts + timedelta(hours=1))
    owner = api.token(on_sale.organizer_id, "organizer")
    stranger = api.token("organizer-other", "organizer")

    public = await list_names(api, {"text": word})
    by_stranger = await list_names(api, {"text": word}, token=stranger)
    by_owner = await list_names(api, {"text": word}, token=owner)
    drafts_public = await list_names(api, {"text": word, "status": "DRAFT"})
    drafts_owner = await list_names(api, {"text": word, "status": "DRAFT"}, token=owner)

    assert public == [f"{word} public"]
    assert by_stranger == [f"{word} public"]
    assert by_owner == [f"{word} draft", f"{word} public"]
    assert drafts_public == []
    assert drafts_owner == [f"{word} draft"]

    for token, visible in ((None, False), (stranger, False), (owner, True)):
        body = await api.execute(EVENT, {"id": str(draft.id)}, token=token)
        assert "errors" not in body, body
        assert (body["data"]["event"] is not None) is visible, token


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_events_first_out_of_range(api: ApiClient, first: int) -> None:
    body = await api.execute(EVENTS, {"first": first})

    assert body["data"] is None
    assert error_extensions(body) == {"code": "INVALID_INPUT", "field": "first"}
    assert str(first) in body["errors"][0]["message"]


async def test_events_first_at_bounds_accepted(api: ApiClient) -> None:
    for first in (1, 100):
        body = await api.execute(EVENTS, {"first": first})
        assert "errors" not in body, (first, body)
        assert len(body["data"]["events"]["edges"]) <= first


async def test_events_cursor_tampered(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    word = tag()
    starts = services.clock.now() + timedelta(days=20)
    for index in range(2):
        await add_event(services, on_sale, f"{word} {index}", starts)
    first_page = await api.execute(EVENTS, {"filter": {"text": word}, "first": 1})
    valid = decode_cursor(first_page["data"]["events"]["pageInfo"]["endCursor"])

    tampered = [
        {**valid, "i": "not-a-uuid"},
        {**valid, "s": "yesterday"},
        {**valid, "s": 12},
        {**valid, "i": 12},
        {"s": valid["s"]},
        {**valid, "extra": 1},
        {"o": 3},
        [valid["s"], valid["i"]],
        # A start time without a UTC offset.
        {**valid, "s": starts.replace(tzinfo=None).isoformat()},
    ]
    for values in tampered:
        body = await api.execute(
            EVENTS,
            {"filter": {"text": word}, "first": 1, "after": encode_cursor(values)},
        )
        assert error_extensions(body) == {"code": "INVALID_INPUT", "field": "after"}, (
            values,
            body,
        )


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "%%%",
        "",
        "bm90IGpzb24",  # base64 of "not json"
        "x" * 201,
        "é",
    ],
)
async def test_events_cursor_garbage(api: ApiClient, cursor: str) -> None:
    body = await api.execute(EVENTS, {"after": cursor})

    assert body["data"] is None
    assert error_extensions(body) == {"code": "INVALID_INPUT", "field": "after"}


@pytest.mark.parametrize("field", ["startsAfter", "startsBefore"])
async def test_events_naive_datetime_filter(api: ApiClient, field: str) -> None:
    body = await api.execute(EVENTS, {"filter": {field: "2027-05-01T19:30:00"}})

    assert body["data"] is None
    assert error_extensions(body) == {
        "code": "INVALID_INPUT",
        "field": f"filter.{field}",
    }


async def test_events_malformed_venue_filter(api: ApiClient) -> None:
    body = await api.execute(EVENTS, {"filter": {"venueId": "venue-1"}})

    assert error_extensions(body) == {
        "code": "INVALID_INPUT",
        "field": "filter.venueId",
    }


# event(id)


async def test_event_found_by_id(api: ApiClient, on_sale: EventFixture) -> None:
    body = await api.execute(EVENT, {"id": on_sale.id})

    assert "errors" not in body, body
    event = body["data"]["event"]
    assert event["id"] == on_sale.id
    assert event["name"] == on_sale.event.name
    assert event["status"] == "ON_SALE"
    assert event["timeZone"] == "Europe/Vienna"
    assert event["currency"] == "EUR"
    assert event["version"] == 0
    assert event["venueId"] == str(on_sale.venue.id)
    prices = {price["category"]: price["amount"] for price in event["prices"]}
    assert prices == CATEGORY_PRICES
    assert event["venue"] == {
        "id": str(on_sale.venue.id),
        "seatCount": SEAT_COUNT,
        "layoutVersion": on_sale.venue.layout_version,
    }


async def test_event_unknown_id_null(api: ApiClient) -> None:
    body = await api.execute(EVENT, {"id": str(uuid.uuid4())})

    assert body == {"data": {"event": None}}


@pytest.mark.parametrize("event_id", ["not-a-uuid", "", "1" * 500])
async def test_event_malformed_id(api: ApiClient, event_id: str) -> None:
    body = await api.execute(EVENT, {"id": event_id})

    assert body["data"] == {"event": None}
    assert error_extensions(body) == {"code": "INVALID_INPUT", "field": "id"}


# seatMap


async def test_seat_map_layout_version_stable(
    api: ApiClient, on_sale: EventFixture
) -> None:
    first = await seat_map(api, on_sale)
    second = await seat_map(api, on_sale)

    assert first["eventId"] == on_sale.id
    assert first["layoutVersion"] == on_sale.venue.layout_version
    assert second["layoutVersion"] == first["layoutVersion"]
    assert first["layout"] == on_sale.venue.layout
    assert first["layout"]["sections"][0]["rows"][0]["seats"][0][0] == "stalls-A-1"


async def test_seat_map_layout_skipped_when_version_matches(
    api: ApiClient, on_sale: EventFixture
) -> None:
    version = on_sale.venue.layout_version

    current = await seat_map(api, on_sale, layoutVersion=version)
    stale = await seat_map(api, on_sale, layoutVersion="0" * 16)

    assert current["layout"] is None
    assert current["layoutVersion"] == version
    assert current["availability"]
    assert stale["layout"] == on_sale.venue.layout


async def test_seat_map_fresh_event_all_available(
    api: ApiClient, on_sale: EventFixture
) -> None:
    map_ = await seat_map(api, on_sale)

    assert map_["seatCount"] == SEAT_COUNT
    assert map_["version"] == 0
    assert statuses(map_) == [SeatStatus.AVAILABLE] * SEAT_COUNT


async def test_seat_map_availability_after_changes(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    await hold(services, on_sale, [seats[0], seats[1]])
    sold_hold = await hold(services, on_sale, [seats[10]])
    order = await checkout(services, "buyer-1", sold_hold.id, key())
    await pay_order(services, "buyer-1", PaymentRequest(order.id, "tok_approve", key()))
    await block_seats(
        services,
        on_sale.event.id,
        [seats[5], seats[103]],
        organizer_id=on_sale.organizer_id,
    )

    decoded = statuses(await seat_map(api, on_sale))

    expected = [SeatStatus.AVAILABLE] * SEAT_COUNT
    expected[0] = expected[1] = SeatStatus.HELD
    expected[10] = SeatStatus.SOLD
    expected[5] = expected[103] = SeatStatus.BLOCKED
    assert decoded == expected


async def test_seat_map_version_one_per_change(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    organizer = on_sale.organizer_id
    versions = [(await seat_map(api, on_sale))["version"]]

    async def record() -> None:
        body = await api.execute(SEAT_MAP, {"id": on_sale.id})
        assert (
            body["data"]["event"]["version"]
            == body["data"]["event"]["seatMap"]["version"]
        )
        versions.append(body["data"]["event"]["seatMap"]["version"])

    first_hold = await hold(services, on_sale, seats[0:3])
    await record()
    await block_seats(services, on_sale.event.id, seats[20:22], organizer_id=organizer)
    await record()
    await unblock_seats(
        services, on_sale.event.id, seats[20:22], organizer_id=organizer
    )
    await record()
    await release_hold(services, "buyer-1", first_hold.id)
    await record()
    second_hold = await hold(services, on_sale, seats[30:32])
    await record()
    order = await checkout(services, "buyer-1", second_hold.id, key())
    await record()  # checkout keeps the seats held: no seat changes
    await pay_order(services, "buyer-1", PaymentRequest(order.id, "tok_approve", key()))
    await record()

    assert versions == [0, 1, 2, 3, 4, 5, 5, 6]


async def test_seat_map_counts_add_up(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    await hold(services, on_sale, ["stalls-A-5", "stalls-A-6", "stalls-A-1"])
    await block_seats(
        services, on_sale.event.id, ["circle-B-1"], organizer_id=on_sale.organizer_id
    )

    map_ = await seat_map(api, on_sale)

    by_category = {c["key"]: c for c in map_["countsByCategory"]}
    by_section = {s["key"]: s for s in map_["countsBySection"]}
    assert {k: count_total(c) for k, c in by_category.items()} == CATEGORY_SIZES
    assert {k: count_total(s) for k, s in by_section.items()} == SECTION_SIZES
    assert sum(CATEGORY_SIZES.values()) == map_["seatCount"] == len(seats)
    assert by_category["Stalls centre"]["held"] == 2
    assert by_category["Stalls sides"]["held"] == 1
    assert by_category["Circle"]["blocked"] == 1
    assert by_category["Circle"]["name"] == "Circle"
    assert by_section["stalls"]["held"] == 3
    assert by_section["stalls"]["name"] == "Stalls"
    assert by_section["circle"]["blocked"] == 1
    assert by_section["circle"]["available"] == 31
    decoded = Counter(statuses(map_))
    assert decoded[SeatStatus.HELD] == 3
    assert decoded[SeatStatus.BLOCKED] == 1


async def test_seat_map_expired_hold_available(
    api: ApiClient, services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    chosen = seat_ids(on_sale)[:2]
    await hold(services, on_sale, chosen)
    clock.advance(on_sale.event.hold_duration_seconds + 1)

    map_ = await seat_map(api, on_sale)

    assert statuses(map_) == [SeatStatus.AVAILABLE] * SEAT_COUNT
    assert sum(c["held"] for c in map_["countsByCategory"]) == 0
    assert sum(s["held"] for s in map_["countsBySection"]) == 0
    assert sum(c["available"] for c in map_["countsByCategory"]) == SEAT_COUNT
    seat = await api.execute(SEAT, {"id": on_sale.id, "seatId": chosen[0]})
    assert seat["data"]["event"]["seat"]["status"] == "AVAILABLE"
    still_held = await api.execute(
        SEATS, {"id": on_sale.id, "filter": {"status": "HELD"}}
    )
    assert still_held["data"]["event"]["seats"]["edges"] == []


async def test_seat_map_hold_at_deadline_expired(
    api: ApiClient, services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    chosen = seat_ids(on_sale)[:1]
    await hold(services, on_sale, chosen)

    clock.advance(on_sale.event.hold_duration_seconds - 1)
    before = statuses(await seat_map(api, on_sale))[0]
    clock.advance(1)
    at_deadline = statuses(await seat_map(api, on_sale))[0]

    assert before is SeatStatus.HELD
    assert at_deadline is SeatStatus.AVAILABLE


# A large venue, so marked slow: importing 50,000 seats took 5 to 17 seconds per
# database in local runs, mostly in validating the plan.
@pytest.mark.slow
async def test_seat_map_stadium_availability_compact(
    api: ApiClient, services: Services
) -> None:
    organizer = f"organizer-{secrets.token_hex(4)}"
    venue = await import_plan(services, stadium(), organizer_id=organizer)
    now = services.clock.now()
    categories = [name for name, _ in venue.layout["categories"]]
    event = await create_event(
        services,
        EventDraft(
            venue_id=venue.id,
            name="Stadium final",
            starts_at=now + timedelta(days=10),
            time_zone="Europe/Vienna",
            sale_starts_at=now - timedelta(hours=1),
            sale_ends_at=now + timedelta(days=9),
            currency="EUR",
            prices=dict.fromkeys(categories, 5000),
        ),
        organizer_id=organizer,
    )
    event = await change_event_status(
        services, event.id, EventStatus.ON_SALE, organizer_id=organizer
    )
    last_row = venue.layout["sections"][-1]["rows"][-1]["seats"]
    blocked = [seat[0] for seat in last_row[-3:]]
    await block_seats(services, event.id, blocked, organizer_id=organizer)

    body = await api.execute(
        "query($id: ID!) { event(id: $id) { seatMap { seatCount version "
        "availability countsByCategory { available blocked } } } }",
        {"id": str(event.id)},
    )

    assert "errors" not in body, body
    map_ = body["data"]["event"]["seatMap"]
    assert map_["seatCount"] == 50_000
    assert map_["version"] == 1
    # Two bits per seat: 12,500 bytes, 16,668 characters of base64.
    assert len(map_["availability"]) < 20_000
    decoded = unpack_statuses(map_["availability"], map_["seatCount"])
    assert decoded[-3:] == [SeatStatus.BLOCKED] * 3
    assert Counter(decoded) == {SeatStatus.AVAILABLE: 49_997, SeatStatus.BLOCKED: 3}
    assert sum(c["available"] for c in map_["countsByCategory"]) == 49_997


# seat(id) and seats


async def test_seat_by_id(api: ApiClient, on_sale: EventFixture) -> None:
    body = await api.execute(SEAT, {"id": on_sale.id, "seatId": "stalls-A-1"})

    assert "errors" not in body, body
    seat = body["data"]["event"]["seat"]
    layout_seat = on_sale.venue.layout["sections"][0]["rows"][0]["seats"][0]
    assert seat == {
        "id": "stalls-A-1",
        "ordinal": 0,
        "section": "stalls",
        "row": "A",
        "number": "1",
        "category": "Stalls sides",
        "status": "AVAILABLE",
        "x": layout_seat[2],
        "y": layout_seat[3],
        "price": 2000,
    }


async def test_seat_status_and_price_by_category(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    await hold(services, on_sale, ["stalls-A-5"])
    await block_seats(
        services, on_sale.event.id, ["circle-A-1"], organizer_id=on_sale.organizer_id
    )

    held_seat = await api.execute(SEAT, {"id": on_sale.id, "seatId": "stalls-A-5"})
    blocked_seat = await api.execute(SEAT, {"id": on_sale.id, "seatId": "circle-A-1"})

    assert held_seat["data"]["event"]["seat"]["status"] == "HELD"
    assert held_seat["data"]["event"]["seat"]["price"] == 1000
    assert blocked_seat["data"]["event"]["seat"]["status"] == "BLOCKED"
    assert blocked_seat["data"]["event"]["seat"]["price"] == 3000


@pytest.mark.parametrize("seat_id", ["stalls-Z-99", "", "x" * 300])
async def test_seat_unknown_id_null(
    api: ApiClient, on_sale: EventFixture, seat_id: str
) -> None:
    body = await api.execute(SEAT, {"id": on_sale.id, "seatId": seat_id})

    assert body == {"data": {"event": {"seat": None}}}


async def test_seats_filter_by_status(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    await hold(services, on_sale, [seats[40], seats[2]])
    await block_seats(
        services, on_sale.event.id, [seats[7]], organizer_id=on_sale.organizer_id
    )

    async def ids(status: str) -> list[str]:
        body = await api.execute(
            SEATS, {"id": on_sale.id, "filter": {"status": status}, "first": 100}
        )
        assert "errors" not in body, body
        return [edge["node"]["id"] for edge in body["data"]["event"]["seats"]["edges"]]

    assert await ids("HELD") == [seats[2], seats[40]]
    assert await ids("BLOCKED") == [seats[7]]
    assert await ids("SOLD") == []
    available = await ids("AVAILABLE")
    assert len(available) == 100
    assert seats[2] not in available
    assert seats[7] not in available


async def test_seats_filter_by_category_section_row(
    api: ApiClient, on_sale: EventFixture
) -> None:
    async def nodes(seat_filter: dict[str, str]) -> list[dict[str, Any]]:
        body = await api.execute(
            SEATS, {"id": on_sale.id, "filter": seat_filter, "first": 100}
        )
        assert "errors" not in body, body
        connection = body["data"]["event"]["seats"]
        assert connection["pageInfo"]["hasNextPage"] is False
        return [edge["node"] for edge in connection["edges"]]

    circle = await nodes({"category": "Circle"})
    circle_b = await nodes({"section": "circle", "row": "B"})
    centre_a = await nodes({"category": "Stalls centre", "row": "A"})
    stalls_a = await nodes({"section": "stalls", "row": "A"})
    nothing = await nodes({"category": "Standing"})

    assert len(circle) == 32
    assert {node["category"] for node in circle} == {"Circle"}
    assert {node["price"] for node in circle} == {3000}
    assert len(circle_b) == 16
    assert {(node["section"], node["row"]) for node in circle_b} == {("circle", "B")}
    assert [node["id"] for node in centre_a] == [f"stalls-A-{n}" for n in range(5, 11)]
    assert {node["price"] for node in centre_a} == {1000}
    assert len(stalls_a) == 12
    assert nothing == []


async def test_seats_pages_in_layout_order(
    api: ApiClient, on_sale: EventFixture
) -> None:
    ordinals: list[int] = []
    ids: list[str] = []
    more: list[bool] = []
    after = None
    for _ in range(3):
        body = await api.execute(SEATS, {"id": on_sale.id, "first": 40, "after": after})
        assert "errors" not in body, body
        connection = body["data"]["event"]["seats"]
        edges = connection["edges"]
        ordinals.extend(edge["node"]["ordinal"] for edge in edges)
        ids.extend(edge["node"]["id"] for edge in edges)
        more.append(connection["pageInfo"]["hasNextPage"])
        assert connection["pageInfo"]["endCursor"] == edges[-1]["cursor"]
        after = connection["pageInfo"]["endCursor"]

    assert ordinals == list(range(SEAT_COUNT))
    assert ids == seat_ids(on_sale)
    assert more == [True, True, False]


async def test_seats_pages_filtered(
    api: ApiClient, services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    chosen = [seats[3], seats[50], seats[90]]
    await hold(services, on_sale, chosen)
    found: list[str] = []
    after = None
    for expected_more in (True, True, False):
        body = await api.execute(
            SEATS,
            {
                "id": on_sale.id,
                "filter": {"status": "HELD"},
                "first": 1,
                "after": after,
            },
        )
        connection = body["data"]["event"]["seats"]
        found.extend(edge["node"]["id"] for edge in connection["edges"])
        assert connection["pageInfo"]["hasNextPage"] is expected_more
        after = connection["pageInfo"]["endCursor"]

    assert found == chosen


@pytest.mark.parametrize("first", [0, -5, 101])
async def test_seats_first_out_of_range(
    api: ApiClient, on_sale: EventFixture, first: int
) -> None:
    body = await api.execute(SEATS, {"id": on_sale.id, "first": first})

    assert body["data"] == {"event": None}
    assert error_extensions(body) == {"code": "INVALID_INPUT", "field": "first"}


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        encode_cursor({"o": -1}),
        encode_cursor({"o": "3"}),
        encode_cursor({"o": True}),
        encode_cursor({"s": "x", "i": "y"}),
    ],
)
async def test_seats_cursor_invalid(
    api: ApiClient, on_sale: EventFixture, cursor: str
) -> None:
    body = await api.execute(SEATS, {"id": on_sale.id, "after": cursor})

    assert body["data"] == {"event": None}
    assert error_extensions(body) == {"code": "INVALID_INPUT", "field": "after"}


# GET /venues/{id}/layout


async def test_venue_layout_etag_and_not_modified(
    api: ApiClient, on_sale: EventFixture
) -> None:
    path = f"/venues/{on_sale.venue.id}/layout"

    response = await api.client.get(path)
    etag = response.headers["etag"]
    cached = await api.client.get(path, headers={"If-None-Match": etag})
    stale = await api.client.get(path, headers={"If-None-Match": '"0000"'})

    assert response.status_code == 200
    assert etag == f'"{on_sale.venue.layout_version}"'
    assert response.headers["content-type"] == "application/json"
    assert response.json() == on_sale.venue.layout
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    assert stale.status_code == 200
    assert stale.json() == on_sale.venue.layout


@pytest.mark.parametrize("venue_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
async def test_venue_layout_unknown_404(api: ApiClient, venue_id: str) -> None:
    response = await api.client.get(f"/venues/{venue_id}/layout")

    assert response.status_code == 404
    assert response.json() == {"error": "venue not found"}
