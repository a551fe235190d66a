"""Revoked access tokens, as API requests see them.

A revoked access token is a row in the database until it would have
expired. Each process keeps the ids of the unexpired ones in memory and
reloads them at most once per interval, when a request needs them, so
checking a token costs no query. A revocation made through this process
takes effect on its next request; one made through another process takes
effect here within the interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class RevokedTokens:
    """The jti claims of revoked, unexpired access tokens."""

    def __init__(
        self,
        load: Callable[[], Awaitable[set[str]]],
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._interval = interval_seconds
        self._clock = clock
        self._ids: set[str] = set()
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def contains(self, jti: str) -> bool:
        """Return whether the token with this jti was revoked."""
        if self._is_stale():
            async with self._lock:
                # Callers that waited for the lock use the load it made.
                if self._is_stale():
                    await self._reload()
        return jti in self._ids

    def expire(self) -> None:
        """Reload before the next check, after a revocation in this process.

        Safe to call from a worker thread: it only drops the load time.
        """
        self._loaded_at = None

    def _is_stale(self) -> bool:
        loaded_at = self._loaded_at
        return loaded_at is None or self._clock() - loaded_at >= self._interval

    async def _reload(self) -> None:
        started = self._clock()
        try:
            self._ids = await self._load()
        except Exception as error:
            # The last list stays in force and the next interval retries, so
            # a database outage does not also fail every token check.
            logger.warning(
                "failed to reload revoked access tokens", extra={"error": repr(error)}
            )
        self._loaded_at = started
