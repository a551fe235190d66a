"""Import a seating plan as a venue in one transaction."""

from __future__ import annotations

import logging
from typing import Any

from seatline.booking.services import Services
from seatline.booking.venues import import_venue
from seatline.models import Venue
from seatline.venues.plan import parse_plan

logger = logging.getLogger(__name__)


async def import_plan(
    services: Services, data: Any, *, organizer_id: str, name: str | None = None
) -> Venue:
    """Validate `data` as a seating plan and store it as the organizer's venue.

    Raises `PlanInvalid` naming each problem's JSON path; nothing is written
    then.
    """
    plan = parse_plan(data)
    async with services.transaction() as session:
        venue = await import_venue(
            session,
            plan,
            organizer_id=organizer_id,
            now=services.clock.now(),
            name=name,
        )
    logger.info(
        "venue imported",
        extra={"venue_id": str(venue.id), "seat_count": venue.seat_count},
    )
    return venue
