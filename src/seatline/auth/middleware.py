"""ASGI middleware that validates bearer tokens on HTTP requests."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from seatline.auth.tokens import InvalidToken
from seatline.auth.validation import TokenValidator
from seatline.http_errors import send_error

logger = logging.getLogger(__name__)

PRINCIPAL_SCOPE_KEY = "seatline.principal"


class BearerTokenMiddleware:
    """Put the validated caller in scope["seatline.principal"].

    A request without a token passes through anonymously; a request with an
    invalid token gets 401 with a GraphQL-shaped error body, before any
    resolver runs.
    """

    def __init__(
        self,
        app: ASGIApp,
        validator: TokenValidator,
        skip_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.validator = validator
        # Paths whose Authorization header is not a bearer token, such as the
        # OAuth endpoints, where clients authenticate with HTTP Basic.
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefixes):
            await self.app(scope, receive, send)
            return

        scope[PRINCIPAL_SCOPE_KEY] = None
        header = _authorization(scope)
        if header is None:
            await self.app(scope, receive, send)
            return

        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _reject(send, "the Authorization header must be 'Bearer <token>'")
            return
        try:
            scope[PRINCIPAL_SCOPE_KEY] = await self.validator.validate(token.strip())
        except InvalidToken as error:
            logger.info("rejected bearer token", extra={"reason": str(error)})
            await _reject(send, str(error))
            return
        await self.app(scope, receive, send)


def _authorization(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


async def _reject(send: Send, message: str) -> None:
    await send_error(
        send,
        status=401,
        message=message,
        extensions={"code": "UNAUTHENTICATED"},
        headers=((b"www-authenticate", b'Bearer error="invalid_token"'),),
    )
