"""Rate limits on GraphQL operations, per address, subject, client and booking."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from seatline.app import create_app
from seatline.auth.tokens import mint_token
from seatline.booking.services import Services
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ApiClient,
    DatabaseUnderTest,
    EventFixture,
    seat_ids,
    settings_for,
)
from tests.test_api_auth import HOLD, hold_input

TYPENAME = "{ __typename }"
HOLD_VIA_FRAGMENT = """
mutation Hold($input: HoldSeatsInput!) { ...Booking }
fragment Booking on Mutation {
  holdSeats(input: $input) { __typename ... on Error { code } }
}
"""


async def statuses(api: ApiClient, count: int, token: str | None = None) -> list[int]:
    responses = [await api.post({"query": TYPENAME}, token=token) for _ in range(count)]
    return [response.status_code for response in responses]


async def test_address_limit_gives_429_with_retry_after(api_with: Any) -> None:
    async with api_with(rate_limit_per_address="3/minute") as (api, _):
        allowed = await statuses(api, 3)
        refused = await api.post({"query": TYPENAME})

    assert allowed == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["limit"] == "per_address"
    assert refused.json()["data"] is None


async def test_subject_limit_is_per_buyer(api_with: Any) -> None:
    async with api_with(rate_limit_per_subject="2/minute") as (api, _):
        first = api.token("buyer-a", "events:read")
        second = api.token("buyer-b", "events:read")
        first_statuses = await statuses(api, 3, first)
        second_statuses = await statuses(api, 2, second)

    assert first_statuses == [200, 200, 429]
    assert second_statuses == [200, 200]


async def test_client_limit_covers_all_its_tokens(api_with: Any) -> None:
    async with api_with(rate_limit_per_client="2/minute") as (api, _):
        tokens = [
            mint_token(
                api.keys,
                subject=f"customer-{n}",
                scopes=["events:read"],
                issuer=ISSUER,
                audience=AUDIENCE,
                client_id="partner-app",
            )
            for n in range(3)
        ]
        results = [(await statuses(api, 1, token))[0] for token in tokens]

    assert results == [200, 200, 429]


@pytest.mark.parametrize("document", [HOLD, HOLD_VIA_FRAGMENT])
async def test_booking_limit_is_stricter_than_reads(
    api_with: Any, on_sale: EventFixture, document: str
) -> None:
    async with api_with(rate_limit_bookings_per_subject="2/minute") as (api, _):
        token = api.token(f"buyer-{uuid.uuid4()}", "bookings:write")
        holds = [
            await api.post(
                {
                    "query": document,
                    "variables": hold_input(on_sale, seat_ids(on_sale)[n : n + 1]),
                },
                token=token,
            )
            for n in range(3)
        ]
        reads = await statuses(api, 3, token)

    assert [hold.status_code for hold in holds] == [200, 200, 429]
    assert holds[2].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert reads == [200, 200, 200]


SEAT_STATUS = """
query Seat($id: ID!, $seat: String!) { event(id: $id) { seat(id: $seat) { status } } }
"""


async def test_refused_hold_changes_nothing(
    api_with: Any, on_sale: EventFixture
) -> None:
    first_seat, second_seat = seat_ids(on_sale)[:2]
    async with api_with(rate_limit_bookings_per_address="1/minute") as (api, _):
        first = api.token("buyer-x", "bookings:write")
        second = api.token("buyer-y", "bookings:write")
        await api.execute(HOLD, hold_input(on_sale, [first_seat]), token=first)
        refused = await api.post(
            {"query": HOLD, "variables": hold_input(on_sale, [second_seat])},
            token=second,
        )
        seat = await api.execute(SEAT_STATUS, {"id": on_sale.id, "seat": second_seat})

    assert refused.status_code == 429
    assert seat["data"]["event"]["seat"]["status"] == "AVAILABLE"


async def test_limits_are_shared_through_redis(
    redis_url: str,
    database: DatabaseUnderTest,
    key_file: Path,
    services: Services,
) -> None:
    prefix = f"seatline-test-{uuid.uuid4().hex}"
    settings = settings_for(
        database,
        key_file,
        redis_url=redis_url,
        rate_limit_prefix=prefix,
        rate_limit_per_address="4/minute",
    )
    apps = [
        create_app(settings, clock=services.clock, run_background_tasks=False)
        for _ in range(2)
    ]
    results: list[int] = []
    try:
        async with AsyncExitStack() as stack:
            for app in apps:
                await stack.enter_async_context(app.router.lifespan_context(app))
            for n in range(6):
                transport = httpx.ASGITransport(app=apps[n % 2])
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://seatline.test"
                ) as client:
                    response = await client.post("/graphql", json={"query": TYPENAME})
                results.append(response.status_code)
    finally:
        for app in apps:
            await app.state.engine.dispose()
        redis = aioredis.from_url(redis_url)
        keys = [key async for key in redis.scan_iter(f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    assert results == [200, 200, 200, 200, 429, 429]
