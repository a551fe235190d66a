"""Rate limits over the `limits` library, stored in SEATLINE_REDIS_URL.

memory:// keeps counters inside the process (one API process, the demo);
redis:// and rediss:// share them between all processes.
"""

from __future__ import annotations

import asyncio
import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import BlockingConnectionPool, ConnectionPool


class RateLimiter:
    """Count hits per limit and identifiers in a moving window."""

    def __init__(self, redis_url: str, *, prefix: str = "seatline") -> None:
        self._pool: ConnectionPool | None = None
        scheme = redis_url.split("://", 1)[0]
        if scheme == "memory":
            storage = storage_from_string("async+memory://")
        elif scheme in ("redis", "rediss"):
            # Our own pool, so that close() can release its connections. A
            # blocking pool makes a burst of requests wait briefly for a
            # connection instead of failing with "Too many connections".
            self._pool = BlockingConnectionPool.from_url(
                redis_url, max_connections=64, timeout=1
            )
            storage = storage_from_string(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            raise ValueError(
                f"unsupported SEATLINE_REDIS_URL scheme {scheme!r} for rate limits; "
                "use memory://, redis:// or rediss://"
            )
        assert isinstance(storage, Storage)
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    async def close(self) -> None:
        """Release Redis connections and stop the memory store's expiry task."""
        if self._pool is not None:
            await self._pool.aclose()
        timer = getattr(self.storage, "timer", None)
        if isinstance(timer, asyncio.Task) and not timer.done():
            timer.cancel()

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
