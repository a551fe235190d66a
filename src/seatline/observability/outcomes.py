"""Count booking outcomes, called by the booking services where they happen.

Services call these only on the path that acts, never on an idempotent
replay, so a retried request is counted once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from seatline.booking.errors import SeatsUnavailable
from seatline.observability import metrics

PaymentOutcome = Literal["captured", "declined", "failed", "rejected"]
SweeperOutcome = Literal["ok", "busy", "failed"]


@contextmanager
def hold_attempt() -> Iterator[None]:
    """Count a hold as created, or as a conflict when its seats were taken."""
    try:
        yield
    except SeatsUnavailable:
        metrics.HOLD_CONFLICTS.inc()
        raise
    metrics.HOLDS.labels("created").inc()


def hold_released() -> None:
    metrics.HOLDS.labels("released").inc()


def order_created() -> None:
    metrics.ORDERS.labels("created").inc()


def payment_finished(outcome: PaymentOutcome) -> None:
    metrics.PAYMENTS.labels(outcome).inc()
    if outcome == "captured":
        metrics.ORDERS.labels("paid").inc()


def late_payment_refunded(*, order_refunded: bool) -> None:
    """Count a refund of a payment whose order could not be fulfilled.

    `order_refunded` is False when the order had already ended otherwise
    (paid by another payment, say) and only the payment was refunded.
    """
    metrics.REFUNDS.labels("late_payment").inc()
    if order_refunded:
        metrics.ORDERS.labels("refunded").inc()


def order_cancelled(*, refunded: bool, by_organizer: bool) -> None:
    metrics.ORDERS.labels("refunded" if refunded else "cancelled").inc()
    if refunded:
        reason = "event_cancelled" if by_organizer else "order_cancelled"
        metrics.REFUNDS.labels(reason).inc()


def sweeper_round(
    outcome: SweeperOutcome, *, expired_holds: int = 0, expired_orders: int = 0
) -> None:
    metrics.SWEEPER_RUNS.labels(outcome).inc()
    if outcome != "ok":
        return
    metrics.SWEEPER_LAST_SUCCESS.set(time.time())
    if expired_holds:
        metrics.HOLDS.labels("expired").inc(expired_holds)
    if expired_orders:
        metrics.ORDERS.labels("expired").inc(expired_orders)
