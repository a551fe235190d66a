"""Two API processes on one Redis share a waiting room, and a restart keeps it.

Each app instance gets its own engine, Redis client and lifespan, as a
separate `seatline serve` process would.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from seatline.app import create_app
from seatline.auth.keys import KeyStore
from seatline.auth.tokens import mint_token
from seatline.booking.clock import ManualClock
from seatline.booking.events import WaitingRoomRules
from seatline.booking.services import Services
from seatline.config import Settings
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ApiClient,
    DatabaseUnderTest,
    make_event,
    settings_for,
)
from tests.waiting_room.test_api import JOIN, STATUS, hold
from tests.waiting_room.test_store import delete_prefix

ROOM = WaitingRoomRules(enabled=True, admissions_per_minute=60, pass_seconds=120)
BUYERS = 12


@pytest.fixture
async def shared_settings(
    postgres_database: DatabaseUnderTest, redis_url: str, key_file: Path
) -> AsyncIterator[Settings]:
    prefix = f"seatline-test-{secrets.token_hex(4)}:"
    yield settings_for(
        postgres_database,
        key_file,
        redis_url=redis_url,
        waiting_room_key_prefix=prefix,
    )
    await delete_prefix(redis_url, prefix)


@asynccontextmanager
async def running_app(
    settings: Settings, clock: ManualClock, keys: KeyStore
) -> AsyncIterator[tuple[ApiClient, Services]]:
    app = create_app(settings, clock=clock, run_background_tasks=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://seatline.test"
        ) as client:
            yield ApiClient(client, keys), app.state.services


async def execute(
    api: ApiClient, query: str, event_id: str, token: str
) -> dict[str, Any]:
    body = await api.execute(query, {"eventId": event_id}, token=token)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_waiting_room_shared_and_restarted(
    shared_settings: Settings, keys: KeyStore
) -> None:
    clock = ManualClock()
    tokens = [
        mint_token(
            keys,
            subject=f"buyer-{secrets.token_hex(4)}",
            scopes=["bookings:write"],
            issuer=ISSUER,
            audience=AUDIENCE,
        )
        for _ in range(BUYERS)
    ]
    async with AsyncExitStack() as stack:
        first, services = await stack.enter_async_context(
            running_app(shared_settings, clock, keys)
        )
        second, _ = await stack.enter_async_context(
            running_app(shared_settings, clock, keys)
        )
        fixture = await make_event(services, waiting_room=ROOM)
        apis = [first, second]

        joined = [
            (await execute(apis[i % 2], JOIN, fixture.id, token))["joinWaitingRoom"]
            for i, token in enumerate(tokens)
        ]
        clock.advance(3)
        # The first three buyers are admitted. The first buyer reads the pass
        # from one process and holds seats through the other.
        admitted = (await execute(first, STATUS, fixture.id, tokens[0]))["waitingRoom"]
        held = await hold(
            second, fixture, tokens[0], admitted["admissionPass"], "hold-key-shared"
        )

    async with running_app(shared_settings, clock, keys) as (restarted, _):
        after = [
            (await execute(restarted, STATUS, fixture.id, token))["waitingRoom"]
            for token in tokens
        ]

    assert [j["position"] for j in joined] == list(range(1, BUYERS + 1))
    assert held["__typename"] == "Hold", held
    assert [a["position"] for a in after] == list(range(1, BUYERS + 1))
    assert [a["state"] for a in after] == ["ADMITTED"] * 3 + ["QUEUED"] * (BUYERS - 3)
    assert [a["peopleAhead"] for a in after[3:]] == list(range(BUYERS - 3))
