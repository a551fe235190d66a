"""The per-request GraphQL context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.types import Info as StrawberryInfo

from seatline.auth.tokens import Principal
from seatline.booking.services import Services


@dataclass
class Context:
    """Per operation: services (never a shared session) and the caller."""

    services: Services
    principal: Principal | None
    request: Any = None
    response: Any = None
    # Live streams: the process's fan-out of seat changes and order topics.
    fanout: Any = None
    topics: Any = None
    # The connection_init payload of a websocket.
    connection_params: dict[str, Any] | None = None
    # Websocket bookkeeping: the key it counts against, and the timer that
    # closes it when its token expires.
    socket_key: str | None = None
    expiry_timer: Any = None


Info = StrawberryInfo[Context, None]
