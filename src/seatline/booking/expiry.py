"""The sweeper: releases seats of expired holds and unpaid orders.

Expired holds already count as free everywhere, so the sweeper only tidies
up and tells subscribers. It works in batches, one transaction per event,
and skips rows another process has locked, so several processes can sweep
at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from seatline.auth.store import purge_expired_grants
from seatline.booking.errors import Busy
from seatline.booking.idempotency import purge_expired_records
from seatline.booking.seats import bump_version, claim_seats, seat_refs
from seatline.booking.services import Services
from seatline.models import (
    EventSeat,
    Hold,
    HoldSeat,
    HoldStatus,
    Order,
    OrderStatus,
    SeatStatus,
)
from seatline.observability import outcomes
from seatline.subscriptions.publisher import SeatChangeBatch

logger = logging.getLogger(__name__)

MAX_FAILURE_PAUSE_SECONDS = 60.0


@dataclass(frozen=True)
class SweepResult:
    expired_holds: int
    expired_orders: int


async def sweep(services: Services) -> SweepResult:
    """Expire one batch of holds and one of unpaid orders."""
    now = services.clock.now()
    batch_size = services.settings.sweeper_batch_size
    async with services.sessions() as session:
        hold_rows = (
            await session.execute(
                select(Hold.id, Hold.event_id)
                .where(Hold.status == HoldStatus.ACTIVE, Hold.expires_at <= now)
                .order_by(Hold.expires_at)
                .limit(batch_size)
            )
        ).all()
        order_rows = (
            await session.execute(
                select(Order.id, Order.event_id)
                .where(
                    Order.status == OrderStatus.AWAITING_PAYMENT,
                    Order.payment_deadline <= now,
                )
                .order_by(Order.payment_deadline)
                .limit(batch_size)
            )
        ).all()

    expired_holds = 0
    for event_id, hold_ids in _by_event(hold_rows).items():
        expired_holds += await _expire_holds(services, event_id, hold_ids, now)
    expired_orders = 0
    for event_id, order_ids in _by_event(order_rows).items():
        expired_orders += await _expire_orders(services, event_id, order_ids, now)
    return SweepResult(expired_holds, expired_orders)


def _by_event(
    rows: Sequence[Row[uuid.UUID, uuid.UUID]],
) -> dict[uuid.UUID, list[uuid.UUID]]:
    grouped: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for row_id, event_id in rows:
        grouped[event_id].append(row_id)
    return grouped


async def _expire_holds(
    services: Services, event_id: uuid.UUID, hold_ids: list[uuid.UUID], now: datetime
) -> int:
    async with services.transaction() as session:
        holds = list(
            await session.scalars(
                select(Hold)
                .where(
                    Hold.id.in_(hold_ids),
                    Hold.status == HoldStatus.ACTIVE,
                    Hold.expires_at <= now,
                )
                .order_by(Hold.id)
                .with_for_update(skip_locked=True)
            )
        )
        for hold in holds:
            hold.status = HoldStatus.EXPIRED
        batch = await _free_seats(session, event_id, [hold.id for hold in holds])
    if batch is not None:
        await services.publish([batch])
    return len(holds)


async def _expire_orders(
    services: Services, event_id: uuid.UUID, order_ids: list[uuid.UUID], now: datetime
) -> int:
    async with services.transaction() as session:
        orders = list(
            await session.scalars(
                select(Order)
                .where(
                    Order.id.in_(order_ids),
                    Order.status == OrderStatus.AWAITING_PAYMENT,
                    Order.payment_deadline <= now,
                )
                .order_by(Order.id)
                .with_for_update(skip_locked=True)
            )
        )
        hold_ids = [order.hold_id for order in orders]
        for order in orders:
            order.status = OrderStatus.EXPIRED
        for hold in await session.scalars(select(Hold).where(Hold.id.in_(hold_ids))):
            hold.status = HoldStatus.EXPIRED
        batch = await _free_seats(session, event_id, hold_ids)
    if batch is not None:
        await services.publish([batch])
    for order in orders:
        await services.publish_order(order)
    return len(orders)


async def _free_seats(
    session: AsyncSession, event_id: uuid.UUID, hold_ids: list[uuid.UUID]
) -> SeatChangeBatch | None:
    if not hold_ids:
        return None
    seat_ids = list(
        await session.scalars(
            select(HoldSeat.seat_id).where(HoldSeat.hold_id.in_(hold_ids))
        )
    )
    changed = await claim_seats(
        session,
        event_id,
        seat_ids,
        guard=EventSeat.hold_id.in_(hold_ids) & (EventSeat.status == SeatStatus.HELD),
        values={
            "status": SeatStatus.AVAILABLE,
            "hold_id": None,
            "hold_expires_at": None,
        },
    )
    if not changed:
        return None
    return await bump_version(
        session,
        event_id,
        await seat_refs(session, sorted(changed)),
        SeatStatus.AVAILABLE,
    )


async def run_sweeper(services: Services, stop: asyncio.Event) -> None:
    """Sweep every interval until `stop` is set; errors are logged, not fatal.

    After a failure the pause doubles, up to a minute, and only the first
    failure of a run of failures is logged with its traceback.
    """
    interval = services.settings.sweeper_interval_seconds
    pause = interval
    failures = 0
    logger.info("sweeper started", extra={"interval_seconds": interval})
    while not stop.is_set():
        try:
            result = await sweep(services)
            await purge_expired_records(services)
            await purge_expired_grants(services)
        except Busy:
            outcomes.sweeper_round("busy")
            logger.info("sweeper found locked rows; retrying next round")
        except Exception as error:
            outcomes.sweeper_round("failed")
            failures += 1
            pause = min(pause * 2, MAX_FAILURE_PAUSE_SECONDS)
            if failures == 1:
                logger.exception("sweeper round failed")
            else:
                logger.warning(
                    "sweeper round failed again",
                    extra={"failures": failures, "error": repr(error)},
                )
        else:
            outcomes.sweeper_round(
                "ok",
                expired_holds=result.expired_holds,
                expired_orders=result.expired_orders,
            )
            if failures:
                logger.info("sweeper recovered", extra={"failures": failures})
            failures, pause = 0, interval
            if result.expired_holds or result.expired_orders:
                logger.info(
                    "sweeper expired holds and orders",
                    extra={
                        "expired_holds": result.expired_holds,
                        "expired_orders": result.expired_orders,
                    },
                )
        try:
            await asyncio.wait_for(stop.wait(), timeout=pause)
        except TimeoutError:
            continue
    logger.info("sweeper stopped")
