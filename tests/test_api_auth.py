"""Tokens and scopes at the HTTP edge, ownership checks, and error masking."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from joserfc import jwt

from seatline.auth.keys import ALGORITHM, generate_key_store
from seatline.booking import holds
from tests.conftest import AUDIENCE, ISSUER, ApiClient, EventFixture, seat_ids

HOLD = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename
    ... on Hold { id }
    ... on Error { code field }
  }
}
"""

READ_HOLD = "query ReadHold($id: ID!) { hold(id: $id) { id status seatIds } }"
RELEASE = """
mutation Release($id: ID!) {
  releaseHold(holdId: $id) { __typename ... on Error { code } }
}
"""
PUBLISH = """
mutation Publish($id: ID!) {
  publishEvent(eventId: $id) { __typename ... on Error { code } }
}
"""
EVENTS = "query { events(first: 1) { edges { node { id } } } }"


def hold_input(event: EventFixture, seats: list[str]) -> dict[str, object]:
    return {
        "input": {
            "eventId": event.id,
            "seatIds": seats,
            "idempotencyKey": str(uuid.uuid4()),
        }
    }


def error_codes(body: dict[str, object]) -> list[str]:
    return [error["extensions"]["code"] for error in body["errors"]]  # type: ignore[attr-defined, index]


async def test_mutation_without_token_is_unauthenticated(
    api: ApiClient, on_sale: EventFixture
) -> None:
    body = await api.execute(HOLD, hold_input(on_sale, seat_ids(on_sale)[:1]))

    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


async def test_mutation_without_scope_is_forbidden(
    api: ApiClient, on_sale: EventFixture
) -> None:
    reader = api.token("reader", "orders:read")

    body = await api.execute(
        HOLD, hold_input(on_sale, seat_ids(on_sale)[:1]), token=reader
    )

    assert error_codes(body) == ["FORBIDDEN"]


async def test_buyer_cannot_use_organizer_mutation(
    api: ApiClient, on_sale: EventFixture
) -> None:
    buyer = api.token("buyer", "bookings:write")

    body = await api.execute(PUBLISH, {"id": on_sale.id}, token=buyer)

    assert error_codes(body) == ["FORBIDDEN"]


async def test_other_organizer_gets_not_found(
    api: ApiClient, on_sale: EventFixture
) -> None:
    stranger = api.token("someone-else", "organizer")
    owner = api.token(on_sale.organizer_id, "organizer")

    other = await api.execute(PUBLISH, {"id": on_sale.id}, token=stranger)
    own = await api.execute(PUBLISH, {"id": on_sale.id}, token=owner)

    assert other["data"]["publishEvent"] == {
        "__typename": "NotFoundError",
        "code": "NOT_FOUND",
    }
    assert own["data"]["publishEvent"]["__typename"] == "Event"


async def test_buyer_sees_only_own_holds(api: ApiClient, on_sale: EventFixture) -> None:
    alice = api.token("alice", "bookings:write")
    bob = api.token("bob", "bookings:write", "orders:read")
    held = await api.execute(
        HOLD, hold_input(on_sale, seat_ids(on_sale)[:2]), token=alice
    )
    hold_id = held["data"]["holdSeats"]["id"]

    seen_by_bob = await api.execute(READ_HOLD, {"id": hold_id}, token=bob)
    released_by_bob = await api.execute(RELEASE, {"id": hold_id}, token=bob)
    seen_by_alice = await api.execute(READ_HOLD, {"id": hold_id}, token=alice)

    assert seen_by_bob["data"]["hold"] is None
    assert released_by_bob["data"]["releaseHold"]["code"] == "NOT_FOUND"
    assert seen_by_alice["data"]["hold"]["status"] == "ACTIVE"


async def test_reading_events_needs_no_token(
    api: ApiClient, on_sale: EventFixture
) -> None:
    body = await api.execute(EVENTS)

    assert "errors" not in body


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer " + "a" * 9000],
)
async def test_malformed_authorization_is_rejected(api: ApiClient, header: str) -> None:
    response = await api.client.post(
        "/graphql", json={"query": EVENTS}, headers={"Authorization": header}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def signed(
    claims: dict[str, object], *, header: dict[str, object] | None = None
) -> str:
    keys = generate_key_store()
    key = keys.token_signing_key
    return jwt.encode(
        header or {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid},
        claims,
        key,
        algorithms=[ALGORITHM],
    )


async def test_token_from_unknown_key_is_rejected(api: ApiClient) -> None:
    now = int(time.time())
    token = signed(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "mallory",
            "exp": now + 60,
            "scope": "admin",
        }
    )

    response = await api.post({"query": EVENTS}, token=token)

    assert response.status_code == 401


async def test_expired_and_foreign_tokens_are_rejected(api: ApiClient) -> None:
    key = api.keys.token_signing_key
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "eve", "scope": "bookings:write"}
    cases = {
        "expired": {**base, "exp": now - 3600},
        "wrong audience": {**base, "aud": "another-api", "exp": now + 60},
        "wrong issuer": {**base, "iss": "elsewhere", "exp": now + 60},
        "no expiry": base,
    }
    for name, claims in cases.items():
        token = jwt.encode(
            {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid},
            claims,
            key,
            algorithms=[ALGORITHM],
        )
        response = await api.post({"query": EVENTS}, token=token)
        assert response.status_code == 401, name


async def test_unexpected_error_is_logged_and_masked(
    api: ApiClient,
    on_sale: EventFixture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(holds, "_hold_chosen", broken)
    buyer = api.token("buyer", "bookings:write")

    with caplog.at_level(logging.ERROR, logger="seatline.schema.root"):
        body = await api.execute(
            HOLD, hold_input(on_sale, seat_ids(on_sale)[:1]), token=buyer
        )

    assert body["errors"][0]["message"] == "internal server error"
    assert "hunter2" not in str(body)
    assert any(
        record.getMessage() == "unexpected error in GraphQL operation"
        for record in caplog.records
    )
