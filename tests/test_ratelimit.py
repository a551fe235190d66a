"""The rate-limit adapter on in-process memory and on Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from seatline.ratelimit import RateLimiter


@pytest.fixture(params=["memory", "redis"])
def storage_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
async def limiter(storage_url: str) -> AsyncIterator[RateLimiter]:
    created = RateLimiter(storage_url, prefix=f"seatline-test-{secrets.token_hex(4)}")
    yield created
    await created.close()


async def test_limit_reached_then_cleared(limiter: RateLimiter) -> None:
    key = secrets.token_hex(4)

    hits = [await limiter.hit("2/minute", "signin", key) for _ in range(3)]

    assert hits == [True, True, False]
    assert not await limiter.allows("2/minute", "signin", key)
    assert 1 <= await limiter.retry_after("2/minute", "signin", key) <= 61
    assert await limiter.allows("2/minute", "signin", "other")
    await limiter.clear("2/minute", "signin", key)
    assert await limiter.allows("2/minute", "signin", key)


def test_unsupported_scheme() -> None:
    with pytest.raises(ValueError, match="memcached"):
        RateLimiter("memcached://127.0.0.1:11211")
