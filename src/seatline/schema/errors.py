"""Typed errors returned as members of mutation result unions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import strawberry

from seatline.booking import errors as domain
from seatline.booking.services import busy_reason
from seatline.observability.graphql import record_error_code
from seatline.schema.enums import ErrorCode


@strawberry.interface(
    description="An expected failure: a code, a message and the field."
)
class Error:
    code: ErrorCode
    message: str
    field: str | None = strawberry.field(
        description="The input field at fault, as a dotted path, if one is."
    )


@strawberry.type
class InvalidInputError(Error):
    pass


@strawberry.type
class NotFoundError(Error):
    pass


@strawberry.type
class SeatsUnavailableError(Error):
    seat_ids: list[str] = strawberry.field(
        description="Requested seats that are not free."
    )
    refunded: bool = strawberry.field(
        description="True when a late payment was refunded because its seats were gone."
    )


@strawberry.type
class HoldExpiredError(Error):
    pass


@strawberry.type
class LimitExceededError(Error):
    limit: int


@strawberry.type
class SaleNotOpenError(Error):
    pass


@strawberry.type
class PaymentDeclinedError(Error):
    decline_code: str


@strawberry.type
class PaymentFailedError(Error):
    pass


@strawberry.type
class InvalidStateError(Error):
    pass


@strawberry.type
class IdempotencyKeyReusedError(Error):
    pass


@strawberry.type
class SingleSeatGapError(Error):
    seat_ids: list[str] = strawberry.field(
        description="Seats that would be left alone."
    )


@strawberry.type
class BusyError(Error):
    pass


@strawberry.type
class AdmissionRequiredError(Error):
    pass


@strawberry.type
class PlanProblem:
    path: str = strawberry.field(
        description="JSON path of the problem, such as $.zones[0].rows"
    )
    message: str


@strawberry.type
class PlanInvalidError(Error):
    problems: list[PlanProblem]


def to_graphql_error(error: domain.BookingError) -> Error:
    """Map a domain error to its GraphQL type."""
    common: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "field": error.field,
    }
    match error:
        case domain.SeatsUnavailable():
            return SeatsUnavailableError(
                **common, seat_ids=error.seat_ids, refunded=error.refunded
            )
        case domain.SingleSeatGap():
            return SingleSeatGapError(**common, seat_ids=error.seat_ids)
        case domain.LimitExceeded():
            return LimitExceededError(**common, limit=error.limit)
        case domain.PaymentDeclined():
            return PaymentDeclinedError(**common, decline_code=error.decline_code)
    simple: dict[domain.ErrorCode, type[Error]] = {
        domain.ErrorCode.INVALID_INPUT: InvalidInputError,
        domain.ErrorCode.NOT_FOUND: NotFoundError,
        domain.ErrorCode.HOLD_EXPIRED: HoldExpiredError,
        domain.ErrorCode.SALE_NOT_OPEN: SaleNotOpenError,
        domain.ErrorCode.PAYMENT_FAILED: PaymentFailedError,
        domain.ErrorCode.INVALID_STATE: InvalidStateError,
        domain.ErrorCode.IDEMPOTENCY_KEY_REUSED: IdempotencyKeyReusedError,
        domain.ErrorCode.BUSY: BusyError,
        domain.ErrorCode.ADMISSION_REQUIRED: AdmissionRequiredError,
    }
    return simple[error.code](**common)


P = ParamSpec("P")
R = TypeVar("R")


def returns_errors(
    resolver: Callable[P, Awaitable[R]],
) -> Callable[P, Awaitable[R | Error]]:
    """Turn domain errors raised by `resolver` into typed union members."""

    @wraps(resolver)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Error:
        try:
            return await resolver(*args, **kwargs)
        except domain.BookingError as error:
            record_error_code(error.code.value)
            return to_graphql_error(error)
        except Exception as error:
            # Overload or a database outage outside a transaction, which a
            # retry may pass.
            reason = busy_reason(error)
            if reason is None:
                raise
            record_error_code(domain.ErrorCode.BUSY.value)
            return to_graphql_error(domain.Busy(reason))

    return wrapper


# Errors any mutation can return, added to every result union.
COMMON_ERRORS = (InvalidInputError, NotFoundError, InvalidStateError, BusyError)
