"""Revoked access tokens: the in-memory list and API requests."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt

from seatline.auth import store
from seatline.auth.revocations import RevokedTokens
from seatline.booking.services import Services

EVENTS = "{ events(first: 1) { edges { cursor } } }"


class Loader:
    """A revocation source that counts loads and can be made to fail."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.loads = 0
        self.failure: Exception | None = None

    async def __call__(self) -> set[str]:
        self.loads += 1
        await asyncio.sleep(0)
        if self.failure is not None:
            raise self.failure
        return set(self.ids)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_revoked_tokens_load_once_per_interval() -> None:
    loader, clock = Loader(), Clock()
    revoked = RevokedTokens(loader, 5.0, clock)
    loader.ids = {"a"}

    found = await asyncio.gather(*(revoked.contains("a") for _ in range(20)))
    loader.ids = {"a", "b"}
    clock.now += 4.9
    before_interval = await revoked.contains("b")
    clock.now += 0.1
    after_interval = await revoked.contains("b")

    assert found == [True] * 20
    assert before_interval is False
    assert after_interval is True
    assert loader.loads == 2


async def test_revoked_tokens_expire_forces_reload() -> None:
    loader, clock = Loader(), Clock()
    revoked = RevokedTokens(loader, 5.0, clock)
    assert await revoked.contains("a") is False

    loader.ids = {"a"}
    revoked.expire()

    assert await revoked.contains("a") is True
    assert loader.loads == 2


async def test_revoked_tokens_keep_list_when_load_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loader, clock = Loader(), Clock()
    revoked = RevokedTokens(loader, 5.0, clock)
    loader.ids = {"a"}
    assert await revoked.contains("a") is True

    loader.failure = ConnectionError("database is down")
    clock.now += 5
    with caplog.at_level(logging.WARNING, "seatline.auth.revocations"):
        still_revoked = await revoked.contains("a")
    clock.now += 1
    await revoked.contains("a")

    assert still_revoked is True
    assert "failed to reload revoked access tokens" in caplog.text
    # The failed load counts as a load: the next try waits for the interval.
    assert loader.loads == 2


async def test_revocation_by_other_process_applies(
    api_with: Any, services: Services
) -> None:
    async with api_with(revocation_reload_seconds=0.2) as (api, _):
        token = api.token("buyer", "events:read")
        before = await api.post({"query": EVENTS}, token=token)
        claims = jwt.decode(token, api.keys.token_signing_key).claims
        expires_at = datetime.now(UTC) + timedelta(minutes=10)
        # Written straight to the database, as another process's
        # revocation endpoint would.
        await store.revoke_access_token(services, claims["jti"], expires_at)
        await asyncio.sleep(0.3)
        after = await api.post({"query": EVENTS}, token=token)
        other = await api.post(
            {"query": EVENTS}, token=api.token("buyer", "events:read")
        )

    assert before.status_code == 200
    assert after.status_code == 401
    assert other.status_code == 200
