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


Info = StrawberryInfo[Context, None]
