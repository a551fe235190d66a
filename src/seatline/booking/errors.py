"""Domain errors: expected failures that clients see as typed results."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    SEATS_UNAVAILABLE = "SEATS_UNAVAILABLE"
    HOLD_EXPIRED = "HOLD_EXPIRED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    SALE_NOT_OPEN = "SALE_NOT_OPEN"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    INVALID_STATE = "INVALID_STATE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    SINGLE_SEAT_GAP = "SINGLE_SEAT_GAP"
    BUSY = "BUSY"
    ADMISSION_REQUIRED = "ADMISSION_REQUIRED"


class BookingError(Exception):
    """An expected failure with a code, a message and the offending field."""

    code: ErrorCode = ErrorCode.INVALID_INPUT

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def details(self) -> dict[str, object]:
        """Extra facts for the client, stored with idempotent results."""
        return {}


class InvalidInput(BookingError):
    code = ErrorCode.INVALID_INPUT


class NotFound(BookingError):
    code = ErrorCode.NOT_FOUND


class SeatsUnavailable(BookingError):
    code = ErrorCode.SEATS_UNAVAILABLE

    def __init__(
        self,
        message: str,
        *,
        seat_ids: Sequence[str] = (),
        field: str | None = "seatIds",
        refunded: bool = False,
    ) -> None:
        super().__init__(message, field=field)
        self.seat_ids = list(seat_ids)
        self.refunded = refunded

    def details(self) -> dict[str, object]:
        return {"seat_ids": self.seat_ids, "refunded": self.refunded}


class HoldExpired(BookingError):
    code = ErrorCode.HOLD_EXPIRED


class LimitExceeded(BookingError):
    code = ErrorCode.LIMIT_EXCEEDED

    def __init__(self, message: str, *, limit: int, field: str | None) -> None:
        super().__init__(message, field=field)
        self.limit = limit

    def details(self) -> dict[str, object]:
        return {"limit": self.limit}


class SaleNotOpen(BookingError):
    code = ErrorCode.SALE_NOT_OPEN


class PaymentDeclined(BookingError):
    code = ErrorCode.PAYMENT_DECLINED

    def __init__(self, message: str, *, decline_code: str) -> None:
        super().__init__(message, field="payment")
        self.decline_code = decline_code

    def details(self) -> dict[str, object]:
        return {"decline_code": self.decline_code}


class PaymentFailed(BookingError):
    """The provider could not process the payment; retrying may succeed."""

    code = ErrorCode.PAYMENT_FAILED


class InvalidState(BookingError):
    """The action does not apply to the object in its current state."""

    code = ErrorCode.INVALID_STATE


class IdempotencyKeyReused(BookingError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class SingleSeatGap(BookingError):
    code = ErrorCode.SINGLE_SEAT_GAP

    def __init__(self, message: str, *, seat_ids: Sequence[str]) -> None:
        super().__init__(message, field="seatIds")
        self.seat_ids = list(seat_ids)

    def details(self) -> dict[str, object]:
        return {"seat_ids": self.seat_ids}


class Busy(BookingError):
    """A lock wait timed out; the same request may succeed on retry."""

    code = ErrorCode.BUSY


class AdmissionRequired(BookingError):
    """The event has a waiting room and the request lacks a valid pass."""

    code = ErrorCode.ADMISSION_REQUIRED

    def __init__(self, message: str) -> None:
        super().__init__(message, field="admissionPass")


# Errors that describe a passing condition; a retry with the same
# idempotency key runs the request again instead of replaying them.
TRANSIENT_ERRORS: tuple[type[BookingError], ...] = (
    Busy,
    PaymentFailed,
    AdmissionRequired,
)

ERROR_CLASSES: dict[ErrorCode, type[BookingError]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        NotFound,
        SeatsUnavailable,
        HoldExpired,
        LimitExceeded,
        SaleNotOpen,
        PaymentDeclined,
        PaymentFailed,
        InvalidState,
        IdempotencyKeyReused,
        SingleSeatGap,
        Busy,
        AdmissionRequired,
    )
}
