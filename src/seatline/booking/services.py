"""The dependencies every domain service uses, bundled once per process."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from seatline.booking.availability import AvailabilityCache
from seatline.booking.clock import Clock
from seatline.booking.errors import Busy
from seatline.booking.geometry import GeometryCache
from seatline.booking.payments import PaymentProvider
from seatline.booking.tickets import TicketSigner
from seatline.config import Settings
from seatline.models import Order
from seatline.ratelimit import RateLimiter
from seatline.subscriptions.publisher import (
    OrderChange,
    SeatChangeBatch,
    SeatChangePublisher,
)
from seatline.waiting_room.passes import AdmissionPasses
from seatline.waiting_room.store import WaitingRoomStore

# SQLSTATEs for "try again": lock_not_available (lock_timeout),
# deadlock_detected, serialization_failure.
_RETRYABLE_SQLSTATES = {"55P03", "40P01", "40001"}
# SQLSTATEs of a database that is shutting down or starting up:
# admin_shutdown, crash_shutdown, cannot_connect_now. Class 08 (connection
# exceptions) counts too.
_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03"}


@dataclass
class Services:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    settings: Settings
    publisher: SeatChangePublisher
    payments: PaymentProvider
    tickets: TicketSigner
    waiting_rooms: WaitingRoomStore
    passes: AdmissionPasses
    geometry: GeometryCache = field(default_factory=GeometryCache)
    availability: AvailabilityCache = field(default_factory=AvailabilityCache)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter("memory://"))
    # Best-available requests choosing seats in this process, by event.
    choosers: Counter[uuid.UUID] = field(default_factory=Counter)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Run a transaction; lock timeouts and deadlocks become `Busy`."""
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except (DBAPIError, PoolTimeout, ConnectionError) as error:
            if isinstance(error, DBAPIError) and (
                _sqlstate(error) in _RETRYABLE_SQLSTATES
            ):
                raise Busy(
                    "the seats are busy with other requests; retry in a moment"
                ) from error
            reason = busy_reason(error)
            if reason is None:
                raise
            raise Busy(reason) from error

    async def publish(self, batches: list[SeatChangeBatch]) -> None:
        for batch in batches:
            await self.publisher.publish(batch)

    async def publish_order(self, order: Order) -> None:
        """Tell the buyer's live streams about the order's new status."""
        await self.publisher.publish_order(
            OrderChange(order.id, order.buyer_id, order.event_id, order.status.value)
        )


def busy_reason(error: BaseException) -> str | None:
    """Return a message for clients when a retry may pass where `error` failed.

    That is an exhausted connection pool, a database that is unreachable or
    restarting, or a dropped connection. Other errors return None.
    """
    if isinstance(error, PoolTimeout):
        return "the server has no free database connection; retry in a moment"
    if isinstance(error, ConnectionError):
        return "the database is unreachable; retry in a moment"
    if isinstance(error, DBAPIError):
        code = _sqlstate(error)
        lost = error.connection_invalidated
    else:
        # Errors raised while connecting can arrive unwrapped (a refused
        # connection does), so asyncpg's own exceptions are read too.
        code = getattr(error, "sqlstate", None)
        lost = False
    if lost or (
        isinstance(code, str)
        and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES)
    ):
        return "the database connection failed; retry in a moment"
    return None


def _sqlstate(error: DBAPIError) -> str | None:
    original = error.orig
    for attribute in ("sqlstate", "pgcode"):
        code = getattr(original, attribute, None)
        if isinstance(code, str):
            return code
    cause = getattr(original, "__cause__", None)
    code = getattr(cause, "sqlstate", None)
    return code if isinstance(code, str) else None
