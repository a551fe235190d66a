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
from seatline.models.oauth import (
    AuthorizationCode,
    BuyerAccount,
    ClientType,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
)
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
    "AuthorizationCode",
    "Base",
    "BuyerAccount",
    "Category",
    "ClientType",
    "Event",
    "EventBuyer",
    "EventPrice",
    "EventSeat",
    "EventStatus",
    "Hold",
    "HoldSeat",
    "HoldStatus",
    "IdempotencyRecord",
    "OAuthClient",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "RefreshToken",
    "RevokedAccessToken",
    "Seat",
    "SeatStatus",
    "Section",
    "Ticket",
    "Venue",
]
