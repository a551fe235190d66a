"""Hand committed seat changes to the broadcast channel of their event."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from broadcaster import Broadcast

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeatChange:
    seat_id: str
    ordinal: int
    status: str


@dataclass(frozen=True)
class SeatChangeBatch:
    """All seat changes of one committed transaction, at one event version."""

    event_id: uuid.UUID
    version: int
    changes: list[SeatChange] = field(default_factory=list)

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "event_id": str(self.event_id),
                "version": self.version,
                "changes": [
                    {"seat_id": c.seat_id, "ordinal": c.ordinal, "status": c.status}
                    for c in self.changes
                ],
            }
        ).decode()


def seat_channel(event_id: uuid.UUID) -> str:
    return f"seatline:event:{event_id}:seats"


def order_channel(buyer_id: str) -> str:
    return f"seatline:buyer:{buyer_id}:orders"


@dataclass(frozen=True)
class OrderChange:
    order_id: uuid.UUID
    buyer_id: str
    event_id: uuid.UUID
    status: str

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "order_id": str(self.order_id),
                "event_id": str(self.event_id),
                "status": self.status,
            }
        ).decode()


class SeatChangePublisher:
    """Publish seat changes through broadcaster (Redis or in-process memory).

    Call `publish` only after the transaction that made the changes has
    committed, so subscribers never see a change that was rolled back.
    """

    def __init__(self, broadcast: Broadcast | Callable[[], Broadcast]) -> None:
        # A callable returns the current connection, which the supervisor
        # replaces after a reconnect.
        self._broadcast = broadcast if callable(broadcast) else lambda: broadcast

    @property
    def broadcast(self) -> Broadcast:
        return self._broadcast()

    async def publish_order(self, change: OrderChange) -> None:
        try:
            await self._broadcast().publish(
                order_channel(change.buyer_id), change.to_json()
            )
        except Exception:
            logger.warning(
                "publishing an order change failed",
                exc_info=True,
                extra={"order_id": str(change.order_id)},
            )

    async def publish(self, batch: SeatChangeBatch) -> None:
        try:
            await self._broadcast().publish(
                seat_channel(batch.event_id), batch.to_json()
            )
        except Exception:
            # The database holds the truth and subscribers resynchronise
            # from a snapshot when they see a version gap, so a lost publish
            # costs latency, not correctness.
            logger.warning(
                "publishing seat changes failed",
                exc_info=True,
                extra={"event_id": str(batch.event_id), "version": batch.version},
            )
