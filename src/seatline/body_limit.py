"""ASGI middleware that caps the size of HTTP request bodies.

A body larger than the caller's limit gets 413 before the application reads
it whole: at once when Content-Length declares it, or as soon as the streamed
body passes the limit. Organizers and admins get a larger limit, because
seating plans of stadiums are several megabytes of JSON.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seatline.auth.middleware import PRINCIPAL_SCOPE_KEY
from seatline.auth.tokens import Principal
from seatline.auth.tokens import Scope as TokenScope
from seatline.http_errors import send_error

logger = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, default: int, organizer: int) -> None:
        self.app = app
        self.default = default
        self.organizer = organizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        limit = self._limit(scope.get(PRINCIPAL_SCOPE_KEY))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reject(send, limit)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            logger.info("rejected request body over %d bytes", limit)
            if not started:
                await _reject(send, limit)

    def _limit(self, principal: Principal | None) -> int:
        if principal is not None and principal.has(TokenScope.ORGANIZER):
            return self.organizer
        return self.default


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(send: Send, limit: int) -> None:
    await send_error(
        send,
        status=413,
        message=f"the request body is larger than {limit} bytes",
        extensions={"code": "REQUEST_TOO_LARGE", "maximum": limit},
    )
