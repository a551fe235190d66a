"""GraphQL enums: the domain enums, registered with Strawberry once."""

from __future__ import annotations

import strawberry

from seatline.booking.errors import ErrorCode
from seatline.models import EventStatus, HoldStatus, OrderStatus, SeatStatus

# strawberry.enum registers the class and returns it unchanged, so fields are
# annotated with the domain enums themselves.
strawberry.enum(EventStatus, name="EventStatus")
strawberry.enum(SeatStatus, name="SeatStatus")
strawberry.enum(HoldStatus, name="HoldStatus")
strawberry.enum(OrderStatus, name="OrderStatus")
strawberry.enum(ErrorCode, name="ErrorCode", description="Why a request failed.")

__all__ = ["ErrorCode", "EventStatus", "HoldStatus", "OrderStatus", "SeatStatus"]
