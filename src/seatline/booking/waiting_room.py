"""Waiting rooms: queue buyers for an on-sale and admit them at the event's rate.

A buyer joins, reads their place until it is admitted, and then sends the
admission pass with `holdSeats`. The queue lives in the waiting-room store
(Redis in production); this module turns its places into what buyers see.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from seatline.booking.errors import AdmissionRequired, InvalidState, NotFound
from seatline.booking.events import ensure_sale_open, get_event
from seatline.booking.services import Services
from seatline.models import Event, EventStatus
from seatline.waiting_room.passes import AdmissionPass, InvalidPass
from seatline.waiting_room.store import Place, Visit, admitted_count


class RoomState(StrEnum):
    # Joined before the sale opens; the random order is drawn at opening.
    WAITING_FOR_SALE = "waiting_for_sale"
    QUEUED = "queued"
    ADMITTED = "admitted"
    # The pass lapsed unused; joining again queues the buyer at the end.
    ADMISSION_EXPIRED = "admission_expired"


@dataclass(frozen=True)
class RoomStatus:
    """A buyer's view of a waiting room at one moment."""

    event_id: uuid.UUID
    state: RoomState
    sale_starts_at: datetime
    # 1-based place in the queue, once the sale is open.
    position: int | None = None
    # Buyers ahead who are not admitted yet.
    people_ahead: int | None = None
    # Estimate from the admission rate, in seconds; 0 once admitted.
    expected_wait_seconds: int | None = None
    admission_pass: str | None = None
    pass_expires_at: datetime | None = None


@dataclass(frozen=True)
class WaitingRoom:
    """One event's waiting room, with the event's rules read once."""

    services: Services
    event_id: uuid.UUID
    sale_starts_at: datetime
    sale_ends_at: datetime
    admissions_per_minute: int
    pass_seconds: int

    async def join(self, buyer_id: str) -> RoomStatus:
        """Queue the buyer; a buyer already queued keeps their place."""
        now = self.services.clock.now()
        place = await self.services.waiting_rooms.join(self._visit(buyer_id, now))
        return self._status(buyer_id, place, now)

    async def status(self, buyer_id: str) -> RoomStatus | None:
        """Return the buyer's status, or None when they have not joined."""
        now = self.services.clock.now()
        place = await self.services.waiting_rooms.place(self._visit(buyer_id, now))
        return None if place is None else self._status(buyer_id, place, now)

    async def leave(self, buyer_id: str) -> None:
        """Take the buyer out of the queue; raise `NotFound` when not queued.

        A pass already issued stays valid until it expires, so leaving after
        admission does not admit the next buyer early.
        """
        now = self.services.clock.now()
        if not await self.services.waiting_rooms.leave(self._visit(buyer_id, now)):
            raise NotFound(
                f"you are not in the waiting room of event {self.event_id}",
                field="eventId",
            )

    def _visit(self, buyer_id: str, now: datetime) -> Visit:
        return Visit(
            event_key=str(self.event_id),
            buyer_id=buyer_id,
            now=now.timestamp(),
            opens_at=self.sale_starts_at.timestamp(),
            closes_at=self.sale_ends_at.timestamp(),
            admissions_per_minute=self.admissions_per_minute,
            pass_seconds=self.pass_seconds,
        )

    def _status(self, buyer_id: str, place: Place, now: datetime) -> RoomStatus:
        waiting = RoomStatus(
            event_id=self.event_id,
            state=RoomState.WAITING_FOR_SALE,
            sale_starts_at=self.sale_starts_at,
        )
        if now < self.sale_starts_at:
            return waiting

        position = place.rank + 1
        if place.admitted and place.admitted_at is not None:
            return self._admitted(waiting, buyer_id, place.admitted_at, position, now)

        # Place rank + 1 is admitted once the cursor reaches it.
        wait = (position - place.cursor) * 60 / self.admissions_per_minute
        return replace(
            waiting,
            state=RoomState.QUEUED,
            position=position,
            people_ahead=max(0, place.rank - admitted_count(place.cursor)),
            expected_wait_seconds=max(1, math.ceil(wait)),
        )

    def _admitted(
        self,
        waiting: RoomStatus,
        buyer_id: str,
        admitted_at: float,
        position: int,
        now: datetime,
    ) -> RoomStatus:
        expires_at = int(admitted_at + self.pass_seconds)
        admitted = replace(
            waiting,
            state=RoomState.ADMITTED,
            position=position,
            people_ahead=0,
            expected_wait_seconds=0,
            pass_expires_at=datetime.fromtimestamp(expires_at, UTC),
        )
        if expires_at <= now.timestamp():
            return replace(admitted, state=RoomState.ADMISSION_EXPIRED)
        admission = AdmissionPass(
            subject=buyer_id,
            event_id=str(self.event_id),
            issued_at=int(admitted_at),
            expires_at=expires_at,
        )
        return replace(admitted, admission_pass=self.services.passes.sign(admission))


async def open_waiting_room(services: Services, event_id: uuid.UUID) -> WaitingRoom:
    """Read the event's waiting-room rules; raise unless buyers may queue now."""
    now = services.clock.now()
    async with services.sessions() as session:
        event = await get_event(session, event_id)
    if not event.waiting_room_enabled:
        raise InvalidState(
            f"event {event_id} has no waiting room; hold seats directly",
            field="eventId",
        )
    # Buyers may queue before the sale opens, but not for a draft, closed or
    # cancelled event.
    if not (event.status is EventStatus.ON_SALE and now < event.sale_starts_at):
        ensure_sale_open(event, now)
    return WaitingRoom(
        services=services,
        event_id=event.id,
        sale_starts_at=event.sale_starts_at,
        sale_ends_at=event.sale_ends_at,
        admissions_per_minute=event.waiting_room_admissions_per_minute,
        pass_seconds=event.waiting_room_pass_seconds,
    )


def require_admission(
    services: Services,
    event: Event,
    buyer_id: str,
    admission_pass: str | None,
    now: datetime,
) -> None:
    """Raise `AdmissionRequired` unless the pass admits this buyer to `event`.

    Events without a waiting room need no pass.
    """
    if not event.waiting_room_enabled:
        return
    if not admission_pass:
        raise AdmissionRequired(
            f"event {event.id} has a waiting room: join it with joinWaitingRoom "
            "and send the admissionPass you get when you are admitted"
        )
    try:
        admission = services.passes.verify(admission_pass)
    except InvalidPass as error:
        raise AdmissionRequired(
            f"{error}; read waitingRoom for your current pass"
        ) from None
    if admission.event_id != str(event.id):
        raise AdmissionRequired(
            f"the admission pass is for event {admission.event_id}, not {event.id}"
        )
    if admission.subject != buyer_id:
        raise AdmissionRequired("the admission pass was issued to another buyer")
    if admission.expires_at <= now.timestamp():
        expired = datetime.fromtimestamp(admission.expires_at, UTC).isoformat()
        raise AdmissionRequired(
            f"the admission pass expired at {expired}; join the waiting room again"
        )
