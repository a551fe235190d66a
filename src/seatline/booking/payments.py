"""Payment providers, and a sandbox that behaves like a gateway's test mode."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ChargeStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    # The provider could not decide; the charge did not happen.
    ERROR = "error"


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    reference: str | None = None
    decline_code: str | None = None


class PaymentProvider(Protocol):
    name: str

    async def charge(
        self, *, amount: int, currency: str, token: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge `amount` minor units; the same key never charges twice."""
        ...

    async def refund(
        self, *, reference: str, amount: int, idempotency_key: str
    ) -> None:
        """Refund a captured charge in full; the same key never refunds twice."""
        ...


class UnknownPaymentToken(ValueError):
    pass


# The sandbox's documented test tokens and what each does.
SANDBOX_TOKENS: dict[str, tuple[ChargeStatus, str | None]] = {
    "tok_approve": (ChargeStatus.APPROVED, None),
    "tok_decline_card": (ChargeStatus.DECLINED, "card_declined"),
    "tok_decline_funds": (ChargeStatus.DECLINED, "insufficient_funds"),
    "tok_decline_expired": (ChargeStatus.DECLINED, "expired_card"),
    "tok_error": (ChargeStatus.ERROR, None),
    # Fails the first attempt of each idempotency key, approves the retry.
    "tok_error_once": (ChargeStatus.APPROVED, None),
}


class SandboxProvider:
    """A payment provider without money: test tokens decide the outcome.

    Charges and refunds are remembered per idempotency key in this process,
    like a gateway would remember them, so a retried call returns the first
    result.
    """

    name = "sandbox"

    def __init__(self) -> None:
        self._charges: dict[str, ChargeResult] = {}
        self._refunds: set[str] = set()
        self._failed_once: set[str] = set()
        self.captured_references: list[str] = []
        self.refunded_references: list[str] = []
        self._lock = asyncio.Lock()

    async def charge(
        self, *, amount: int, currency: str, token: str, idempotency_key: str
    ) -> ChargeResult:
        if token not in SANDBOX_TOKENS:
            raise UnknownPaymentToken(
                f"unknown sandbox payment token; use one of {sorted(SANDBOX_TOKENS)}"
            )

        async with self._lock:
            known = self._charges.get(idempotency_key)
            if known is not None:
                return known

            flaky = token == "tok_error_once"  # noqa: S105 - a public sandbox token
            if flaky and idempotency_key not in self._failed_once:
                self._failed_once.add(idempotency_key)
                return ChargeResult(ChargeStatus.ERROR)

            status, decline_code = SANDBOX_TOKENS[token]
            reference = None
            if status is ChargeStatus.APPROVED:
                reference = f"sbx_ch_{secrets.token_hex(12)}"
                self.captured_references.append(reference)
            result = ChargeResult(status, reference, decline_code)
            # Errors are not remembered: a retry after an error charges anew.
            if status is not ChargeStatus.ERROR:
                self._charges[idempotency_key] = result
            return result

    async def refund(
        self, *, reference: str, amount: int, idempotency_key: str
    ) -> None:
        async with self._lock:
            if idempotency_key in self._refunds:
                return
            self._refunds.add(idempotency_key)
            self.refunded_references.append(reference)
