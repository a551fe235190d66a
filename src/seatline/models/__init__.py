"""SQLAlchemy models, one module per aggregate."""

from seatline.models.base import Base
from seatline.models.event import (
    Event,
    EventBuyer,
    EventPrice,
    EventSeat,
    EventStatus,
    SeatStatus,
)
from seatline.models.hold import Hold, HoldSeat, HoldStatus
from seatline.models.idempotency import IdempotencyRecord
from seatline.models.order import (
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentStatus,
    Ticket,
)
from seatline.models.venue import Category, Seat, Section, Venue

__all__ = [
    "Base",
    "Category",
    "Event",
    "EventBuyer",
    "EventPrice",
    "EventSeat",
    "EventStatus",
    "Hold",
    "HoldSeat",
    "HoldStatus",
    "IdempotencyRecord",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "Seat",
    "SeatStatus",
    "Section",
    "Ticket",
    "Venue",
]
