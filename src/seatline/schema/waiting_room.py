"""GraphQL types of the waiting room."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from seatline.booking.waiting_room import RoomState, RoomStatus

strawberry.enum(RoomState, name="WaitingRoomState")


@strawberry.type(
    description="A buyer's place in an event's waiting room. Poll waitingRoom "
    "or subscribe to waitingRoomUpdates until the state is ADMITTED, then send "
    "admissionPass with holdSeats before passExpiresAt."
)
class WaitingRoomStatus:
    event_id: strawberry.ID
    state: RoomState
    sale_starts_at: datetime = strawberry.field(
        description="Buyers who join before this time are queued in random order."
    )
    position: int | None = strawberry.field(
        description="1-based place in the queue; null before the sale opens."
    )
    people_ahead: int | None = strawberry.field(
        description="Buyers ahead who are not admitted yet."
    )
    expected_wait_seconds: int | None = strawberry.field(
        description="An estimate from the admission rate; null before the sale opens."
    )
    admission_pass: str | None = strawberry.field(
        description="Send this as holdSeats' admissionPass; set when ADMITTED."
    )
    pass_expires_at: datetime | None

    @classmethod
    def from_domain(cls, status: RoomStatus) -> WaitingRoomStatus:
        return cls(
            event_id=strawberry.ID(str(status.event_id)),
            state=status.state,
            sale_starts_at=status.sale_starts_at,
            position=status.position,
            people_ahead=status.people_ahead,
            expected_wait_seconds=status.expected_wait_seconds,
            admission_pass=status.admission_pass,
            pass_expires_at=status.pass_expires_at,
        )


@strawberry.type(description="The caller left an event's waiting room.")
class WaitingRoomLeft:
    event_id: strawberry.ID


WaitingRoomStream = AsyncGenerator[WaitingRoomStatus, None]
