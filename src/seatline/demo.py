"""Demo data: a generated theatre, an event on sale now, and an OAuth client."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from broadcaster import Broadcast
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seatline import db
from seatline.auth.clients import hash_secret
from seatline.auth.keys import load_key_store
from seatline.booking.events import EventDraft, change_event_status, create_event
from seatline.booking.services import Services
from seatline.booking.venue_import import import_plan
from seatline.config import Settings
from seatline.models import ClientType, Event, EventStatus, OAuthClient, Venue
from seatline.runtime import build_services
from seatline.venues.generate import theatre

DEMO_ORGANIZER = "demo-organizer"
DEMO_EVENT_NAME = "Opening night (demo)"
DEMO_CLIENT_ID = "seatline-demo"
DEMO_CLIENT_SCOPES = ["bookings:write", "events:read", "orders:read", "partner:stream"]


@dataclass(frozen=True)
class DemoResult:
    event_id: str
    seat_count: int
    organizer_id: str
    client_id: str
    # A new secret on every run: only its hash is stored.
    client_secret: str


async def prepare_demo(settings: Settings) -> DemoResult:
    """Create the demo venue and event once; later runs reuse them."""
    engine = db.create_engine(settings)
    services = build_services(
        settings,
        engine,
        Broadcast("memory://"),
        load_key_store(settings.key_file, create=True),
    )
    try:
        async with services.sessions() as session:
            event = await session.scalar(
                select(Event).where(
                    Event.name == DEMO_EVENT_NAME, Event.organizer_id == DEMO_ORGANIZER
                )
            )
        if event is None:
            event = await _create_demo_event(services)
        async with services.sessions() as session:
            seat_count = await _seat_count(session, event)
        secret = await _reset_demo_client(services)
        return DemoResult(
            str(event.id), seat_count, DEMO_ORGANIZER, DEMO_CLIENT_ID, secret
        )
    finally:
        await engine.dispose()


async def _create_demo_event(services: Services) -> Event:
    now = services.clock.now()
    venue = await import_plan(services, theatre(), organizer_id=DEMO_ORGANIZER)
    categories = sorted(category for category, _ in venue.layout["categories"])
    prices = {name: 2500 + 1500 * index for index, name in enumerate(categories)}
    draft = EventDraft(
        venue_id=venue.id,
        name=DEMO_EVENT_NAME,
        starts_at=now + timedelta(days=30),
        time_zone="Europe/Berlin",
        sale_starts_at=now - timedelta(minutes=1),
        sale_ends_at=now + timedelta(days=30),
        currency="EUR",
        prices=prices,
        hold_duration_seconds=600,
        max_seats_per_order=8,
        max_seats_per_buyer=8,
        no_single_seat_gaps=True,
    )
    event = await create_event(services, draft, organizer_id=DEMO_ORGANIZER)
    return await change_event_status(
        services, event.id, EventStatus.ON_SALE, organizer_id=DEMO_ORGANIZER
    )


async def _seat_count(session: AsyncSession, event: Event) -> int:
    venue = await session.get(Venue, event.venue_id)
    assert venue is not None
    return venue.seat_count


async def _reset_demo_client(services: Services) -> str:
    """Create the demo's confidential client, or give it a new secret."""
    secret = secrets.token_urlsafe(32)
    async with services.transaction() as session:
        client = await session.get(OAuthClient, DEMO_CLIENT_ID)
        if client is None:
            client = OAuthClient(
                client_id=DEMO_CLIENT_ID,
                name="seatline demo",
                client_type=ClientType.CONFIDENTIAL,
                grant_types=["client_credentials"],
                redirect_uris=[],
                scopes=DEMO_CLIENT_SCOPES,
                created_by="demo",
                created_at=services.clock.now(),
            )
            session.add(client)
        client.secret_hash = hash_secret(secret)
    return secret
