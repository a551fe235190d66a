"""Hand committed seat changes to the broadcast channel of their event."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from broadcaster import Broadcast

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 1.0


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
                # For the delivery-lag metric of the processes that receive it.
                "published_at": time.time(),
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
        # Publishes that failed in a row. During an outage every request
        # fails one, so only the first is logged with its traceback.
        self._failures = 0

    @property
    def broadcast(self) -> Broadcast:
        return self._broadcast()

    async def publish_order(self, change: OrderChange) -> None:
        await self._send(
            order_channel(change.buyer_id),
            change.to_json(),
            "publishing an order change failed",
            {"order_id": str(change.order_id)},
        )

    async def publish(self, batch: SeatChangeBatch) -> None:
        # The database holds the truth and subscribers resynchronise from a
        # snapshot when they see a version gap, so a lost publish costs
        # latency, not correctness.
        await self._send(
            seat_channel(batch.event_id),
            batch.to_json(),
            "publishing seat changes failed",
            {"event_id": str(batch.event_id), "version": batch.version},
        )

    async def _send(
        self, channel: str, message: str, failure: str, ids: dict[str, object]
    ) -> None:
        try:
            # A Redis that accepts connections but never replies would
            # otherwise hold up the request that committed the change for
            # redis-py's socket timeout (5 seconds by default in redis-py 8).
            await asyncio.wait_for(
                self._broadcast().publish(channel, message), PUBLISH_TIMEOUT_SECONDS
            )
        except Exception as error:
            self._failures += 1
            if self._failures == 1:
                logger.warning(failure, exc_info=True, extra=ids)
            else:
                extra = {**ids, "failures": self._failures, "error": repr(error)}
                logger.debug(failure, extra=extra)
            return
        if self._failures:
            logger.info(
                "publishing works again", extra={"failed_publishes": self._failures}
            )
            self._failures = 0
