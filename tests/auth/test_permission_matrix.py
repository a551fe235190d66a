"""Every root field for every kind of caller: allowed, or the exact error code.

The fields are read from the schema, so a new query, mutation or
subscription fails `test_matrix_covers_every_field` until it has a row here.
Each mutation row gets a fresh event, hold and order, and the caller expected
to succeed goes last, so earlier callers cannot change the state it acts on.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from broadcaster import Broadcast
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from seatline.auth.keys import KeyStore
from seatline.auth.tokens import mint_token
from seatline.booking import holds, orders
from seatline.booking.events import block_seats
from seatline.booking.services import Services
from seatline.models import EventStatus
from seatline.runtime import build_services
from seatline.schema.root import build_schema
from seatline.venues.generate import theatre
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    DatabaseUnderTest,
    EventFixture,
    make_event,
    seat_ids,
    settings_for,
)
from tests.live import live_server

pytestmark = pytest.mark.slow

BUYER_SCOPES = ("events:read", "bookings:write", "orders:read")
ORGANIZER_SCOPES = ("events:read", "organizer")
# The caller expected to succeed on mutations comes last.
ROLES = (
    "none",
    "partner",
    "other_buyer",
    "other_organizer",
    "admin",
    "buyer",
    "organizer",
)
OK = "ok"
NULL = "null"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"


@dataclass
class World:
    """An event with a buyer's hold and order, and the other callers' ids."""

    event: EventFixture
    draft: EventFixture
    hold_id: str
    order_id: str
    blocked_seat: str
    free_seats: list[str]
    subjects: dict[str, str]

    def seat_for(self, role: str) -> str:
        return self.free_seats[ROLES.index(role)]


@dataclass
class Server:
    url: str
    services: Services
    keys: KeyStore

    def token(self, world: World, role: str) -> str | None:
        if role == "none":
            return None
        scopes = {
            "buyer": BUYER_SCOPES,
            "other_buyer": BUYER_SCOPES,
            "organizer": ORGANIZER_SCOPES,
            "other_organizer": ORGANIZER_SCOPES,
            "partner": ("events:read", "partner:stream"),
            "admin": ("admin",),
        }[role]
        return mint_token(
            self.keys,
            subject=world.subjects[role],
            scopes=list(scopes),
            issuer=ISSUER,
            audience=AUDIENCE,
        )


@pytest.fixture(scope="module")
async def server(
    oauth_database: DatabaseUnderTest,
    keys: KeyStore,
    key_file: Path,
) -> AsyncIterator[Server]:
    services = build_services(
        settings_for(oauth_database, key_file),
        oauth_database.engine,
        Broadcast("memory://"),
        keys,
    )
    async with live_server(
        oauth_database.url, key_file, issuer=ISSUER, audience=AUDIENCE
    ) as url:
        yield Server(url, services, keys)


async def make_world(services: Services) -> World:
    event = await make_event(services, rows=2, seats_per_row=10)
    seats = seat_ids(event)
    buyer = f"buyer-{secrets.token_hex(4)}"

    hold = await holds.hold_seats(
        services,
        buyer,
        holds.HoldRequest(event.event.id, str(uuid.uuid4()), seat_ids=seats[:1]),
    )
    to_pay = await holds.hold_seats(
        services,
        buyer,
        holds.HoldRequest(event.event.id, str(uuid.uuid4()), seat_ids=seats[1:2]),
    )
    order = await orders.checkout(services, buyer, to_pay.id, str(uuid.uuid4()))
    await block_seats(
        services, event.event.id, seats[2:3], organizer_id=event.organizer_id
    )

    subjects = {
        "buyer": buyer,
        "other_buyer": f"buyer-{secrets.token_hex(4)}",
        "organizer": event.organizer_id,
        "other_organizer": f"organizer-{secrets.token_hex(4)}",
        "partner": f"sl-partner-{secrets.token_hex(4)}",
        "admin": f"admin-{secrets.token_hex(4)}",
    }

    # make_event picks a new organizer; the draft must be the same one's.
    own_draft = await make_event(
        services, rows=1, seats_per_row=4, status=EventStatus.DRAFT
    )
    await _reassign(services, own_draft, event.organizer_id)

    return World(
        event=event,
        draft=own_draft,
        hold_id=str(hold.id),
        order_id=str(order.id),
        blocked_seat=seats[2],
        free_seats=seats[3 : 3 + len(ROLES)],
        subjects=subjects,
    )


async def _reassign(services: Services, fixture: EventFixture, organizer: str) -> None:
    from seatline.models import Event, Venue

    async with services.transaction() as session:
        event = await session.get(Event, fixture.event.id)
        venue = await session.get(Venue, fixture.venue.id)
        assert event is not None
        assert venue is not None
        event.organizer_id = organizer
        venue.organizer_id = organizer


@pytest.fixture(scope="module")
async def shared_world(server: Server) -> World:
    return await make_world(server.services)


def key() -> str:
    return str(uuid.uuid4())


RESULT = "__typename ... on Error { code }"


@dataclass(frozen=True)
class Case:
    document: str
    variables: Callable[[World, str], dict[str, Any]]
    expected: dict[str, str]
    # Queries and subscriptions change nothing, so they share one world.
    mutates: bool = True


def _expect(default: str, **overrides: str) -> dict[str, str]:
    return {role: overrides.get(role, default) for role in ROLES}


BOOKER_ON_OWN = _expect(
    FORBIDDEN, none=UNAUTHENTICATED, buyer=OK, other_buyer=NOT_FOUND, admin=NOT_FOUND
)
ORGANIZER_ON_OWN = _expect(
    FORBIDDEN,
    none=UNAUTHENTICATED,
    organizer=OK,
    other_organizer=NOT_FOUND,
    admin=NOT_FOUND,
)
READ_OWN = _expect(
    FORBIDDEN, none=UNAUTHENTICATED, buyer=OK, other_buyer=NULL, admin=NULL
)


NO_ROOM_FOR_BOOKERS = _expect(
    FORBIDDEN,
    none=UNAUTHENTICATED,
    buyer="INVALID_STATE",
    other_buyer="INVALID_STATE",
    admin="INVALID_STATE",
)


def _plan(world: World, role: str) -> dict[str, Any]:
    return {"input": {"plan": theatre(rows=1, seats_per_row=4)}}


def _create_event(world: World, role: str) -> dict[str, Any]:
    categories = [name for name, _ in world.event.venue.layout["categories"]]
    return {
        "input": {
            "venueId": str(world.event.venue.id),
            "name": "Matrix night",
            "startsAt": "2030-01-10T20:00:00+00:00",
            "timeZone": "Europe/Vienna",
            "saleStartsAt": "2029-12-01T00:00:00+00:00",
            "saleEndsAt": "2030-01-09T00:00:00+00:00",
            "currency": "EUR",
            "prices": [{"category": name, "amount": 1000} for name in categories],
            "holdDurationSeconds": 300,
            "maxSeatsPerOrder": 4,
            "maxSeatsPerBuyer": 4,
        }
    }


CASES: dict[tuple[str, str], Case] = {
    ("Query", "events"): Case(
        "query { events(first: 5) { edges { node { id } } } }",
        lambda w, r: {},
        _expect(OK),
        mutates=False,
    ),
    ("Query", "event"): Case(
        "query($id: ID!) { event(id: $id) { id } }",
        lambda w, r: {"id": w.event.id},
        _expect(OK),
        mutates=False,
    ),
    ("Query", "hold"): Case(
        "query($id: ID!) { hold(id: $id) { id } }",
        lambda w, r: {"id": w.hold_id},
        READ_OWN,
        mutates=False,
    ),
    ("Query", "order"): Case(
        "query($id: ID!) { order(id: $id) { id } }",
        lambda w, r: {"id": w.order_id},
        READ_OWN,
        mutates=False,
    ),
    ("Mutation", "registerBuyer"): Case(
        f"mutation($input: RegisterBuyerInput!) {{ registerBuyer(input: $input) "
        f"{{ {RESULT} }} }}",
        lambda w, r: {
            "input": {
                "email": f"{r}-{secrets.token_hex(4)}@example.com",
                "password": "matrix password",
            }
        },
        _expect(OK),
    ),
    ("Mutation", "createOAuthClient"): Case(
        f"mutation($input: CreateOAuthClientInput!) {{ createOAuthClient(input: "
        f"$input) {{ {RESULT} }} }}",
        lambda w, r: {
            "input": {
                "name": "Matrix partner",
                "type": "CONFIDENTIAL",
                "grantTypes": ["client_credentials"],
                "scopes": ["partner:stream"],
            }
        },
        _expect(FORBIDDEN, none=UNAUTHENTICATED, admin=OK),
    ),
    ("Mutation", "importVenue"): Case(
        f"mutation($input: ImportVenueInput!) {{ importVenue(input: $input) "
        f"{{ {RESULT} }} }}",
        _plan,
        _expect(
            FORBIDDEN, none=UNAUTHENTICATED, organizer=OK, other_organizer=OK, admin=OK
        ),
    ),
    ("Mutation", "createEvent"): Case(
        f"mutation($input: CreateEventInput!) {{ createEvent(input: $input) "
        f"{{ {RESULT} }} }}",
        _create_event,
        ORGANIZER_ON_OWN,
    ),
    ("Mutation", "publishEvent"): Case(
        f"mutation($id: ID!) {{ publishEvent(eventId: $id) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.draft.id},
        ORGANIZER_ON_OWN,
    ),
    ("Mutation", "closeSales"): Case(
        f"mutation($id: ID!) {{ closeSales(eventId: $id) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.event.id},
        ORGANIZER_ON_OWN,
    ),
    ("Mutation", "cancelEvent"): Case(
        f"mutation($id: ID!) {{ cancelEvent(eventId: $id) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.event.id},
        ORGANIZER_ON_OWN,
    ),
    ("Mutation", "blockSeats"): Case(
        f"mutation($input: SeatsInput!) {{ blockSeats(input: $input) {{ {RESULT} }} }}",
        lambda w, r: {"input": {"eventId": w.event.id, "seatIds": [w.seat_for(r)]}},
        ORGANIZER_ON_OWN,
    ),
    ("Mutation", "unblockSeats"): Case(
        f"mutation($input: SeatsInput!) {{ unblockSeats(input: $input) "
        f"{{ {RESULT} }} }}",
        lambda w, r: {"input": {"eventId": w.event.id, "seatIds": [w.blocked_seat]}},
        ORGANIZER_ON_OWN,
    ),
    ("Mutation", "holdSeats"): Case(
        f"mutation($input: HoldSeatsInput!) {{ holdSeats(input: $input) "
        f"{{ {RESULT} }} }}",
        lambda w, r: {
            "input": {
                "eventId": w.event.id,
                "seatIds": [w.seat_for(r)],
                "idempotencyKey": key(),
            }
        },
        _expect(FORBIDDEN, none=UNAUTHENTICATED, buyer=OK, other_buyer=OK, admin=OK),
    ),
    ("Mutation", "extendHold"): Case(
        f"mutation($id: ID!) {{ extendHold(holdId: $id) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.hold_id},
        BOOKER_ON_OWN,
    ),
    ("Mutation", "releaseHold"): Case(
        f"mutation($id: ID!) {{ releaseHold(holdId: $id) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.hold_id},
        BOOKER_ON_OWN,
    ),
    ("Mutation", "checkout"): Case(
        f"mutation($input: CheckoutInput!) {{ checkout(input: $input) "
        f"{{ {RESULT} }} }}",
        lambda w, r: {"input": {"holdId": w.hold_id, "idempotencyKey": key()}},
        BOOKER_ON_OWN,
    ),
    ("Mutation", "payOrder"): Case(
        f"mutation($input: PayOrderInput!) {{ payOrder(input: $input) "
        f"{{ {RESULT} }} }}",
        lambda w, r: {
            "input": {
                "orderId": w.order_id,
                "payment": {"token": "tok_approve"},
                "idempotencyKey": key(),
            }
        },
        BOOKER_ON_OWN,
    ),
    ("Mutation", "cancelOrder"): Case(
        f"mutation($id: ID!) {{ cancelOrder(orderId: $id) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.order_id},
        BOOKER_ON_OWN,
    ),
    ("Mutation", "configureWaitingRoom"): Case(
        f"mutation($id: ID!) {{ configureWaitingRoom(eventId: $id, "
        f"input: {{enabled: false}}) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.event.id},
        ORGANIZER_ON_OWN,
    ),
    # The matrix's event has no waiting room, so buyers get its error code.
    ("Mutation", "joinWaitingRoom"): Case(
        f"mutation($id: ID!) {{ joinWaitingRoom(eventId: $id) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.event.id},
        NO_ROOM_FOR_BOOKERS,
    ),
    ("Mutation", "leaveWaitingRoom"): Case(
        f"mutation($id: ID!) {{ leaveWaitingRoom(eventId: $id) {{ {RESULT} }} }}",
        lambda w, r: {"id": w.event.id},
        NO_ROOM_FOR_BOOKERS,
    ),
    ("Query", "waitingRoom"): Case(
        "query($id: ID!) { waitingRoom(eventId: $id) { state } }",
        lambda w, r: {"id": w.event.id},
        NO_ROOM_FOR_BOOKERS,
        mutates=False,
    ),
    ("Subscription", "waitingRoomUpdates"): Case(
        "subscription($id: ID!) { waitingRoomUpdates(eventId: $id) { state } }",
        lambda w, r: {"id": w.event.id},
        NO_ROOM_FOR_BOOKERS,
        mutates=False,
    ),
    ("Subscription", "seatMapUpdates"): Case(
        "subscription($id: ID!) { seatMapUpdates(eventId: $id) { kind } }",
        lambda w, r: {"id": w.event.id},
        _expect(OK),
        mutates=False,
    ),
    ("Subscription", "orderUpdates"): Case(
        "subscription { orderUpdates { status } }",
        lambda w, r: {},
        _expect(FORBIDDEN, none=UNAUTHENTICATED, buyer=OK, other_buyer=OK, admin=OK),
        mutates=False,
    ),
    ("Subscription", "eventSalesUpdates"): Case(
        "subscription($id: ID!) { eventSalesUpdates(eventId: $id) { version } }",
        lambda w, r: {"id": w.event.id},
        _expect(
            FORBIDDEN,
            none=UNAUTHENTICATED,
            organizer=OK,
            other_organizer=NOT_FOUND,
            partner=OK,
            admin=OK,
        ),
        mutates=False,
    ),
}


def test_matrix_covers_every_field() -> None:
    schema = build_schema()
    schema_fields = {
        (kind, schema.config.name_converter.get_graphql_name(field))
        for kind, root in (
            ("Query", schema.query),
            ("Mutation", schema.mutation),
            ("Subscription", schema.subscription),
        )
        for field in root.__strawberry_definition__.fields
    }

    assert schema_fields == set(CASES)


def outcome(body: dict[str, Any], field: str) -> str:
    errors = body.get("errors") or []
    if errors:
        return str(errors[0].get("extensions", {}).get("code"))
    value = (body.get("data") or {}).get(field)
    if value is None:
        return NULL
    if isinstance(value, dict) and "code" in value:
        return str(value["code"])
    return OK


async def run_http(server: Server, case: Case, world: World, role: str) -> str:
    token = server.token(world, role)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/graphql",
            json={"query": case.document, "variables": case.variables(world, role)},
            headers=headers,
        )
    assert response.status_code == 200, response.text
    return outcome(response.json(), _field_name(case.document))


async def run_subscription(server: Server, case: Case, world: World, role: str) -> str:
    request = GraphQLRequest(case.document, variable_values=case.variables(world, role))
    token = server.token(world, role)
    transport = WebsocketsTransport(
        url=server.url.replace("http://", "ws://") + "/graphql",
        init_payload={} if token is None else {"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        close_timeout=0.1,
    )
    async with Client(transport=transport) as session:
        stream = session.subscribe(request)
        try:
            await asyncio.wait_for(anext(stream), timeout=0.5)
        except TransportQueryError as error:
            extensions = (error.errors or [{}])[0].get("extensions") or {}
            return str(extensions.get("code"))
        except TimeoutError:
            # Order updates wait for an order to change: no error by now
            # means the subscription was accepted.
            return OK
    return OK


def _field_name(document: str) -> str:
    body = document[document.index("{") + 1 :].strip()
    return body.split("(")[0].split(" ")[0].split("{")[0]


@pytest.mark.parametrize(
    ("kind", "field"), sorted(CASES), ids=[f"{k}.{f}" for k, f in sorted(CASES)]
)
async def test_permission_matrix(
    server: Server, shared_world: World, kind: str, field: str
) -> None:
    case = CASES[(kind, field)]
    world = await make_world(server.services) if case.mutates else shared_world

    outcomes = {}
    for role in ROLES:
        if kind == "Subscription":
            outcomes[role] = await run_subscription(server, case, world, role)
        else:
            outcomes[role] = await run_http(server, case, world, role)

    assert outcomes == case.expected
