"""Rate limits per client address, token subject and OAuth client.

Every GraphQL operation counts once against the caller's address, and with
a token also against its subject and its client. Operations that book
(`holdSeats`, `checkout`, `payOrder`) count against stricter limits too.
The counters live in `services.limiter` (Redis when configured, so all
processes share them). The `limits` library offers window strategies, not
token buckets. Its moving window, used here, has a token bucket's effect:
a burst up to the limit, then a steady rate.

Over a limit, the operation does not execute: it fails with the code
RATE_LIMITED, and an HTTP response gets status 429 and Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, get_operation_ast
from limits import RateLimitItem, parse
from redis.exceptions import RedisError
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from seatline.schema.documents import fragments_of, root_field_names

logger = logging.getLogger(__name__)

BOOKING_FIELDS = frozenset({"holdSeats", "checkout", "payOrder"})
# Maximum wait for the counters, in seconds, before an operation goes ahead
# uncounted.
LIMITER_TIMEOUT_SECONDS = 0.5


class RateLimited(Exception):
    """The caller went over a rate limit; `retry_after` is in seconds."""

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(f"too many requests ({limit} limit); retry in {retry_after} s")
        self.limit = limit
        self.retry_after = retry_after


def add_rate_limit_code(error: GraphQLError) -> None:
    """Give the error of a refused operation its code, limit and wait."""
    original = error.original_error
    if isinstance(original, RateLimited):
        error.extensions = {
            "code": "RATE_LIMITED",
            "field": None,
            "limit": original.limit,
            "retryAfter": original.retry_after,
        }


class _LimiterOutage:
    """Counts operations that went ahead because the limiter failed."""

    failures = 0


def _limiter_failed(error: Exception) -> None:
    _LimiterOutage.failures += 1
    failures = _LimiterOutage.failures
    # One traceback, then a line per thousand, so that an outage does not
    # flood the log.
    if failures == 1:
        logger.warning("rate limiter unavailable; requests pass", exc_info=error)
    elif failures % 1000 == 0:
        logger.warning("rate limiter still unavailable", extra={"failures": failures})


@dataclass(frozen=True)
class RatePolicy:
    """Limits in the `limits` notation, such as "600/minute"."""

    per_address: str
    per_subject: str
    per_client: str
    bookings_per_subject: str
    bookings_per_address: str

    def items(self) -> dict[str, RateLimitItem]:
        return {name: parse(value) for name, value in self.__dict__.items()}


class RateLimitExtension(SchemaExtension):
    def __init__(self, limits: dict[str, RateLimitItem]) -> None:
        # RatePolicy field name -> parsed limit.
        self.limits = limits

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        app_context = context.context
        limiter = app_context.services.limiter
        for name, identity in self._counters(app_context, _root_fields(context)):
            limit = self.limits[name]
            try:
                async with asyncio.timeout(LIMITER_TIMEOUT_SECONDS):
                    if await limiter.hit(limit, name, identity):
                        continue
                    retry_after = await limiter.retry_after(limit, name, identity)
            except (RedisError, OSError, TimeoutError) as error:
                # The counters are lost while Redis is down; buyers keep
                # buying rather than all failing until it is back.
                _limiter_failed(error)
                break
            logger.info(
                "rate limit reached", extra={"limit": name, "retry_after": retry_after}
            )
            response = app_context.response
            if isinstance(response, Response):
                response.status_code = 429
                response.headers["Retry-After"] = str(retry_after)
            raise RateLimited(name, retry_after)
        yield

    def _counters(self, context: Any, fields: set[str]) -> list[tuple[str, str]]:
        """Return the limits this operation counts against, with the caller's ids."""
        client = getattr(context.request, "client", None)
        address = client.host if client else "unknown"
        counters = [("per_address", address)]
        principal = context.principal
        if principal is not None:
            counters.append(("per_subject", principal.subject))
            if principal.client_id:
                counters.append(("per_client", principal.client_id))
        if fields & BOOKING_FIELDS:
            counters.append(("bookings_per_address", address))
            if principal is not None:
                counters.append(("bookings_per_subject", principal.subject))
        return counters


def _root_fields(context: Any) -> set[str]:
    document = context.graphql_document
    if document is None:
        return set()
    operation = get_operation_ast(document, context.operation_name)
    if operation is None:
        return set()
    return root_field_names(operation, fragments_of(document))
