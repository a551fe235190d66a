"""Checkout, payment, cancellation and tickets of orders."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seatline.booking.errors import (
    Busy,
    HoldExpired,
    InvalidInput,
    InvalidState,
    LimitExceeded,
    NotFound,
    PaymentDeclined,
    PaymentFailed,
    SeatsUnavailable,
)
from seatline.booking.events import change_event_status, get_event
from seatline.booking.holds import check_seat_limits, hold_status
from seatline.booking.idempotency import (
    IdempotentCall,
    raise_stored_error,
    record_result,
    run_idempotent,
)
from seatline.booking.payments import ChargeStatus, UnknownPaymentToken
from seatline.booking.seats import (
    SeatRef,
    bump_version,
    claim_seats,
    is_free,
    seat_refs,
)
from seatline.booking.services import Services
from seatline.booking.tickets import TicketFacts, new_ticket_code
from seatline.booking.validation import has_control_characters
from seatline.models import (
    Event,
    EventPrice,
    EventSeat,
    EventStatus,
    Hold,
    HoldSeat,
    HoldStatus,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentStatus,
    Seat,
    SeatStatus,
    Section,
    Ticket,
)
from seatline.observability import outcomes
from seatline.subscriptions.publisher import SeatChangeBatch

logger = logging.getLogger(__name__)

MAX_PAYMENT_TOKEN_LENGTH = 200


async def checkout(
    services: Services, buyer_id: str, hold_id: uuid.UUID, idempotency_key: str
) -> Order:
    """Turn an active hold into an order awaiting payment."""
    call = IdempotentCall.create(
        buyer_id, idempotency_key, "checkout", {"hold_id": str(hold_id)}
    )

    async def perform() -> Order:
        order = await _checkout(services, buyer_id, hold_id, call)
        outcomes.order_created()
        return order

    return await run_idempotent(
        services, call, perform, lambda r: _replay(services, buyer_id, r)
    )


async def _replay(services: Services, buyer_id: str, result: dict[str, Any]) -> Order:
    raise_stored_error(result)
    return await get_order(services, buyer_id, uuid.UUID(result["order_id"]))


async def _checkout(
    services: Services, buyer_id: str, hold_id: uuid.UUID, call: IdempotentCall
) -> Order:
    now = services.clock.now()
    async with services.transaction() as session:
        hold = await session.get(Hold, hold_id, with_for_update=True)
        if hold is None or hold.buyer_id != buyer_id:
            raise NotFound(f"hold {hold_id} not found", field="holdId")
        status = hold_status(hold, now)
        if status is HoldStatus.EXPIRED:
            raise HoldExpired(
                f"hold {hold_id} expired at {hold.expires_at.isoformat()}; "
                "hold the seats again",
                field="holdId",
            )
        if status is not HoldStatus.ACTIVE:
            raise InvalidState(f"hold {hold_id} is {status.value}", field="holdId")

        event = await get_event(session, hold.event_id)
        _ensure_not_cancelled(event)
        items = await _priced_items(session, event, hold.id)
        deadline = max(
            hold.expires_at,
            min(
                now + timedelta(seconds=services.settings.payment_window_seconds),
                hold.max_expires_at,
            ),
        )
        order = Order(
            event_id=event.id,
            buyer_id=buyer_id,
            hold_id=hold.id,
            status=OrderStatus.AWAITING_PAYMENT,
            currency=event.currency,
            total_amount=sum(amount for _, _, amount in items),
            created_at=now,
            payment_deadline=deadline,
        )
        session.add(order)
        await session.flush()
        session.add_all(
            OrderItem(
                order_id=order.id,
                seat_id=seat_id,
                category_id=category_id,
                amount=amount,
            )
            for seat_id, category_id, amount in items
        )
        hold.status = HoldStatus.CHECKED_OUT
        hold.expires_at = deadline
        # The seats stay held, now until the payment deadline.
        await session.execute(
            update(EventSeat)
            .where(EventSeat.hold_id == hold.id, EventSeat.status == SeatStatus.HELD)
            .values(hold_expires_at=deadline)
            .execution_options(synchronize_session=False)
        )
        record_result(session, call, {"order_id": str(order.id)}, services)
    await services.publish_order(order)
    return order


async def _priced_items(
    session: AsyncSession, event: Event, hold_id: uuid.UUID
) -> list[tuple[int, int, int]]:
    rows = await session.execute(
        select(Seat.id, Seat.category_id, EventPrice.amount)
        .join(HoldSeat, HoldSeat.seat_id == Seat.id)
        .join(
            EventPrice,
            (EventPrice.category_id == Seat.category_id)
            & (EventPrice.event_id == event.id),
        )
        .where(HoldSeat.hold_id == hold_id)
        .order_by(Seat.ordinal)
    )
    return [(row.id, row.category_id, row.amount) for row in rows]


async def get_order(services: Services, buyer_id: str, order_id: uuid.UUID) -> Order:
    async with services.sessions() as session:
        return await _own_order(session, buyer_id, order_id)


async def _own_order(
    session: AsyncSession, buyer_id: str, order_id: uuid.UUID, *, lock: bool = False
) -> Order:
    order = await session.get(Order, order_id, with_for_update=lock)
    if order is None or order.buyer_id != buyer_id:
        raise NotFound(f"order {order_id} not found", field="orderId")
    return order


@dataclass(frozen=True)
class PaymentRequest:
    order_id: uuid.UUID
    token: str
    idempotency_key: str


async def pay_order(
    services: Services, buyer_id: str, request: PaymentRequest
) -> Order:
    """Charge the order through the provider, then sell its seats.

    A payment that arrives after the order's deadline re-acquires the same
    seats when they are still free, and is refunded when they are not.
    """
    token = request.token
    # Checked before a payment is recorded, so a malformed token leaves no row.
    if not 1 <= len(token) <= MAX_PAYMENT_TOKEN_LENGTH or has_control_characters(token):
        raise InvalidInput(
            f"payment token must be 1 to {MAX_PAYMENT_TOKEN_LENGTH} characters "
            "without control characters",
            field="payment.token",
        )
    call = IdempotentCall.create(
        buyer_id,
        request.idempotency_key,
        "payOrder",
        # The token itself is a secret; only its hash is stored.
        {"order_id": str(request.order_id), "token": request.token},
    )

    async def perform() -> Order:
        return await _pay(services, buyer_id, request, call)

    return await run_idempotent(
        services, call, perform, lambda r: _replay(services, buyer_id, r)
    )


async def _pay(
    services: Services, buyer_id: str, request: PaymentRequest, call: IdempotentCall
) -> Order:
    payment = await _start_payment(services, buyer_id, request)
    try:
        charge = await services.payments.charge(
            amount=payment.amount,
            currency=payment.currency,
            token=request.token,
            idempotency_key=f"{payment.id}",
        )
    except UnknownPaymentToken as error:
        await _finish_payment(services, payment.id, PaymentStatus.FAILED)
        outcomes.payment_finished("rejected")
        raise InvalidInput(str(error), field="payment.token") from None

    if charge.status is ChargeStatus.DECLINED:
        decline_code = charge.decline_code or "declined"
        await _finish_payment(
            services, payment.id, PaymentStatus.DECLINED, decline_code=decline_code
        )
        outcomes.payment_finished("declined")
        raise PaymentDeclined(
            f"the payment was declined ({decline_code}); use another payment method",
            decline_code=decline_code,
        )
    if charge.status is ChargeStatus.ERROR or charge.reference is None:
        await _finish_payment(services, payment.id, PaymentStatus.FAILED)
        outcomes.payment_finished("failed")
        raise PaymentFailed(
            "the payment provider failed; retry with the same idempotency key"
        )

    return await _capture(
        services, buyer_id, request.order_id, payment.id, charge.reference, call
    )


async def _start_payment(
    services: Services, buyer_id: str, request: PaymentRequest
) -> Payment:
    """Record a pending payment before charging, so no charge goes unrecorded.

    A retry with the same key after a provider failure reuses the payment,
    whose id is the provider's idempotency key, so it is never charged twice.
    """
    now = services.clock.now()
    async with services.transaction() as session:
        order = await _own_order(session, buyer_id, request.order_id, lock=True)
        if order.status not in (OrderStatus.AWAITING_PAYMENT, OrderStatus.EXPIRED):
            raise InvalidState(
                f"order {order.id} is {order.status.value} and cannot be paid",
                field="orderId",
            )
        _ensure_not_cancelled(await get_event(session, order.event_id))
        payment = await session.scalar(
            select(Payment).where(
                Payment.order_id == order.id,
                Payment.idempotency_key == request.idempotency_key,
            )
        )
        if payment is not None:
            payment.status = PaymentStatus.PENDING
            return payment
        payment = Payment(
            order_id=order.id,
            provider=services.payments.name,
            idempotency_key=request.idempotency_key,
            status=PaymentStatus.PENDING,
            amount=order.total_amount,
            currency=order.currency,
            created_at=now,
        )
        session.add(payment)
    return payment


async def _finish_payment(
    services: Services,
    payment_id: uuid.UUID,
    status: PaymentStatus,
    *,
    decline_code: str | None = None,
) -> None:
    async with services.transaction() as session:
        await session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(status=status, decline_code=decline_code)
        )


class _SeatsGone(Exception):
    def __init__(self, seat_ids: list[str], reason: str | None = None) -> None:
        super().__init__("seats taken")
        self.seat_ids = seat_ids
        # Why the order cannot have its seats, when not because they were sold.
        self.reason = reason


async def _capture(
    services: Services,
    buyer_id: str,
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    reference: str,
    call: IdempotentCall,
) -> Order:
    now = services.clock.now()
    try:
        async with services.transaction() as session:
            order = await _own_order(session, buyer_id, order_id, lock=True)
            if order.status not in (OrderStatus.AWAITING_PAYMENT, OrderStatus.EXPIRED):
                raise _SeatsGone([])
            refs = await _sell_seats(services, session, order, now)
            await session.execute(
                update(Payment)
                .where(Payment.id == payment_id)
                .values(status=PaymentStatus.CAPTURED, provider_reference=reference)
            )
            record_result(session, call, {"order_id": str(order.id)}, services)
            # Everything else is written before the version bump, which
            # locks the event row until the commit.
            await session.flush()
            batch = await bump_version(session, order.event_id, refs, SeatStatus.SOLD)
    except _SeatsGone as gone:
        return await _refund_unfulfilled(
            services, order_id, payment_id, reference, gone.seat_ids, gone.reason
        )

    outcomes.payment_finished("captured")
    await services.publish([batch])
    await services.publish_order(order)
    logger.info(
        "order paid", extra={"order_id": str(order_id), "payment_id": str(payment_id)}
    )
    return order


async def _sell_seats(
    services: Services, session: AsyncSession, order: Order, now: datetime
) -> list[SeatRef]:
    """Mark the order's seats sold and issue its tickets.

    The seats must still be held by the order's hold or be free again, as
    after a late payment; otherwise `_SeatsGone` rolls everything back.
    """
    seat_ids = list(
        await session.scalars(
            select(OrderItem.seat_id).where(OrderItem.order_id == order.id)
        )
    )
    if now >= order.payment_deadline:
        await _check_late_limits(session, order, len(seat_ids), now)
    ours = (EventSeat.hold_id == order.hold_id) & (EventSeat.status == SeatStatus.HELD)
    changed = await claim_seats(
        session,
        order.event_id,
        seat_ids,
        guard=ours | is_free(now),
        values={
            "status": SeatStatus.SOLD,
            "order_id": order.id,
            "hold_id": None,
            "hold_expires_at": None,
        },
    )
    refs = await seat_refs(session, seat_ids)
    if len(changed) != len(seat_ids):
        raise _SeatsGone([ref.guid for ref in refs if ref.seat_id not in changed])

    order.status = OrderStatus.PAID
    order.paid_at = now
    order.tickets = await _issue_tickets(services, session, order, now)
    order.seat_guids = [ref.guid for ref in sorted(refs, key=lambda ref: ref.ordinal)]
    return refs


async def _check_late_limits(
    session: AsyncSession, order: Order, count: int, now: datetime
) -> None:
    """Raise `_SeatsGone` if taking a lapsed order's seats again breaks a limit.

    Once the deadline passed, the order's seats no longer count for its buyer,
    who may have held or bought others up to the per-buyer limit since.
    """
    event = await get_event(session, order.event_id)
    try:
        await check_seat_limits(session, event, order.buyer_id, count, now)
    except LimitExceeded as error:
        raise _SeatsGone(
            [],
            reason=f"the hold expired, and taking its seats again would exceed "
            f"the limit of {error.limit} seats; the payment was refunded",
        ) from None


async def _issue_tickets(
    services: Services, session: AsyncSession, order: Order, now: datetime
) -> list[tuple[Ticket, str]]:
    """Add one ticket per seat of the order; return them with their seat ids."""
    event = await get_event(session, order.event_id)
    rows = await session.execute(
        select(Seat.id, Seat.guid, Seat.row_label, Seat.number, Section.name)
        .join(OrderItem, OrderItem.seat_id == Seat.id)
        .join(Section, Section.id == Seat.section_id)
        .where(OrderItem.order_id == order.id)
        .order_by(Seat.ordinal)
    )
    issued: list[tuple[Ticket, str]] = []
    for row in rows:
        ticket_id = uuid.uuid4()
        code = new_ticket_code()
        facts = TicketFacts(
            ticket_id=str(ticket_id),
            code=code,
            event_id=str(event.id),
            event_name=event.name,
            event_starts_at=event.starts_at,
            seat_id=row.guid,
            section=row.name,
            row=row.row_label,
            seat_number=row.number,
        )
        ticket = Ticket(
            id=ticket_id,
            order_id=order.id,
            event_id=event.id,
            seat_id=row.id,
            code=code,
            signed_payload=services.tickets.sign(facts),
            issued_at=now,
        )
        session.add(ticket)
        issued.append((ticket, row.guid))
    return issued


async def _refund_unfulfilled(
    services: Services,
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    reference: str,
    taken: list[str],
    reason: str | None = None,
) -> Order:
    """Refund a captured charge whose order cannot be fulfilled, then raise."""
    async with services.sessions() as session:
        payment = await session.get(Payment, payment_id)
        assert payment is not None
    await services.payments.refund(
        reference=reference,
        amount=payment.amount,
        idempotency_key=f"refund:{payment_id}",
    )
    now = services.clock.now()
    async with services.transaction() as session:
        order = await session.get(Order, order_id, with_for_update=True)
        assert order is not None
        await session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(
                status=PaymentStatus.REFUNDED,
                provider_reference=reference,
                refunded_at=now,
            )
        )
        unfulfilled = order.status in (
            OrderStatus.AWAITING_PAYMENT,
            OrderStatus.EXPIRED,
        )
        batch = None
        if unfulfilled:
            order.status = OrderStatus.REFUNDED
            # Seats of the lapsed hold that nobody took are still marked
            # held; give them back so subscribers see them free.
            batch = await _release_order_seats(session, order, now)
    outcomes.late_payment_refunded(order_refunded=unfulfilled)
    if batch is not None:
        await services.publish([batch])
    if unfulfilled:
        await services.publish_order(order)
    logger.warning(
        "payment refunded because its order could not be fulfilled",
        extra={"order_id": str(order_id), "payment_id": str(payment_id)},
    )
    if not unfulfilled:
        raise InvalidState(
            f"order {order_id} is {order.status.value}; this payment was refunded",
            field="orderId",
        )
    message = reason or (
        "the hold expired and some of its seats were sold to someone else; "
        f"the payment was refunded: {', '.join(taken[:20])}"
    )
    raise SeatsUnavailable(
        message,
        seat_ids=taken,
        field="orderId",
        refunded=True,
    )


async def cancel_order(services: Services, buyer_id: str, order_id: uuid.UUID) -> Order:
    """Cancel one of the buyer's orders: refund it when paid, free its seats.

    Cancelling an order that is already cancelled returns it unchanged.
    """
    async with services.sessions() as session:
        await _own_order(session, buyer_id, order_id)
    return await _cancel(services, order_id, by_organizer=False)


async def cancel_event_orders(services: Services, event_id: uuid.UUID) -> int:
    """Cancel and refund every open or paid order of a cancelled event."""
    cancelled = 0
    while True:
        async with services.sessions() as session:
            order_ids = list(
                await session.scalars(
                    select(Order.id)
                    .where(
                        Order.event_id == event_id,
                        Order.status.in_(
                            (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAID)
                        ),
                    )
                    .limit(100)
                )
            )
        if not order_ids:
            return cancelled
        for order_id in order_ids:
            await _cancel(services, order_id, by_organizer=True)
            cancelled += 1


async def _cancel(
    services: Services, order_id: uuid.UUID, *, by_organizer: bool
) -> Order:
    now = services.clock.now()
    async with services.sessions() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        event = await get_event(session, order.event_id)
        captured = await _captured_payment(session, order.id)
    seen_status = order.status
    if seen_status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        return order
    if seen_status is OrderStatus.EXPIRED:
        raise InvalidState(
            f"order {order_id} expired and holds nothing", field="orderId"
        )
    if seen_status is OrderStatus.PAID and now >= event.starts_at and not by_organizer:
        raise InvalidState(
            "the event has started; paid orders can no longer be cancelled",
            field="orderId",
        )

    # Refund before releasing the seats: if this request dies in between, a
    # retry refunds again under the same provider key, which does nothing.
    if captured is not None and captured.provider_reference is not None:
        await services.payments.refund(
            reference=captured.provider_reference,
            amount=captured.amount,
            idempotency_key=f"refund:{captured.id}",
        )

    async with services.transaction() as session:
        order = await session.get(Order, order_id, with_for_update=True)
        assert order is not None
        if order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
            return order
        if order.status is not seen_status:
            # Paid or expired since the first read: the refund decision above
            # may be wrong, so the caller starts over.
            raise Busy(f"order {order_id} changed while cancelling; retry")
        batch = await _release_order_seats(session, order, now)
        if captured is not None:
            await session.execute(
                update(Payment)
                .where(Payment.id == captured.id)
                .values(status=PaymentStatus.REFUNDED, refunded_at=now)
            )
        order.status = (
            OrderStatus.REFUNDED if captured is not None else OrderStatus.CANCELLED
        )
        order.cancelled_at = now
    outcomes.order_cancelled(refunded=captured is not None, by_organizer=by_organizer)
    if batch is not None:
        await services.publish([batch])
    await services.publish_order(order)
    logger.info(
        "order cancelled",
        extra={"order_id": str(order_id), "refunded": captured is not None},
    )
    return order


def _ensure_not_cancelled(event: Event) -> None:
    if event.status is EventStatus.CANCELLED:
        raise InvalidState(f"event {event.id} is cancelled", field="eventId")


async def cancel_event(
    services: Services, event_id: uuid.UUID, *, organizer_id: str
) -> Event:
    """Cancel the organizer's event and refund every order of it."""
    event = await change_event_status(
        services, event_id, EventStatus.CANCELLED, organizer_id=organizer_id
    )
    refunded = await cancel_event_orders(services, event_id)
    logger.info(
        "event cancelled", extra={"event_id": str(event_id), "orders": refunded}
    )
    return event


async def _captured_payment(
    session: AsyncSession, order_id: uuid.UUID
) -> Payment | None:
    captured: Payment | None = await session.scalar(
        select(Payment).where(
            Payment.order_id == order_id, Payment.status == PaymentStatus.CAPTURED
        )
    )
    return captured


async def _release_order_seats(
    session: AsyncSession, order: Order, now: datetime
) -> SeatChangeBatch | None:
    seat_ids = list(
        await session.scalars(
            select(OrderItem.seat_id).where(OrderItem.order_id == order.id)
        )
    )
    ours = (
        (EventSeat.order_id == order.id) & (EventSeat.status == SeatStatus.SOLD)
    ) | ((EventSeat.hold_id == order.hold_id) & (EventSeat.status == SeatStatus.HELD))
    changed = await claim_seats(
        session,
        order.event_id,
        seat_ids,
        guard=ours,
        values={
            "status": SeatStatus.AVAILABLE,
            "order_id": None,
            "hold_id": None,
            "hold_expires_at": None,
        },
    )
    await session.execute(
        update(Ticket)
        .where(Ticket.order_id == order.id, Ticket.voided_at.is_(None))
        .values(voided_at=now)
    )
    hold = await session.get(Hold, order.hold_id)
    if hold is not None and hold.status is HoldStatus.CHECKED_OUT:
        hold.status = HoldStatus.RELEASED
    if not changed:
        return None
    refs = await seat_refs(session, sorted(changed))
    return await bump_version(session, order.event_id, refs, SeatStatus.AVAILABLE)


async def order_tickets(services: Services, order_id: uuid.UUID) -> list[Ticket]:
    async with services.sessions() as session:
        rows = await session.scalars(
            select(Ticket)
            .where(Ticket.order_id == order_id, Ticket.voided_at.is_(None))
            .order_by(Ticket.issued_at, Ticket.id)
        )
        return list(rows)


async def order_seat_ids(services: Services, order_id: uuid.UUID) -> list[str]:
    async with services.sessions() as session:
        rows = await session.scalars(
            select(Seat.guid)
            .join(OrderItem, OrderItem.seat_id == Seat.id)
            .where(OrderItem.order_id == order_id)
            .order_by(Seat.ordinal)
        )
        return list(rows)
