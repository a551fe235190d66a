"""The waiting room through GraphQL: settings, joining, passes and holdSeats."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import aclosing
from datetime import timedelta
from typing import Any

import pytest

from seatline.auth.tokens import Principal
from seatline.booking.clock import ManualClock
from seatline.booking.events import WaitingRoomRules
from seatline.booking.services import Services
from seatline.schema.context import Context
from seatline.schema.root import build_schema
from tests.conftest import ApiClient, EventFixture, make_event, seat_ids
from tests.test_organizer_api import event_input

BUYER_SCOPES = ("bookings:write",)
ROOM = WaitingRoomRules(enabled=True, admissions_per_minute=60, pass_seconds=120)

CREATE_EVENT = """
mutation Create($input: CreateEventInput!) {
  createEvent(input: $input) {
    __typename
    ... on Event { id waitingRoom { enabled admissionsPerMinute passSeconds } }
    ... on Error { code message field }
  }
}
"""
CONFIGURE = """
mutation Configure($eventId: ID!, $input: WaitingRoomInput!) {
  configureWaitingRoom(eventId: $eventId, input: $input) {
    __typename
    ... on Event { id waitingRoom { enabled admissionsPerMinute passSeconds } }
    ... on Error { code message field }
  }
}
"""
STATUS_FIELDS = """
    eventId state position peopleAhead expectedWaitSeconds admissionPass
    passExpiresAt saleStartsAt
"""
JOIN = f"""
mutation Join($eventId: ID!) {{
  joinWaitingRoom(eventId: $eventId) {{
    __typename
    ... on WaitingRoomStatus {{ {STATUS_FIELDS} }}
    ... on Error {{ code message field }}
  }}
}}
"""
STATUS = f"""
query Status($eventId: ID!) {{
  waitingRoom(eventId: $eventId) {{ {STATUS_FIELDS} }}
}}
"""
LEAVE = """
mutation Leave($eventId: ID!) {
  leaveWaitingRoom(eventId: $eventId) {
    __typename
    ... on WaitingRoomLeft { eventId }
    ... on Error { code message field }
  }
}
"""
UPDATES = f"""
subscription Updates($eventId: ID!) {{
  waitingRoomUpdates(eventId: $eventId) {{ {STATUS_FIELDS} }}
}}
"""
HOLD = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename
    ... on Hold { id seatIds }
    ... on Error { code message field }
  }
}
"""
SEAT_STATUS = """
query Seat($id: ID!) { event(id: $id) { version } }
"""


def buyer_token(api: ApiClient) -> str:
    """A token for a new buyer, so idempotency keys never meet across tests."""
    return api.token(f"buyer-{secrets.token_hex(4)}", *BUYER_SCOPES)


async def join(api: ApiClient, event_id: str, token: str) -> dict[str, Any]:
    body = await api.execute(JOIN, {"eventId": event_id}, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["joinWaitingRoom"]
    return result


async def status(api: ApiClient, event_id: str, token: str) -> dict[str, Any] | None:
    body = await api.execute(STATUS, {"eventId": event_id}, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] | None = body["data"]["waitingRoom"]
    return result


async def hold(
    api: ApiClient,
    fixture: EventFixture,
    token: str,
    admission_pass: str | None,
    key: str,
) -> dict[str, Any]:
    variables = {
        "input": {
            "eventId": fixture.id,
            "seatIds": seat_ids(fixture)[:2],
            "idempotencyKey": key,
            "admissionPass": admission_pass,
        }
    }
    body = await api.execute(HOLD, variables, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["holdSeats"]
    return result


async def version(api: ApiClient, fixture: EventFixture) -> int:
    body = await api.execute(SEAT_STATUS, {"id": fixture.id})
    found: int = body["data"]["event"]["version"]
    return found


async def admitted_pass(
    api: ApiClient, services: Services, fixture: EventFixture, token: str
) -> str:
    """Join the event's room and wait on the manual clock until admitted."""
    await join(api, fixture.id, token)
    assert isinstance(services.clock, ManualClock)
    services.clock.advance(1)
    found = await status(api, fixture.id, token)
    assert found is not None
    assert found["state"] == "ADMITTED", found
    admission_pass: str = found["admissionPass"]
    return admission_pass


async def test_create_event_enables_waiting_room(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = api.token(on_sale.organizer_id, "organizer")
    room = {"enabled": True, "admissionsPerMinute": 250, "passSeconds": 300}
    variables = {
        "input": event_input(on_sale, on_sale.event.created_at, waitingRoom=room)
    }

    body = await api.execute(CREATE_EVENT, variables, token=token)

    assert body["data"]["createEvent"]["waitingRoom"] == room


async def test_configure_waiting_room_rejects_bad_rules(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = api.token(on_sale.organizer_id, "organizer")
    cases = {
        "waitingRoom.admissionsPerMinute": {"enabled": True, "admissionsPerMinute": 0},
        "waitingRoom.passSeconds": {"enabled": True, "passSeconds": 10},
    }

    for field, room in cases.items():
        body = await api.execute(
            CONFIGURE, {"eventId": on_sale.id, "input": room}, token=token
        )
        result = body["data"]["configureWaitingRoom"]
        assert result["code"] == "INVALID_INPUT", result
        assert result["field"] == field


async def test_configure_waiting_room_of_other_organizer(
    api: ApiClient, on_sale: EventFixture
) -> None:
    token = api.token("someone-else", "organizer")
    room = {"enabled": True}

    body = await api.execute(
        CONFIGURE, {"eventId": on_sale.id, "input": room}, token=token
    )

    assert body["data"]["configureWaitingRoom"]["code"] == "NOT_FOUND"


async def test_hold_requires_admission_pass(api: ApiClient, services: Services) -> None:
    fixture = await make_event(services, waiting_room=ROOM)
    token = buyer_token(api)
    before = await version(api, fixture)

    refused = await hold(api, fixture, token, None, "hold-key-1")
    joined = await join(api, fixture.id, token)
    assert isinstance(services.clock, ManualClock)
    services.clock.advance(1)
    admitted = await status(api, fixture.id, token)
    assert admitted is not None
    held = await hold(api, fixture, token, admitted["admissionPass"], "hold-key-1")

    assert refused["code"] == "ADMISSION_REQUIRED"
    assert refused["field"] == "admissionPass"
    assert before == 0
    assert joined["state"] == "QUEUED"
    assert joined["position"] == 1
    assert joined["peopleAhead"] == 0
    assert joined["expectedWaitSeconds"] == 1
    assert joined["admissionPass"] is None
    assert admitted["state"] == "ADMITTED"
    assert admitted["expectedWaitSeconds"] == 0
    assert held["__typename"] == "Hold", held
    assert await version(api, fixture) == 1


async def test_configure_waiting_room_applies_to_holds(
    api: ApiClient, on_sale: EventFixture
) -> None:
    organizer = api.token(on_sale.organizer_id, "organizer")
    buyer = buyer_token(api)

    body = await api.execute(
        CONFIGURE,
        {"eventId": on_sale.id, "input": {"enabled": True}},
        token=organizer,
    )
    refused = await hold(api, on_sale, buyer, None, "hold-key-1")

    assert body["data"]["configureWaitingRoom"]["waitingRoom"] == {
        "enabled": True,
        "admissionsPerMinute": 100,
        "passSeconds": 600,
    }
    assert refused["code"] == "ADMISSION_REQUIRED"


async def test_hold_rejects_invalid_passes(api: ApiClient, services: Services) -> None:
    assert isinstance(services.clock, ManualClock)
    fixture = await make_event(services, waiting_room=ROOM)
    other_event = await make_event(services, waiting_room=ROOM)
    buyer = buyer_token(api)
    other_buyer = buyer_token(api)
    own_pass = await admitted_pass(api, services, fixture, buyer)
    foreign_pass = await admitted_pass(api, services, other_event, buyer)
    cases = {
        "garbage": (buyer, "not-a-pass"),
        "access token": (buyer, buyer),
        "other event": (buyer, foreign_pass),
        "other buyer": (other_buyer, own_pass),
    }

    results = {
        name: await hold(api, fixture, token, given, f"hold-{name}")
        for name, (token, given) in cases.items()
    }
    services.clock.advance(ROOM.pass_seconds)
    results["expired"] = await hold(api, fixture, buyer, own_pass, "hold-expired")
    expired_status = await status(api, fixture.id, buyer)

    for name, result in results.items():
        assert result.get("code") == "ADMISSION_REQUIRED", (name, result)
    assert "expired" in results["expired"]["message"]
    assert await version(api, fixture) == 0
    assert expired_status is not None
    assert expired_status["state"] == "ADMISSION_EXPIRED"
    assert expired_status["admissionPass"] is None


async def test_rejected_hold_retries_with_same_key(
    api: ApiClient, services: Services
) -> None:
    fixture = await make_event(services, waiting_room=ROOM)
    token = buyer_token(api)

    refused = await hold(api, fixture, token, None, "hold-key-1")
    admission_pass = await admitted_pass(api, services, fixture, token)
    held = await hold(api, fixture, token, admission_pass, "hold-key-1")

    assert refused["code"] == "ADMISSION_REQUIRED"
    assert held["__typename"] == "Hold", held


async def test_join_before_sale_opens(api: ApiClient, services: Services) -> None:
    now = services.clock.now()
    fixture = await make_event(
        services, waiting_room=ROOM, sale_starts_at=now + timedelta(minutes=5)
    )
    token = buyer_token(api)

    joined = await join(api, fixture.id, token)
    again = await join(api, fixture.id, token)
    assert isinstance(services.clock, ManualClock)
    services.clock.advance(5 * 60)
    opened = await status(api, fixture.id, token)

    assert joined["state"] == "WAITING_FOR_SALE"
    assert joined["position"] is None
    assert joined["expectedWaitSeconds"] is None
    assert again == joined
    assert opened is not None
    assert opened["state"] == "QUEUED"
    assert opened["position"] == 1


async def test_join_event_without_room(api: ApiClient, on_sale: EventFixture) -> None:
    token = buyer_token(api)

    joined = await join(api, on_sale.id, token)

    assert joined["code"] == "INVALID_STATE"
    assert joined["field"] == "eventId"


async def test_leave_waiting_room_moves_queue_up(
    api: ApiClient, services: Services
) -> None:
    fixture = await make_event(services, waiting_room=ROOM)
    first, second = buyer_token(api), buyer_token(api)
    await join(api, fixture.id, first)
    queued = await join(api, fixture.id, second)

    left = await api.execute(LEAVE, {"eventId": fixture.id}, token=first)
    again = await api.execute(LEAVE, {"eventId": fixture.id}, token=first)
    moved = await status(api, fixture.id, second)

    assert queued["position"] == 2
    assert left["data"]["leaveWaitingRoom"] == {
        "__typename": "WaitingRoomLeft",
        "eventId": fixture.id,
    }
    assert await status(api, fixture.id, first) is None
    assert again["data"]["leaveWaitingRoom"]["code"] == "NOT_FOUND"
    assert moved is not None
    assert moved["position"] == 1


async def test_waiting_room_before_joining(api: ApiClient, services: Services) -> None:
    fixture = await make_event(services, waiting_room=ROOM)
    token = buyer_token(api)

    assert await status(api, fixture.id, token) is None


async def test_waiting_room_updates_push_until_admitted(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(services.clock, ManualClock)
    clock = services.clock
    monkeypatch.setattr(services.settings, "waiting_room_poll_seconds", 0.05)
    fixture = await make_event(services, waiting_room=ROOM)
    schema = build_schema()
    contexts = [
        Context(
            services=services,
            principal=Principal(subject, frozenset(BUYER_SCOPES)),
        )
        for subject in ("first", "second")
    ]
    for context in contexts:
        joined = await schema.execute(
            JOIN, variable_values={"eventId": fixture.id}, context_value=context
        )
        assert joined.errors is None, joined.errors

    stream = await schema.subscribe(
        UPDATES, variable_values={"eventId": fixture.id}, context_value=contexts[1]
    )
    messages = []
    async with aclosing(stream) as updates:  # type: ignore[type-var]
        async for result in updates:
            assert result.errors is None, result.errors
            messages.append(result.data["waitingRoomUpdates"])
            clock.advance(1)
            await asyncio.sleep(0)

    assert [m["state"] for m in messages] == ["QUEUED", "QUEUED", "ADMITTED"]
    assert [m["peopleAhead"] for m in messages] == [1, 0, 0]
    assert messages[-1]["admissionPass"]


async def test_waiting_room_updates_without_joining(services: Services) -> None:
    fixture = await make_event(services, waiting_room=ROOM)
    context = Context(
        services=services, principal=Principal("buyer", frozenset(BUYER_SCOPES))
    )

    stream = await build_schema().subscribe(
        UPDATES, variable_values={"eventId": fixture.id}, context_value=context
    )
    async with aclosing(stream) as updates:  # type: ignore[type-var]
        result = await asyncio.wait_for(anext(updates), 10)

    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "NOT_FOUND", "field": "eventId"}
