"""Checkout, payment (approved, declined, failed, late), cancellation, tickets."""

from __future__ import annotations

import uuid

import pytest
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from seatline.auth.keys import KeyStore
from seatline.booking import errors
from seatline.booking.clock import ManualClock
from seatline.booking.events import change_event_status
from seatline.booking.expiry import sweep
from seatline.booking.holds import HoldRequest, hold_seats
from seatline.booking.orders import (
    PaymentRequest,
    cancel_event,
    cancel_order,
    checkout,
    get_order,
    order_tickets,
    pay_order,
)
from seatline.booking.payments import SandboxProvider
from seatline.booking.services import Services
from seatline.booking.tickets import InvalidTicket, verify_ticket
from seatline.models import (
    EventSeat,
    EventStatus,
    Hold,
    HoldStatus,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    SeatStatus,
    Ticket,
)
from tests.conftest import EventFixture, seat_ids


def new_key() -> str:
    return str(uuid.uuid4())


async def held_order(
    services: Services, event: EventFixture, seats: list[str], buyer: str = "buyer-a"
) -> Order:
    hold = await hold_seats(
        services,
        buyer,
        HoldRequest(event_id=event.event.id, idempotency_key=new_key(), seat_ids=seats),
    )
    return await checkout(services, buyer, hold.id, new_key())


async def pay(
    services: Services,
    order: Order,
    token: str = "tok_approve",
    *,
    key: str | None = None,
    buyer: str = "buyer-a",
) -> Order:
    return await pay_order(
        services,
        buyer,
        PaymentRequest(
            order_id=order.id, token=token, idempotency_key=key or new_key()
        ),
    )


async def seat_status_counts(
    services: Services, event: EventFixture
) -> dict[SeatStatus, int]:
    async with services.sessions() as session:
        rows = await session.execute(
            select(EventSeat.status, func.count())
            .where(EventSeat.event_id == event.event.id)
            .group_by(EventSeat.status)
        )
        return {status: count for status, count in rows}  # noqa: C416 - Result has keys()


async def payments_of(services: Services, order: Order) -> list[Payment]:
    async with services.sessions() as session:
        rows = await session.scalars(
            select(Payment)
            .where(Payment.order_id == order.id)
            .order_by(Payment.created_at)
        )
        return list(rows)


async def test_checkout_prices_order_and_keeps_seats(
    services: Services, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:2])
    seats = [
        seat
        for section in on_sale.venue.layout["sections"]
        for row in section["rows"]
        for seat in row["seats"]
    ][:2]
    # make_event prices category i at 1000 * (i + 1) minor units.
    expected = sum(1000 * (seat[4] + 1) for seat in seats)

    assert order.status is OrderStatus.AWAITING_PAYMENT
    assert order.currency == "EUR"
    assert order.total_amount == expected
    assert (await seat_status_counts(services, on_sale))[SeatStatus.HELD] == 2


async def test_checkout_is_idempotent(
    services: Services, on_sale: EventFixture
) -> None:
    hold = await hold_seats(
        services,
        "buyer-a",
        HoldRequest(
            event_id=on_sale.event.id,
            idempotency_key=new_key(),
            seat_ids=seat_ids(on_sale)[:1],
        ),
    )
    key = new_key()

    first = await checkout(services, "buyer-a", hold.id, key)
    again = await checkout(services, "buyer-a", hold.id, key)

    assert again.id == first.id
    with pytest.raises(errors.InvalidState, match="checked_out"):
        await checkout(services, "buyer-a", hold.id, new_key())


async def test_checkout_of_expired_hold_fails(
    services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    hold = await hold_seats(
        services,
        "buyer-a",
        HoldRequest(
            event_id=on_sale.event.id,
            idempotency_key=new_key(),
            seat_ids=seat_ids(on_sale)[:1],
        ),
    )
    clock.advance(on_sale.event.hold_duration_seconds)

    with pytest.raises(errors.HoldExpired):
        await checkout(services, "buyer-a", hold.id, new_key())


async def test_pay_sells_seats_and_issues_tickets(
    services: Services, keys: KeyStore, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:3])

    paid = await pay(services, order)

    assert paid.status is OrderStatus.PAID
    assert (await seat_status_counts(services, on_sale))[SeatStatus.SOLD] == 3
    tickets = await order_tickets(services, order.id)
    assert len(tickets) == 3
    assert len({ticket.code for ticket in tickets}) == 3
    assert all(len(ticket.code) >= 22 for ticket in tickets)
    public = KeySet.import_key_set(keys.public_jwks())  # type: ignore[arg-type]
    facts = verify_ticket(tickets[0].signed_payload, public)
    assert facts["code"] == tickets[0].code
    assert facts["eid"] == str(on_sale.event.id)
    (payment,) = await payments_of(services, order)
    assert payment.status is PaymentStatus.CAPTURED
    assert payment.amount == order.total_amount


async def test_tampered_ticket_fails_verification(
    services: Services, keys: KeyStore, on_sale: EventFixture
) -> None:
    order = await pay(
        services, await held_order(services, on_sale, seat_ids(on_sale)[:1])
    )
    (ticket,) = await order_tickets(services, order.id)
    header, payload, signature = ticket.signed_payload.split(".")
    forged = f"{header}.{payload[:-4]}AAAA.{signature}"

    with pytest.raises(InvalidTicket):
        verify_ticket(forged, KeySet.import_key_set(keys.public_jwks()))  # type: ignore[arg-type]


async def test_declined_payment_keeps_order_payable(
    services: Services, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:1])

    with pytest.raises(errors.PaymentDeclined) as declined:
        await pay(services, order, "tok_decline_funds")

    assert declined.value.decline_code == "insufficient_funds"
    assert (await get_order(services, "buyer-a", order.id)).status is (
        OrderStatus.AWAITING_PAYMENT
    )
    paid = await pay(services, order)
    assert paid.status is OrderStatus.PAID
    statuses = [payment.status for payment in await payments_of(services, order)]
    assert statuses == [PaymentStatus.DECLINED, PaymentStatus.CAPTURED]


async def test_failed_payment_retry_with_same_key_charges_once(
    services: Services, payments: SandboxProvider, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:1])
    key = new_key()

    with pytest.raises(errors.PaymentFailed):
        await pay(services, order, "tok_error_once", key=key)
    paid = await pay(services, order, "tok_error_once", key=key)

    assert paid.status is OrderStatus.PAID
    assert len(payments.captured_references) == 1
    (payment,) = await payments_of(services, order)
    assert payment.status is PaymentStatus.CAPTURED
    # The same key with another token is another request.
    with pytest.raises(errors.IdempotencyKeyReused):
        await pay(services, order, "tok_approve", key=key)


async def test_pay_is_idempotent(services: Services, on_sale: EventFixture) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:2])
    key = new_key()

    first = await pay(services, order, key=key)
    again = await pay(services, order, key=key)

    assert again.id == first.id
    assert again.status is OrderStatus.PAID
    assert len(await payments_of(services, order)) == 1
    assert len(await order_tickets(services, order.id)) == 2


async def test_second_payment_of_paid_order_is_rejected(
    services: Services, on_sale: EventFixture
) -> None:
    order = await pay(
        services, await held_order(services, on_sale, seat_ids(on_sale)[:1])
    )

    with pytest.raises(errors.InvalidState, match="paid"):
        await pay(services, order)


async def test_late_payment_reacquires_free_seats(
    services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:2])
    clock.advance(services.settings.payment_window_seconds + 1)
    while sum((await sweep(services)).__dict__.values()):
        pass
    assert (
        await get_order(services, "buyer-a", order.id)
    ).status is OrderStatus.EXPIRED
    assert SeatStatus.HELD not in await seat_status_counts(services, on_sale)

    paid = await pay(services, order)

    assert paid.status is OrderStatus.PAID
    assert (await seat_status_counts(services, on_sale))[SeatStatus.SOLD] == 2
    assert len(await order_tickets(services, order.id)) == 2


async def test_late_payment_before_sweeper_sells_seats(
    services: Services, clock: ManualClock, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:2])
    clock.advance(services.settings.payment_window_seconds + 1)

    paid = await pay(services, order)

    assert paid.status is OrderStatus.PAID


async def test_late_payment_refunded_when_seats_taken(
    services: Services,
    clock: ManualClock,
    payments: SandboxProvider,
    on_sale: EventFixture,
) -> None:
    seats = seat_ids(on_sale)[:2]
    order = await held_order(services, on_sale, seats)
    clock.advance(services.settings.payment_window_seconds + 1)
    await held_order(services, on_sale, seats[1:2], buyer="buyer-b")

    with pytest.raises(errors.SeatsUnavailable) as raised:
        await pay(services, order)

    assert raised.value.refunded is True
    assert raised.value.seat_ids == [seats[1]]
    assert (
        await get_order(services, "buyer-a", order.id)
    ).status is OrderStatus.REFUNDED
    (payment,) = await payments_of(services, order)
    assert payment.status is PaymentStatus.REFUNDED
    assert payment.provider_reference in payments.refunded_references
    while sum((await sweep(services)).__dict__.values()):
        pass
    counts = await seat_status_counts(services, on_sale)
    assert counts.get(SeatStatus.SOLD, 0) == 0
    assert counts[SeatStatus.HELD] == 1


async def test_cancel_unpaid_order_releases_seats(
    services: Services, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:2])

    cancelled = await cancel_order(services, "buyer-a", order.id)
    again = await cancel_order(services, "buyer-a", order.id)

    assert cancelled.status is OrderStatus.CANCELLED
    assert again.status is OrderStatus.CANCELLED
    assert SeatStatus.HELD not in await seat_status_counts(services, on_sale)
    async with services.sessions() as session:
        hold = await session.get(Hold, order.hold_id)
    assert hold is not None
    assert hold.status is HoldStatus.RELEASED


async def test_cancel_paid_order_refunds_and_voids_tickets(
    services: Services, payments: SandboxProvider, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)[:2]
    order = await pay(services, await held_order(services, on_sale, seats))

    cancelled = await cancel_order(services, "buyer-a", order.id)

    assert cancelled.status is OrderStatus.REFUNDED
    assert await order_tickets(services, order.id) == []
    (payment,) = await payments_of(services, order)
    assert payment.status is PaymentStatus.REFUNDED
    assert payments.refunded_references == [payment.provider_reference]
    assert SeatStatus.SOLD not in await seat_status_counts(services, on_sale)

    # The seats can be sold again, with new tickets.
    resold = await pay(
        services, await held_order(services, on_sale, seats, buyer="b2"), buyer="b2"
    )
    assert resold.status is OrderStatus.PAID
    async with services.sessions() as session:
        total = await session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.event_id == on_sale.event.id)
        )
    assert total == 4


async def test_other_buyer_cannot_see_or_pay_order(
    services: Services, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:1])

    with pytest.raises(errors.NotFound):
        await get_order(services, "buyer-b", order.id)
    with pytest.raises(errors.NotFound):
        await pay(services, order, buyer="buyer-b")
    with pytest.raises(errors.NotFound):
        await cancel_order(services, "buyer-b", order.id)


async def test_unknown_payment_token_is_invalid_input(
    services: Services, on_sale: EventFixture
) -> None:
    order = await held_order(services, on_sale, seat_ids(on_sale)[:1])

    with pytest.raises(errors.InvalidInput) as raised:
        await pay(services, order, "4242424242424242")

    assert raised.value.field == "payment.token"
    assert (await get_order(services, "buyer-a", order.id)).status is (
        OrderStatus.AWAITING_PAYMENT
    )


async def test_cancel_event_refunds_every_order(
    services: Services, payments: SandboxProvider, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    paid = await pay(services, await held_order(services, on_sale, seats[0:2]))
    unpaid = await held_order(services, on_sale, seats[4:6], buyer="buyer-b")

    event = await cancel_event(
        services, on_sale.event.id, organizer_id=on_sale.organizer_id
    )

    assert event.status is EventStatus.CANCELLED
    assert (
        await get_order(services, "buyer-a", paid.id)
    ).status is OrderStatus.REFUNDED
    assert (
        await get_order(services, "buyer-b", unpaid.id)
    ).status is OrderStatus.CANCELLED
    assert len(payments.refunded_references) == 1
    counts = await seat_status_counts(services, on_sale)
    assert set(counts) == {SeatStatus.AVAILABLE}


async def test_cancelled_event_takes_no_checkout_or_payment(
    services: Services, on_sale: EventFixture
) -> None:
    seats = seat_ids(on_sale)
    order = await held_order(services, on_sale, seats[0:1])
    hold = await hold_seats(
        services,
        "buyer-a",
        HoldRequest(
            event_id=on_sale.event.id, idempotency_key=new_key(), seat_ids=seats[2:3]
        ),
    )
    await change_event_status(
        services,
        on_sale.event.id,
        EventStatus.CANCELLED,
        organizer_id=on_sale.organizer_id,
    )

    with pytest.raises(errors.InvalidState, match="cancelled"):
        await checkout(services, "buyer-a", hold.id, new_key())
    with pytest.raises(errors.InvalidState, match="cancelled"):
        await pay(services, order)
