"""Late payments and the per-buyer limit."""

from __future__ import annotations

import uuid

import pytest

from seatline.booking import errors
from seatline.booking.clock import ManualClock
from seatline.booking.holds import HoldRequest, hold_seats
from seatline.booking.orders import PaymentRequest, checkout, get_order, pay_order
from seatline.booking.payments import SandboxProvider
from seatline.booking.services import Services
from seatline.models import OrderStatus
from tests.conftest import make_event, seat_ids


def new_key() -> str:
    return str(uuid.uuid4())


async def test_late_payment_over_buyer_limit_refunded(
    services: Services, clock: ManualClock, payments: SandboxProvider
) -> None:
    event = await make_event(services, max_seats_per_order=4, max_seats_per_buyer=4)
    seats = seat_ids(event)
    first = await hold_seats(
        services, "buyer-a", HoldRequest(event.event.id, new_key(), seats[:4])
    )
    order = await checkout(services, "buyer-a", first.id, new_key())
    clock.advance(services.settings.payment_window_seconds + 1)
    # The lapsed order no longer counts, so the buyer may hold four others.
    await hold_seats(
        services, "buyer-a", HoldRequest(event.event.id, new_key(), seats[10:14])
    )

    with pytest.raises(errors.SeatsUnavailable) as raised:
        await pay_order(
            services,
            "buyer-a",
            PaymentRequest(order.id, "tok_approve", new_key()),
        )

    assert raised.value.refunded is True
    assert "limit of 4 seats" in raised.value.message
    assert (await get_order(services, "buyer-a", order.id)).status is (
        OrderStatus.REFUNDED
    )
    assert payments.refunded_references == payments.captured_references


async def test_late_payment_within_buyer_limit_sells(
    services: Services, clock: ManualClock
) -> None:
    event = await make_event(services, max_seats_per_order=4, max_seats_per_buyer=8)
    seats = seat_ids(event)
    first = await hold_seats(
        services, "buyer-a", HoldRequest(event.event.id, new_key(), seats[:4])
    )
    order = await checkout(services, "buyer-a", first.id, new_key())
    clock.advance(services.settings.payment_window_seconds + 1)
    await hold_seats(
        services, "buyer-a", HoldRequest(event.event.id, new_key(), seats[10:14])
    )

    paid = await pay_order(
        services, "buyer-a", PaymentRequest(order.id, "tok_approve", new_key())
    )

    assert paid.status is OrderStatus.PAID
