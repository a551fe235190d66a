"""Rate limits over the `limits` library, stored where SEATLINE_REDIS_URL says.

memory:// keeps counters inside the process (one API process, the demo);
redis:// and rediss:// share them between all processes.
"""

from __future__ import annotations

import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


class RateLimiter:
    """Count hits per limit and identifiers in a moving window."""

    def __init__(self, redis_url: str, *, prefix: str = "seatline") -> None:
        self.storage = _storage(redis_url, prefix)
        self._strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, limit: str | RateLimitItem, *identifiers: str) -> bool:
        """Count one hit; return False when the limit was already reached."""
        return await self._strategy.hit(_item(limit), *identifiers)

    async def allows(self, limit: str | RateLimitItem, *identifiers: str) -> bool:
        """Return True while another hit would stay within the limit."""
        return await self._strategy.test(_item(limit), *identifiers)

    async def retry_after(self, limit: str | RateLimitItem, *identifiers: str) -> int:
        """Return the seconds until one more hit is allowed, at least 1."""
        stats = await self._strategy.get_window_stats(_item(limit), *identifiers)
        return max(1, int(stats.reset_time - time.time()) + 1)

    async def clear(self, limit: str | RateLimitItem, *identifiers: str) -> None:
        await self._strategy.clear(_item(limit), *identifiers)


def _item(limit: str | RateLimitItem) -> RateLimitItem:
    return parse(limit) if isinstance(limit, str) else limit


def _storage(redis_url: str, prefix: str) -> Storage:
    scheme = redis_url.split("://", 1)[0]
    options: dict[str, Any] = {}
    if scheme == "memory":
        uri = "async+memory://"
    elif scheme in ("redis", "rediss"):
        uri = f"async+{redis_url}"
        # redis-py is already a dependency; limits defaults to coredis.
        options = {"implementation": "redispy", "key_prefix": prefix}
    else:
        raise ValueError(
            f"unsupported SEATLINE_REDIS_URL scheme {scheme!r} for rate limits; "
            "use memory://, redis:// or rediss://"
        )
    storage = storage_from_string(uri, **options)
    assert isinstance(storage, Storage)
    return storage
