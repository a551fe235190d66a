"""GraphQL-shaped error responses for requests rejected before GraphQL runs."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Send

from seatline.observability.logs import current_request


def error_body(message: str, extensions: dict[str, Any]) -> bytes:
    """Encode one error in the GraphQL response format."""
    return orjson.dumps({"errors": [{"message": message, "extensions": extensions}]})


async def send_error(
    send: Send,
    *,
    status: int,
    message: str,
    extensions: dict[str, Any],
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """Send a complete JSON error response on a plain ASGI connection."""
    code = extensions.get("code")
    request = current_request.get()
    if request is not None and isinstance(code, str):
        # The access log's outcome, as for errors that GraphQL returns.
        request.outcome = code
    body = error_body(message, extensions)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
