"""Liveness and readiness endpoints, and the dependency checks behind them."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from seatline import db
from seatline.migrate import MIGRATIONS_DIR, current_revision
from seatline.observability import metrics
from seatline.observability.shutdown import Lifecycle

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


def _behind_head(revision: str | None) -> bool:
    """Return whether the database lacks migrations that this code needs.

    A revision this code does not know is newer: during a rolling deploy the
    migration job runs first, and the old processes must stay ready.
    """
    scripts = _scripts()
    if revision == scripts.get_current_head():
        return False
    if revision is None:
        return True
    try:
        scripts.get_revision(revision)
    except CommandError:
        return False
    return True


class DependencyChecks:
    """Reach the database and Redis, and export the result as metrics."""

    def __init__(self, engine: AsyncEngine, redis_url: str) -> None:
        self.engine = engine
        # memory:// is the in-process broker: there is nothing to reach.
        self.redis = (
            None
            if redis_url.startswith("memory://")
            else aioredis.from_url(
                redis_url,
                socket_timeout=CHECK_TIMEOUT_SECONDS,
                socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
            )
        )

    async def database_problem(self) -> str | None:
        """Return why the database is not usable, or None when it is."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await db.ping(self.engine)
                revision = await current_revision(self.engine)
        except Exception as error:
            metrics.DEPENDENCY_UP.labels("database").set(0)
            logger.warning("database check failed", extra={"error": repr(error)})
            return "database unreachable"
        metrics.DEPENDENCY_UP.labels("database").set(1)
        if _behind_head(revision):
            return f"migrations pending (database at {revision})"
        return None

    async def redis_problem(self) -> str | None:
        """Return why Redis is not usable, or None when it is (or unused)."""
        if self.redis is None:
            return None
        try:
            await self.redis.ping()
        except (OSError, RedisError) as error:
            metrics.DEPENDENCY_UP.labels("redis").set(0)
            logger.warning("redis check failed", extra={"error": repr(error)})
            return "redis unreachable"
        metrics.DEPENDENCY_UP.labels("redis").set(1)
        return None

    async def monitor(self, stop: asyncio.Event, interval: float) -> None:
        """Check both every `interval` seconds, so that the metrics stay
        current between readiness probes."""
        while not stop.is_set():
            await self.database_problem()
            await self.redis_problem()
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                continue

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


async def healthz(request: Request) -> Response:
    """Report that the process is alive, whatever its dependencies' state."""
    return JSONResponse({"status": "ok"})


def readyz(
    lifecycle: Lifecycle, checks: DependencyChecks
) -> Callable[[Request], Awaitable[Response]]:
    """Build /readyz: 200 when the process is not draining, the database is
    reachable and migrated, and Redis is reachable; 503 otherwise."""

    async def endpoint(request: Request) -> Response:
        if lifecycle.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        problem = await checks.database_problem() or await checks.redis_problem()
        if problem is not None:
            return JSONResponse({"status": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    return endpoint
