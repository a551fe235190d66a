"""create booking schema

Revision ID: 53900913d984
Revises:
Create Date: 2026-12-04 14:31:43.314064
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "53900913d984"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("principal_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=50), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "principal_id", "key", name=op.f("pk_idempotency_records")
        ),
    )
    op.create_index(
        op.f("ix_idempotency_records_created_at"),
        "idempotency_records",
        ["created_at"],
        unique=False,
    )

    op.create_table(
        "venues",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organizer_id", sa.String(length=255), nullable=False),
        sa.Column("seat_count", sa.Integer(), nullable=False),
        sa.Column("layout", sa.JSON(), nullable=False),
        sa.Column("layout_version", sa.String(length=64), nullable=False),
        sa.Column("focus_x", sa.Double(), nullable=False),
        sa.Column("focus_y", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venues")),
    )
    op.create_index(
        op.f("ix_venues_organizer_id"), "venues", ["organizer_id"], unique=False
    )

    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["venue_id"],
            ["venues.id"],
            name=op.f("fk_categories_venue_id_venues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint(
            "venue_id", "name", name=op.f("uq_categories_venue_id_name")
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "on_sale",
                "sales_closed",
                "cancelled",
                name="event_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("sale_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sale_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hold_duration_seconds", sa.Integer(), nullable=False),
        sa.Column("max_seats_per_order", sa.Integer(), nullable=False),
        sa.Column("max_seats_per_buyer", sa.Integer(), nullable=False),
        sa.Column("no_single_seat_gaps", sa.Boolean(), nullable=False),
        sa.Column("seat_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "hold_duration_seconds > 0", name=op.f("ck_events_hold_duration_positive")
        ),
        sa.CheckConstraint(
            "max_seats_per_buyer > 0", name=op.f("ck_events_max_per_buyer_positive")
        ),
        sa.CheckConstraint(
            "max_seats_per_order > 0", name=op.f("ck_events_max_per_order_positive")
        ),
        sa.CheckConstraint(
            "seat_version >= 0", name=op.f("ck_events_seat_version_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_events_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(
        op.f("ix_events_organizer_id"), "events", ["organizer_id"], unique=False
    )
    op.create_index(
        "ix_events_starts_at_id", "events", ["starts_at", "id"], unique=False
    )
    op.create_index(op.f("ix_events_venue_id"), "events", ["venue_id"], unique=False)

    op.create_table(
        "sections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["venue_id"],
            ["venues.id"],
            name=op.f("fk_sections_venue_id_venues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sections")),
        sa.UniqueConstraint(
            "venue_id", "ordinal", name=op.f("uq_sections_venue_id_ordinal")
        ),
    )
    op.create_table(
        "event_buyers",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_buyers_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "buyer_id", name=op.f("pk_event_buyers")),
    )
    op.create_table(
        "event_prices",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "amount >= 0", name=op.f("ck_event_prices_amount_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_event_prices_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_prices_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "event_id", "category_id", name=op.f("pk_event_prices")
        ),
    )
    op.create_table(
        "holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "released",
                "expired",
                "checked_out",
                name="hold_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seat_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_holds_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
    )
    op.create_index(op.f("ix_holds_buyer_id"), "holds", ["buyer_id"], unique=False)
    op.create_index(op.f("ix_holds_event_id"), "holds", ["event_id"], unique=False)
    op.create_index(
        "ix_holds_status_expires_at", "holds", ["status", "expires_at"], unique=False
    )

    op.create_table(
        "seats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("guid", sa.String(length=200), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("row_label", sa.String(length=100), nullable=False),
        sa.Column("row_ordinal", sa.Integer(), nullable=False),
        sa.Column("position_in_row", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("x", sa.Double(), nullable=False),
        sa.Column("y", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_seats_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["section_id"], ["sections.id"], name=op.f("fk_seats_section_id_sections")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"],
            ["venues.id"],
            name=op.f("fk_seats_venue_id_venues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seats")),
        sa.UniqueConstraint("venue_id", "guid", name=op.f("uq_seats_venue_id_guid")),
        sa.UniqueConstraint(
            "venue_id", "ordinal", name=op.f("uq_seats_venue_id_ordinal")
        ),
    )
    op.create_index(
        "ix_seats_venue_row",
        "seats",
        ["venue_id", "section_id", "row_ordinal"],
        unique=False,
    )

    op.create_table(
        "hold_seats",
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("seat_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["holds.id"],
            name=op.f("fk_hold_seats_hold_id_holds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name=op.f("fk_hold_seats_seat_id_seats")
        ),
        sa.PrimaryKeyConstraint("hold_id", "seat_id", name=op.f("pk_hold_seats")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.String(length=255), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "awaiting_payment",
                "paid",
                "expired",
                "cancelled",
                "refunded",
                name="order_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_amount", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payment_deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_orders_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_orders_hold_id_holds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_orders_hold_id")),
    )
    op.create_index(op.f("ix_orders_buyer_id"), "orders", ["buyer_id"], unique=False)
    op.create_index(op.f("ix_orders_event_id"), "orders", ["event_id"], unique=False)
    op.create_index(
        "ix_orders_status_deadline",
        "orders",
        ["status", "payment_deadline"],
        unique=False,
    )

    op.create_table(
        "event_seats",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("seat_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "available",
                "held",
                "sold",
                "blocked",
                name="seat_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("hold_id", sa.Uuid(), nullable=True),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(status = 'held') = (hold_id IS NOT NULL AND hold_expires_at IS NOT NULL)",
            name=op.f("ck_event_seats_held_has_hold"),
        ),
        sa.CheckConstraint(
            "(status = 'sold') = (order_id IS NOT NULL)",
            name=op.f("ck_event_seats_sold_has_order"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_seats_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_event_seats_hold_id_holds")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_event_seats_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name=op.f("fk_event_seats_seat_id_seats")
        ),
        sa.PrimaryKeyConstraint("event_id", "seat_id", name=op.f("pk_event_seats")),
        sa.UniqueConstraint(
            "event_id", "ordinal", name=op.f("uq_event_seats_event_id_ordinal")
        ),
    )
    op.create_index(
        "ix_event_seats_event_version",
        "event_seats",
        ["event_id", "version"],
        unique=False,
    )
    op.create_index("ix_event_seats_hold", "event_seats", ["hold_id"], unique=False)
    op.create_index("ix_event_seats_order", "event_seats", ["order_id"], unique=False)

    op.create_table(
        "order_items",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("seat_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_order_items_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name=op.f("fk_order_items_seat_id_seats")
        ),
        sa.PrimaryKeyConstraint("order_id", "seat_id", name=op.f("pk_order_items")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "captured",
                "declined",
                "failed",
                "refunded",
                name="payment_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider_reference", sa.String(length=200), nullable=True),
        sa.Column("decline_code", sa.String(length=100), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "order_id",
            "idempotency_key",
            name=op.f("uq_payments_order_id_idempotency_key"),
        ),
    )
    op.create_index(
        op.f("ix_payments_order_id"), "payments", ["order_id"], unique=False
    )

    op.create_table(
        "tickets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("seat_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("signed_payload", sa.String(length=2000), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_tickets_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_tickets_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name=op.f("fk_tickets_seat_id_seats")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("code", name=op.f("uq_tickets_code")),
    )
    op.create_index(op.f("ix_tickets_order_id"), "tickets", ["order_id"], unique=False)
    op.create_index(
        "uq_tickets_event_seat_valid",
        "tickets",
        ["event_id", "seat_id"],
        unique=True,
        postgresql_where=sa.text("voided_at IS NULL"),
        sqlite_where=sa.text("voided_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_tickets_event_seat_valid",
        postgresql_where=sa.text("voided_at IS NULL"),
        sqlite_where=sa.text("voided_at IS NULL"),
        table_name="tickets",
    )
    op.drop_index(op.f("ix_tickets_order_id"), table_name="tickets")

    op.drop_table("tickets")
    op.drop_index(op.f("ix_payments_order_id"), table_name="payments")

    op.drop_table("payments")
    op.drop_table("order_items")
    op.drop_index("ix_event_seats_order", table_name="event_seats")
    op.drop_index("ix_event_seats_hold", table_name="event_seats")
    op.drop_index("ix_event_seats_event_version", table_name="event_seats")

    op.drop_table("event_seats")
    op.drop_index("ix_orders_status_deadline", table_name="orders")
    op.drop_index(op.f("ix_orders_event_id"), table_name="orders")
    op.drop_index(op.f("ix_orders_buyer_id"), table_name="orders")

    op.drop_table("orders")
    op.drop_table("hold_seats")
    op.drop_index("ix_seats_venue_row", table_name="seats")

    op.drop_table("seats")
    op.drop_index("ix_holds_status_expires_at", table_name="holds")
    op.drop_index(op.f("ix_holds_event_id"), table_name="holds")
    op.drop_index(op.f("ix_holds_buyer_id"), table_name="holds")

    op.drop_table("holds")
    op.drop_table("event_prices")
    op.drop_table("event_buyers")
    op.drop_table("sections")
    op.drop_index(op.f("ix_events_venue_id"), table_name="events")
    op.drop_index("ix_events_starts_at_id", table_name="events")
    op.drop_index(op.f("ix_events_organizer_id"), table_name="events")

    op.drop_table("events")
    op.drop_table("categories")
    op.drop_index(op.f("ix_venues_organizer_id"), table_name="venues")

    op.drop_table("venues")
    op.drop_index(
        op.f("ix_idempotency_records_created_at"), table_name="idempotency_records"
    )

    op.drop_table("idempotency_records")
