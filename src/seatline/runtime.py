"""Assemble the domain services from settings, once per process."""

from __future__ import annotations

from collections.abc import Callable

from broadcaster import Broadcast
from sqlalchemy.ext.asyncio import AsyncEngine

from seatline import db
from seatline.auth.keys import KeyStore
from seatline.booking.clock import Clock, SystemClock
from seatline.booking.payments import PaymentProvider, SandboxProvider
from seatline.booking.services import Services
from seatline.booking.tickets import TicketSigner
from seatline.config import Settings
from seatline.ratelimit import RateLimiter
from seatline.subscriptions.publisher import SeatChangePublisher
from seatline.waiting_room.passes import AdmissionPasses
from seatline.waiting_room.store import create_store


def build_services(
    settings: Settings,
    engine: AsyncEngine,
    broadcast: Broadcast | Callable[[], Broadcast],
    keys: KeyStore,
    *,
    clock: Clock | None = None,
    payments: PaymentProvider | None = None,
) -> Services:
    return Services(
        sessions=db.create_sessionmaker(engine),
        clock=clock or SystemClock(),
        settings=settings,
        publisher=SeatChangePublisher(broadcast),
        payments=payments or SandboxProvider(),
        tickets=TicketSigner(keys),
        limiter=RateLimiter(settings.redis_url, prefix=settings.rate_limit_prefix),
        waiting_rooms=create_store(
            settings.waiting_room_redis_url or settings.redis_url,
            key_prefix=settings.waiting_room_key_prefix,
        ),
        passes=AdmissionPasses(keys, issuer=settings.jwt_issuer),
    )
