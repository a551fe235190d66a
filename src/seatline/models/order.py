"""Orders, their items, payments and tickets."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from seatline.models.base import Base, new_id
from seatline.models.event import _enum


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    # The payment deadline passed without a payment; the seats were released.
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    # Paid, then refunded: by cancellation or because a late payment found
    # its seats taken.
    REFUNDED = "refunded"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    CAPTURED = "captured"
    DECLINED = "declined"
    FAILED = "failed"
    REFUNDED = "refunded"


class Order(Base):
    __tablename__ = "orders"
    __allow_unmapped__ = True
    __table_args__ = (
        Index("ix_orders_status_deadline", "status", "payment_deadline"),
        UniqueConstraint("hold_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), index=True)
    buyer_id: Mapped[str] = mapped_column(String(255), index=True)
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("holds.id"))
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    currency: Mapped[str] = mapped_column(String(3))
    # Integer minor units.
    total_amount: Mapped[int]
    created_at: Mapped[datetime]
    payment_deadline: Mapped[datetime]
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)

    # Filled in by the service that paid the order, so that the API need not
    # read them again; None when not loaded. Tickets come with seat ids.
    seat_guids: list[str] | None = None
    tickets: list[tuple[Ticket, str]] | None = None


class OrderItem(Base):
    __tablename__ = "order_items"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    amount: Mapped[int]


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("order_id", "idempotency_key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(50))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[PaymentStatus] = mapped_column(
        _enum(PaymentStatus, "payment_status")
    )
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]
    # The provider's charge reference; never the card data or token.
    provider_reference: Mapped[str | None] = mapped_column(String(200), default=None)
    decline_code: Mapped[str | None] = mapped_column(String(100), default=None)
    refunded_at: Mapped[datetime | None] = mapped_column(default=None)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("code"),
        # At most one valid ticket per seat and event.
        Index(
            "uq_tickets_event_seat_valid",
            "event_id",
            "seat_id",
            unique=True,
            postgresql_where=text("voided_at IS NULL"),
            sqlite_where=text("voided_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"))
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id"))
    code: Mapped[str] = mapped_column(String(64))
    # Compact JWS over the ticket's facts, for QR codes verified offline.
    signed_payload: Mapped[str] = mapped_column(String(2000))
    issued_at: Mapped[datetime]
    voided_at: Mapped[datetime | None] = mapped_column(default=None)
