"""Shared GraphQL documents and setup for the observability tests."""

from __future__ import annotations

from pathlib import Path

from broadcaster import Broadcast

from seatline.auth.keys import KeyStore
from seatline.auth.tokens import mint_token
from seatline.runtime import build_services
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    DatabaseUnderTest,
    EventFixture,
    make_event,
    settings_for,
)

HOLD_SEATS = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) { __typename ... on Hold { id } ... on Error { code } }
}
"""
CHECKOUT = """
mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) { __typename ... on Order { id } ... on Error { code } }
}
"""
PAY = """
mutation Pay($input: PayOrderInput!) {
  payOrder(input: $input) { __typename ... on Order { status } ... on Error { code } }
}
"""


async def event_and_buyer(
    database: DatabaseUnderTest, keys: KeyStore, key_file: Path, buyer: str
) -> tuple[EventFixture, str]:
    """Create an on-sale event with the system clock, as a server process
    sees it, and return it with an access token for `buyer`."""
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    try:
        services = build_services(
            settings_for(database, key_file), database.engine, broadcast, keys
        )
        event = await make_event(services)
    finally:
        await broadcast.disconnect()
    token = mint_token(
        keys, subject=buyer, scopes=["bookings:write"], issuer=ISSUER, audience=AUDIENCE
    )
    return event, token
