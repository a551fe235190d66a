"""Idempotency keys: the same key replays the first result and acts once.

The result is stored in the same transaction as the action, so a crash
leaves either both or neither. Two concurrent requests with one key both
run; the second fails on the record's primary key, rolls back everything it
did, and replays the first one's result.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import orjson
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seatline.booking.errors import (
    ERROR_CLASSES,
    TRANSIENT_ERRORS,
    BookingError,
    ErrorCode,
    IdempotencyKeyReused,
)
from seatline.booking.services import Services
from seatline.booking.validation import check_idempotency_key
from seatline.models import IdempotencyRecord

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Built once: a new statement per lookup cost more CPU time than running it.
_FIND_RECORD = select(
    IdempotencyRecord.operation,
    IdempotencyRecord.request_hash,
    IdempotencyRecord.result,
).where(
    IdempotencyRecord.principal_id == bindparam("principal_id"),
    IdempotencyRecord.key == bindparam("key"),
)


@dataclass(frozen=True)
class IdempotentCall:
    principal_id: str
    key: str
    operation: str
    request_hash: str

    @classmethod
    def create(
        cls, principal_id: str, key: str, operation: str, request: dict[str, Any]
    ) -> IdempotentCall:
        check_idempotency_key(key)
        canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS, default=str)
        return cls(principal_id, key, operation, hashlib.sha256(canonical).hexdigest())


async def find_result(
    session: AsyncSession, call: IdempotentCall
) -> dict[str, Any] | None:
    # On the connection, because the ORM layer of Session.execute costs
    # CPU time and adds nothing to a Core SELECT.
    connection = await session.connection()
    record = (
        await connection.execute(
            _FIND_RECORD, {"principal_id": call.principal_id, "key": call.key}
        )
    ).one_or_none()
    if record is None:
        return None
    if record.operation != call.operation or record.request_hash != call.request_hash:
        raise IdempotencyKeyReused(
            f"idempotency key {call.key!r} was already used for a different request; "
            "use a new key for a new request",
            field="idempotencyKey",
        )
    result: dict[str, Any] = record.result
    return result


def record_result(
    session: AsyncSession,
    call: IdempotentCall,
    result: dict[str, Any],
    services: Services,
) -> None:
    """Add the result to the caller's transaction."""
    session.add(IdempotencyRecord(**idempotency_row(call, result, services)))


def idempotency_row(
    call: IdempotentCall, result: dict[str, Any], services: Services
) -> dict[str, Any]:
    """Return the column values of the record that stores `result`."""
    return {
        "principal_id": call.principal_id,
        "key": call.key,
        "operation": call.operation,
        "request_hash": call.request_hash,
        "result": result,
        "created_at": services.clock.now(),
    }


def error_result(error: BookingError) -> dict[str, Any]:
    return {
        "error": error.code.value,
        "message": error.message,
        "field": error.field,
        "details": error.details(),
    }


def raise_stored_error(result: dict[str, Any]) -> None:
    """Raise the error stored in `result`, if it is one."""
    if "error" not in result:
        return
    cls = ERROR_CLASSES[ErrorCode(result["error"])]
    error = cls.__new__(cls)
    BookingError.__init__(error, result["message"], field=result["field"])
    for name, value in result["details"].items():
        setattr(error, name, value)
    raise error


class StoredResult(Exception):
    """The result stored for a key, found by an action in its own session."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("idempotency key already has a result")
        self.result = result


async def raise_if_stored(session: AsyncSession, call: IdempotentCall) -> None:
    """Raise `StoredResult` when the key of `call` already has a result.

    Raises `IdempotencyKeyReused` when the key was used for another request.
    """
    stored = await find_result(session, call)
    if stored is not None:
        raise StoredResult(stored)


async def run_idempotent(
    services: Services,
    call: IdempotentCall,
    perform: Callable[[], Awaitable[T]],
    replay: Callable[[dict[str, Any]], Awaitable[T]],
    *,
    lookup_first: bool = True,
) -> T:
    """Run `perform` once per key; later calls replay the stored result.

    `perform` must call `record_result` inside its own transaction. With
    `lookup_first=False`, `perform` must instead call `raise_if_stored` in
    its first session before it acts, which saves a session per call.
    """
    if lookup_first:
        stored = await _stored(services, call)
        if stored is not None:
            return await replay(stored)

    try:
        return await perform()
    except StoredResult as found:
        return await replay(found.result)
    except IntegrityError:
        stored = await _stored(services, call)
        if stored is None:
            raise
        return await replay(stored)
    except BookingError as error:
        # A concurrent request with the same key may have won; replay it.
        stored = await _stored(services, call)
        if stored is not None:
            return await replay(stored)
        if not isinstance(error, (*TRANSIENT_ERRORS, IdempotencyKeyReused)):
            await _store_error(services, call, error)
        raise


async def _stored(services: Services, call: IdempotentCall) -> dict[str, Any] | None:
    async with services.sessions() as session:
        return await find_result(session, call)


async def _store_error(
    services: Services, call: IdempotentCall, error: BookingError
) -> None:
    try:
        async with services.transaction() as session:
            record_result(session, call, error_result(error), services)
    except IntegrityError:
        logger.debug(
            "idempotency record already stored", extra={"operation": call.operation}
        )


async def purge_expired_records(services: Services) -> int:
    """Delete records older than the configured time to live."""
    cutoff = services.clock.now() - timedelta(
        hours=services.settings.idempotency_key_ttl_hours
    )
    async with services.transaction() as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__ = [
    "IdempotentCall",
    "StoredResult",
    "error_result",
    "find_result",
    "idempotency_row",
    "purge_expired_records",
    "raise_if_stored",
    "raise_stored_error",
    "record_result",
    "run_idempotent",
]
