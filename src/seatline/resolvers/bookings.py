"""Resolvers for holds, orders and payments."""

from __future__ import annotations

from typing import Annotated

import strawberry

from seatline.booking import holds as hold_service
from seatline.booking import orders as order_service
from seatline.booking.best_available import BestAvailableRequest
from seatline.booking.errors import NotFound
from seatline.resolvers.common import principal
from seatline.schema.context import Info
from seatline.schema.errors import (
    AdmissionRequiredError,
    BusyError,
    HoldExpiredError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    InvalidStateError,
    LimitExceededError,
    NotFoundError,
    PaymentDeclinedError,
    PaymentFailedError,
    SaleNotOpenError,
    SeatsUnavailableError,
    SingleSeatGapError,
    returns_errors,
)
from seatline.schema.inputs import CheckoutInput, HoldSeatsInput, PayOrderInput
from seatline.schema.types import Hold, Order, parse_id

HoldSeatsResult = Annotated[
    Hold
    | AdmissionRequiredError
    | SeatsUnavailableError
    | LimitExceededError
    | SaleNotOpenError
    | SingleSeatGapError
    | IdempotencyKeyReusedError
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | BusyError,
    strawberry.union("HoldSeatsResult"),
]
HoldResult = Annotated[
    Hold
    | HoldExpiredError
    | LimitExceededError
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | BusyError,
    strawberry.union("HoldResult"),
]
CheckoutResult = Annotated[
    Order
    | HoldExpiredError
    | IdempotencyKeyReusedError
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | BusyError,
    strawberry.union("CheckoutResult"),
]
PayOrderResult = Annotated[
    Order
    | PaymentDeclinedError
    | PaymentFailedError
    | SeatsUnavailableError
    | IdempotencyKeyReusedError
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | BusyError,
    strawberry.union("PayOrderResult"),
]
CancelOrderResult = Annotated[
    Order | InvalidInputError | NotFoundError | InvalidStateError | BusyError,
    strawberry.union("CancelOrderResult"),
]


@returns_errors
async def hold_seats(info: Info, input: HoldSeatsInput) -> HoldSeatsResult:
    services = info.context.services
    best = input.best_available
    request = hold_service.HoldRequest(
        event_id=parse_id(input.event_id, "eventId"),
        idempotency_key=input.idempotency_key,
        admission_pass=input.admission_pass,
        seat_ids=input.seat_ids,
        best_available=None
        if best is None
        else BestAvailableRequest(
            count=best.count,
            category=best.category,
            section=best.section,
            adjacent=best.adjacent,
        ),
    )
    hold = await hold_service.hold_seats(services, principal(info).subject, request)
    return Hold.from_model(hold, services.clock.now())


@returns_errors
async def extend_hold(info: Info, hold_id: strawberry.ID) -> HoldResult:
    services = info.context.services
    hold = await hold_service.extend_hold(
        services, principal(info).subject, parse_id(hold_id, "holdId")
    )
    return Hold.from_model(hold, services.clock.now())


@returns_errors
async def release_hold(info: Info, hold_id: strawberry.ID) -> HoldResult:
    services = info.context.services
    hold = await hold_service.release_hold(
        services, principal(info).subject, parse_id(hold_id, "holdId")
    )
    return Hold.from_model(hold, services.clock.now())


@returns_errors
async def checkout(info: Info, input: CheckoutInput) -> CheckoutResult:
    order = await order_service.checkout(
        info.context.services,
        principal(info).subject,
        parse_id(input.hold_id, "holdId"),
        input.idempotency_key,
    )
    return Order.from_model(order)


@returns_errors
async def pay_order(info: Info, input: PayOrderInput) -> PayOrderResult:
    request = order_service.PaymentRequest(
        order_id=parse_id(input.order_id, "orderId"),
        token=input.payment.token,
        idempotency_key=input.idempotency_key,
    )
    order = await order_service.pay_order(
        info.context.services, principal(info).subject, request
    )
    return Order.from_model(order)


@returns_errors
async def cancel_order(info: Info, order_id: strawberry.ID) -> CancelOrderResult:
    order = await order_service.cancel_order(
        info.context.services, principal(info).subject, parse_id(order_id, "orderId")
    )
    return Order.from_model(order)


async def hold(info: Info, id: strawberry.ID) -> Hold | None:
    services = info.context.services
    try:
        found = await hold_service.get_hold(
            services, principal(info).subject, parse_id(id, "id")
        )
    except NotFound:
        return None
    return Hold.from_model(found, services.clock.now())


async def order(info: Info, id: strawberry.ID) -> Order | None:
    try:
        found = await order_service.get_order(
            info.context.services, principal(info).subject, parse_id(id, "id")
        )
    except NotFound:
        return None
    return Order.from_model(found)
