"""GraphQL enums, each wrapping its domain enum once."""

from __future__ import annotations

import strawberry

from seatline.models import EventStatus as DomainEventStatus
from seatline.models import HoldStatus as DomainHoldStatus
from seatline.models import OrderStatus as DomainOrderStatus
from seatline.models import SeatStatus as DomainSeatStatus

EventStatus = strawberry.enum(DomainEventStatus, name="EventStatus")
SeatStatus = strawberry.enum(DomainSeatStatus, name="SeatStatus")
HoldStatus = strawberry.enum(DomainHoldStatus, name="HoldStatus")
OrderStatus = strawberry.enum(DomainOrderStatus, name="OrderStatus")
