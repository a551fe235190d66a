"""ASGI middleware: request ids, one log line per request, HTTP metrics.

It also registers every websocket with the application's `Lifecycle`, so
that a draining server can close them with code 1012.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seatline.observability import metrics
from seatline.observability.logs import RequestLog, current_request
from seatline.observability.shutdown import Lifecycle, WebSocketConnection

logger = logging.getLogger("seatline.access")

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is kept when it is short and made of characters that
# are safe in logs and headers, such as UUIDs, ULIDs and nginx's $request_id.
# Any other value is replaced with a new id.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Probes and scrapes arrive every few seconds; their lines are DEBUG.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS"})


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _route(scope: Scope) -> str:
    route = scope.get("route")
    if route is None:
        # Rejected before routing (401, 413): find the route it was meant for.
        app = scope.get("app")
        for candidate in getattr(app, "routes", ()):
            if candidate.matches(scope)[0] is Match.FULL:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, lifecycle: Lifecycle) -> None:
        self.app = app
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = RequestLog(request_id_from(scope))
        token = current_request.set(request)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            self._record(scope, request, status, duration)
            current_request.reset(token)

    def _record(
        self, scope: Scope, request: RequestLog, status: int, duration: float
    ) -> None:
        route = _route(scope)
        method = scope["method"] if scope["method"] in _METHODS else "other"
        metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
        metrics.HTTP_DURATION.labels(route).observe(duration)
        outcome = request.outcome or ("ok" if status < 400 else "error")
        level = logging.DEBUG if route in _QUIET_ROUTES else logging.INFO
        logger.log(
            level,
            "%s %s %s",
            method,
            scope["path"],
            status,
            extra={
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
                "outcome": outcome,
            },
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = RequestLog(request_id_from(scope))
        token = current_request.set(request)
        connection = WebSocketConnection(send)
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "websocket.accept":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request.request_id.encode()))
                message = {**message, "headers": headers}
                metrics.WEBSOCKETS.inc()
            await connection.send(message)

        self.lifecycle.websockets.add(connection)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.lifecycle.websockets.discard(connection)
            if connection.accepted:
                metrics.WEBSOCKETS.dec()
            logger.info(
                "websocket closed",
                extra={
                    "path": scope["path"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "accepted": connection.accepted,
                },
            )
            current_request.reset(token)
