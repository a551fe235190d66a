"""Stored results of mutations, keyed by the caller's idempotency key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from seatline.models.base import Base


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    principal_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(50))
    # SHA-256 of the canonical request, to reject a key reused for another
    # request.
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)
