"""On-sale load test: concurrent buyers buy an event until it sells out.

The script runs against a running seatline server over HTTP. It imports a
venue from a seating plan through the importVenue mutation, then creates
and publishes an event on it. Then N buyers each repeat seat choice,
holdSeats, checkout and payOrder until the event is sold out or the time
limit passes. A share of the seat choices (--explicit-share, half by
default) picks seats from the seat map's availability encoding, and the rest
use bestAvailable. At the end it checks the database directly: no seat sold
twice, seat counts that add up to the capacity, one valid ticket per paid
seat, and the same sales as the buyers saw. The exit code is 1 when a check
fails, and 2 when setup fails.

Each buyer identity may buy at most --max-seats-per-buyer seats (the event's
maxSeatsPerBuyer), and a buyer whose next purchase would pass that limit
continues under a new identity, with a new subject and token. That keeps the
server's per-buyer limit and buyer lock in the measured path.

Example:

    SEATLINE_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench \\
        .venv/bin/python bench/onsale.py --url http://127.0.0.1:8123 \\
        --plan venue.json --buyers 200 --duration 300
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import random
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from seatline import db
from seatline.auth.keys import KeyStore, load_key_store
from seatline.auth.tokens import mint_token
from seatline.booking.availability import STATUS_CODES, unpack_statuses
from seatline.config import Environment, Settings
from seatline.models import (
    Event,
    EventSeat,
    Order,
    OrderItem,
    OrderStatus,
    Seat,
    SeatStatus,
    Ticket,
    Venue,
)
from seatline.venues.generate import stadium

IMPORT_VENUE = """
mutation ImportVenue($input: ImportVenueInput!) {
  importVenue(input: $input) {
    __typename
    ... on Venue { id name seatCount layoutVersion }
    ... on PlanInvalidError { code message problems { path message } }
    ... on Error { code message field }
  }
}
"""

CREATE_EVENT = """
mutation CreateEvent($input: CreateEventInput!) {
  createEvent(input: $input) {
    __typename
    ... on Event { id status }
    ... on Error { code message field }
  }
}
"""

PUBLISH_EVENT = """
mutation Publish($eventId: ID!) {
  publishEvent(eventId: $eventId) {
    __typename
    ... on Event { id status }
    ... on Error { code message field }
  }
}
"""

SEAT_MAP = """
query SeatMap($id: ID!, $layoutVersion: String) {
  event(id: $id) {
    seatMap(layoutVersion: $layoutVersion) { version seatCount availability }
  }
}
"""

HOLD_SEATS = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename
    ... on Hold { id status seatIds }
    ... on Error { code message field }
  }
}
"""

CHECKOUT = """
mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) {
    __typename
    ... on Order { id status seatIds }
    ... on Error { code message field }
  }
}
"""

PAY_ORDER = """
mutation Pay($input: PayOrderInput!) {
  payOrder(input: $input) {
    __typename
    ... on Order { id status seatIds tickets { seatId } }
    ... on Error { code message field }
  }
}
"""

RELEASE_HOLD = """
mutation Release($holdId: ID!) {
  releaseHold(holdId: $holdId) {
    __typename
    ... on Error { code message }
  }
}
"""

CANCEL_ORDER = """
mutation Cancel($orderId: ID!) {
  cancelOrder(orderId: $orderId) {
    __typename
    ... on Error { code message }
  }
}
"""

ORDER = """
query Order($id: ID!) {
  order(id: $id) { id status seatIds tickets { seatId } }
}
"""

# Codes of the seat map's availability encoding, as seatline packs them.
AVAILABLE = STATUS_CODES[SeatStatus.AVAILABLE]
HELD = STATUS_CODES[SeatStatus.HELD]
# Every packed byte expanded to its four two-bit codes, first seat first.
EXPANDED_BYTES = [
    bytes((byte >> shift) & 3 for shift in (0, 2, 4, 6)) for byte in range(256)
]

# Attempts per request when the connection fails or the server returns 5xx
# or a GraphQL error. Each attempt resends the same body, so the idempotency
# key stays the same. The delay before a retry doubles from RETRY_DELAY_SECONDS.
TRANSPORT_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.5
# Attempts of checkout or payOrder that end in BUSY or PAYMENT_FAILED.
RETRY_ATTEMPTS = 5
# Consecutive unexpected errors after which a buyer stops. After each one
# the buyer waits, doubling from 0.25 s up to ERROR_BACKOFF_MAX_SECONDS.
MAX_CONSECUTIVE_ERRORS = 20
ERROR_BACKOFF_MAX_SECONDS = 5.0
# Seconds the buyers may overrun the time limit to finish open purchases.
FINISH_GRACE_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 60.0
IMPORT_TIMEOUT_SECONDS = 600.0
PROGRESS_INTERVAL_SECONDS = 15.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="On-sale load test against a running seatline server."
    )
    parser.add_argument(
        "--plan",
        type=Path,
        help="Seating-plan JSON file (pretix format). Default: a generated "
        "stadium of --stadium-seats seats.",
    )
    parser.add_argument(
        "--stadium-seats",
        type=int,
        default=50_000,
        help="Seats of the generated stadium used without --plan (default: 50000).",
    )
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="Base URL of the seatline server (default: http://127.0.0.1:8000).",
    )
    parser.add_argument(
        "--buyers", type=int, default=200, help="Concurrent buyers (default: 200)."
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=300.0,
        help="Seconds after which buyers start no new purchase (default: 300).",
    )
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL of the server's database, for the final checks. "
        "Default: SEATLINE_DATABASE_URL.",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="Seed of the buyers' random choices."
    )
    parser.add_argument(
        "--max-seats",
        type=int,
        default=6,
        help="Seats per purchase are drawn from 1 to this; also the event's "
        "maxSeatsPerOrder (default: 6).",
    )
    parser.add_argument(
        "--max-seats-per-buyer",
        type=int,
        default=10,
        help="The event's maxSeatsPerBuyer; a buyer switches to a new identity "
        "before passing it (default: 10).",
    )
    parser.add_argument(
        "--explicit-share",
        type=float,
        default=0.5,
        help="Share of purchases that pick seats from the seat map instead of "
        "bestAvailable, 0 to 1 (default: 0.5).",
    )
    parser.add_argument(
        "--seat-map-max-age",
        type=float,
        default=0.0,
        help="Seconds a buyer reuses its last seat map for explicit choices; "
        "0 fetches one before every explicit choice, and a conflict always "
        "fetches a new one (default: 0).",
    )
    parser.add_argument(
        "--hold-seconds",
        type=int,
        default=600,
        help="The event's holdDurationSeconds, 60 to 3600 (default: 600).",
    )
    parser.add_argument(
        "--decline-rate",
        type=float,
        default=0.0,
        help="Share of orders first paid with a declining sandbox token, then "
        "with tok_approve, 0 to 1 (default: 0).",
    )
    args = parser.parse_args(argv)
    _check_args(parser, args)
    return args


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.buyers < 1:
        parser.error("--buyers must be at least 1")
    if args.duration <= 0:
        parser.error("--duration must be positive")
    if not 1 <= args.max_seats <= 100:
        parser.error("--max-seats must be between 1 and 100")
    if not args.max_seats <= args.max_seats_per_buyer <= 1000:
        parser.error("--max-seats-per-buyer must be between --max-seats and 1000")
    if not 0 <= args.explicit_share <= 1:
        parser.error("--explicit-share must be between 0 and 1")
    if args.seat_map_max_age < 0:
        parser.error("--seat-map-max-age must not be negative")
    if not 60 <= args.hold_seconds <= 3600:
        parser.error("--hold-seconds must be between 60 and 3600")
    if not 0 <= args.decline_rate <= 1:
        parser.error("--decline-rate must be between 0 and 1")
    if args.plan is not None and not args.plan.is_file():
        parser.error(f"--plan {args.plan} is not a file")


# Statistics


@dataclass
class Stats:
    """Latencies, outcomes and sold seats, as the buyers saw them."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    # (operation, outcome) -> count; the outcome is a result type or error code.
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    http_errors: Counter[str] = field(default_factory=Counter)
    graphql_errors: Counter[str] = field(default_factory=Counter)
    paid_order_ids: list[str] = field(default_factory=list)
    sold_seat_ids: list[str] = field(default_factory=list)
    # Orders whose payment outcome stayed unknown after every retry.
    unknown_payments: set[str] = field(default_factory=set)
    # Paid orders whose tickets do not match the seats held.
    ticket_mismatches: int = 0
    # Purchases left in an unknown state after every retry failed.
    unresolved: Counter[str] = field(default_factory=Counter)
    identities: int = 0
    stopped_buyers: int = 0

    @property
    def paid_orders(self) -> int:
        return len(self.paid_order_ids)

    def record_latency(self, operation: str, seconds: float) -> None:
        self.latencies.setdefault(operation, []).append(seconds)

    def count(self, operation: str, outcome: str) -> None:
        self.outcomes[(operation, outcome)] += 1

    def total(self, outcome: str) -> int:
        return sum(n for (_, seen), n in self.outcomes.items() if seen == outcome)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


# HTTP


class Api:
    """A GraphQL client over HTTP that times every request."""

    def __init__(self, client: httpx.AsyncClient, stats: Stats) -> None:
        self.client = client
        self.stats = stats

    async def execute(
        self,
        operation: str,
        document: str,
        variables: dict[str, Any],
        token: str,
        *,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
        attempts: int = TRANSPORT_ATTEMPTS,
    ) -> dict[str, Any] | None:
        """Return the response's data, or None after an HTTP or GraphQL error.

        Connection failures, 5xx responses and GraphQL errors (such as a
        masked "internal server error") are retried with the same body, up to
        `attempts` requests in all. The mutations that act take an
        idempotency key, so a retry replays the first result.
        """
        body = orjson.dumps({"query": document, "variables": variables})
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        for attempt in range(attempts):
            if attempt > 0:
                await asyncio.sleep(RETRY_DELAY_SECONDS * 2 ** (attempt - 1))
            data, retry = await self._attempt(operation, body, headers, timeout_seconds)
            if not retry:
                return data
        return None

    async def _attempt(
        self,
        operation: str,
        body: bytes,
        headers: dict[str, str],
        timeout_seconds: float,
    ) -> tuple[dict[str, Any] | None, bool]:
        """Send one request; return its data and whether a retry may help."""
        started = time.perf_counter()
        try:
            response = await self.client.post(
                "/graphql", content=body, headers=headers, timeout=timeout_seconds
            )
        except httpx.TransportError as error:
            self.stats.http_errors[f"{operation}: {type(error).__name__}"] += 1
            return None, True
        self.stats.record_latency(operation, time.perf_counter() - started)

        if response.status_code != 200:
            self.stats.http_errors[f"{operation}: HTTP {response.status_code}"] += 1
            return None, response.status_code >= 500

        payload = response.json()
        errors = payload.get("errors") or []
        for graphql_error in errors:
            message = str(graphql_error.get("message", ""))[:120]
            self.stats.graphql_errors[f"{operation}: {message}"] += 1
        data = payload.get("data")
        if errors or not isinstance(data, dict):
            return None, True
        return data, False


def result_outcome(result: dict[str, Any]) -> str:
    """Return a mutation result's error code, or its type name on success."""
    return str(result.get("code") or result["__typename"])


def new_key() -> str:
    return str(uuid.uuid4())


# Setup


class SetupError(Exception):
    """The server rejected a setup step; the message names the step and reason."""


class TokenFactory:
    """Mint access tokens with the key file that the server validates against."""

    def __init__(self, settings: Settings, lifetime_seconds: int) -> None:
        development = settings.env is Environment.DEVELOPMENT
        self._keys: KeyStore = load_key_store(settings.key_file, create=development)
        self._settings = settings
        self._lifetime_seconds = lifetime_seconds

    def mint(self, subject: str, scopes: list[str]) -> str:
        return mint_token(
            self._keys,
            subject=subject,
            scopes=scopes,
            issuer=self._settings.jwt_issuer,
            audience=self._settings.jwt_audience,
            lifetime_seconds=self._lifetime_seconds,
        )


@dataclass(frozen=True)
class SeatIndex:
    """Seat ids and rows of a venue layout, indexed by seat ordinal."""

    guids: list[str]
    # Ordinal ranges of the rows, in layout order.
    rows: list[range]

    @classmethod
    def from_layout(cls, layout: dict[str, Any]) -> SeatIndex:
        guids: list[str] = []
        rows: list[range] = []
        for section in layout["sections"]:
            for row in section["rows"]:
                start = len(guids)
                guids.extend(seat[0] for seat in row["seats"])
                rows.append(range(start, len(guids)))
        return cls(guids, rows)


@dataclass(frozen=True)
class OnSaleEvent:
    event_id: str
    venue_id: str
    venue_name: str
    seat_count: int
    layout_version: str
    seats: SeatIndex


@dataclass
class SetupTimes:
    plan_source: str = ""
    plan_bytes: int = 0
    import_seconds: float = 0.0
    create_event_seconds: float = 0.0


def load_plan(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Return the seating plan document and a description of its source."""
    if args.plan is None:
        seats = args.stadium_seats
        return stadium(seats), f"generated stadium ({seats} seats)"
    return orjson.loads(args.plan.read_bytes()), str(args.plan)


async def set_up_event(
    api: Api,
    organizer_token: str,
    args: argparse.Namespace,
    run_id: str,
    times: SetupTimes,
) -> OnSaleEvent:
    """Import the venue, create an event with a price per category, publish it."""
    plan, times.plan_source = load_plan(args)
    variables = {"input": {"plan": plan}}
    times.plan_bytes = len(orjson.dumps(variables))

    started = time.perf_counter()
    # One attempt: a retried import would create a second venue.
    data = await api.execute(
        "importVenue",
        IMPORT_VENUE,
        variables,
        organizer_token,
        timeout_seconds=IMPORT_TIMEOUT_SECONDS,
        attempts=1,
    )
    times.import_seconds = time.perf_counter() - started
    venue = _expect(data, "importVenue", "Venue")

    categories = [category["name"] for category in plan["categories"]]
    started = time.perf_counter()
    data = await api.execute(
        "createEvent",
        CREATE_EVENT,
        {"input": _event_input(venue["id"], categories, args, run_id)},
        organizer_token,
        attempts=1,
    )
    times.create_event_seconds = time.perf_counter() - started
    event = _expect(data, "createEvent", "Event")

    data = await api.execute(
        "publishEvent", PUBLISH_EVENT, {"eventId": event["id"]}, organizer_token
    )
    _expect(data, "publishEvent", "Event")

    layout = await _fetch_layout(api.client, venue["id"])
    seats = SeatIndex.from_layout(layout)
    if len(seats.guids) != venue["seatCount"]:
        raise SetupError(
            f"layout has {len(seats.guids)} seats, venue reports {venue['seatCount']}"
        )
    return OnSaleEvent(
        event_id=event["id"],
        venue_id=venue["id"],
        venue_name=venue["name"],
        seat_count=venue["seatCount"],
        layout_version=venue["layoutVersion"],
        seats=seats,
    )


def _expect(
    data: dict[str, Any] | None, mutation: str, typename: str
) -> dict[str, Any]:
    if data is None:
        raise SetupError(f"{mutation} failed; see the HTTP or GraphQL errors above")
    result: dict[str, Any] = data[mutation]
    if result["__typename"] != typename:
        raise SetupError(f"{mutation} returned {result}")
    return result


def _event_input(
    venue_id: str, categories: list[str], args: argparse.Namespace, run_id: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "venueId": venue_id,
        "name": f"On-sale load test {run_id}",
        "startsAt": (now + timedelta(days=7)).isoformat(),
        "timeZone": "UTC",
        "saleStartsAt": (now - timedelta(minutes=5)).isoformat(),
        "saleEndsAt": (now + timedelta(days=6)).isoformat(),
        "currency": "EUR",
        "prices": [
            {"category": name, "amount": 2000 + 1000 * index}
            for index, name in enumerate(categories)
        ],
        "holdDurationSeconds": args.hold_seconds,
        "maxSeatsPerOrder": args.max_seats,
        "maxSeatsPerBuyer": args.max_seats_per_buyer,
    }


async def _fetch_layout(client: httpx.AsyncClient, venue_id: str) -> dict[str, Any]:
    response = await client.get(
        f"/venues/{venue_id}/layout", timeout=REQUEST_TIMEOUT_SECONDS
    )
    if response.status_code != 200:
        raise SetupError(
            f"GET /venues/{venue_id}/layout returned HTTP {response.status_code}"
        )
    layout: dict[str, Any] = response.json()
    return layout


# Seat maps and seat choice


def decode_availability(encoded: str, seat_count: int) -> bytes:
    """Unpack a seat map's availability into one status code per seat ordinal.

    It reads the encoding of `seatline.booking.availability.unpack_statuses`
    with one table lookup per packed byte: 0.7 ms instead of 7 ms for 39,616
    seats (measured on a 2-core x86-64 VM, Python 3.11).
    """
    packed = base64.b64decode(encoded, validate=True)
    if len(packed) != (seat_count + 3) // 4:
        raise ValueError(
            f"availability has {len(packed)} bytes, expected {(seat_count + 3) // 4} "
            f"for {seat_count} seats"
        )
    return b"".join(EXPANDED_BYTES[byte] for byte in packed)[:seat_count]


def check_decoder(encoded: str, seat_count: int) -> None:
    """Raise SetupError unless `decode_availability` agrees with seatline's decoder."""
    expected = bytes(STATUS_CODES[s] for s in unpack_statuses(encoded, seat_count))
    if decode_availability(encoded, seat_count) != expected:
        raise SetupError("decode_availability disagrees with unpack_statuses")


def choose_seats(
    codes: bytes, rows: Sequence[range], count: int, rng: random.Random
) -> list[int]:
    """Pick `count` free seats side by side in one row, else any free seats.

    The search starts in a random row at a random offset, so buyers spread
    over the venue. Without `count` adjacent free seats anywhere, it returns
    up to `count` free seats from anywhere, and an empty list when none is
    free.
    """
    wanted = bytes([AVAILABLE]) * count
    first_row = rng.randrange(len(rows))
    for step in range(len(rows)):
        row = rows[(first_row + step) % len(rows)]
        if len(row) < count:
            continue
        offset = rng.randrange(row.start, row.stop - count + 1)
        found = codes.find(wanted, offset, row.stop)
        if found < 0:
            found = codes.find(wanted, row.start, offset + count - 1)
        if found >= 0:
            return list(range(found, found + count))

    free = [ordinal for ordinal, code in enumerate(codes) if code == AVAILABLE]
    return sorted(rng.sample(free, min(count, len(free))))


# Buyers


@dataclass
class Sale:
    """State that all buyers of one run share."""

    event: OnSaleEvent
    # time.perf_counter() value after which buyers start no new purchase.
    deadline: float
    sold_out: asyncio.Event = field(default_factory=asyncio.Event)

    def over(self) -> bool:
        return self.sold_out.is_set() or time.perf_counter() >= self.deadline


class Buyer:
    """One concurrent buyer that keeps buying until the sale is over.

    A purchase is a seat choice, holdSeats, checkout and payOrder. The buyer
    switches to a new identity before its seats would pass the event's
    per-buyer limit, and after a LIMIT_EXCEEDED result.
    """

    def __init__(
        self,
        index: int,
        api: Api,
        sale: Sale,
        tokens: TokenFactory,
        stats: Stats,
        args: argparse.Namespace,
        run_id: str,
    ) -> None:
        self.index = index
        self.api = api
        self.sale = sale
        self.tokens = tokens
        self.stats = stats
        self.args = args
        self.run_id = run_id
        self.rng = random.Random(args.seed * 1_000_003 + index)
        self.generation = 0
        self.token = ""
        # Seats held or bought under the current identity.
        self.committed = 0
        self.adjacent = True
        self.count_cap = args.max_seats
        self.errors_in_row = 0
        # The last seat map's status codes and when they were fetched.
        self.seat_map: bytes | None = None
        self.seat_map_fetched_at = 0.0

    async def run(self) -> None:
        self._new_identity()
        while not self.sale.over():
            if self.errors_in_row >= MAX_CONSECUTIVE_ERRORS:
                self.stats.stopped_buyers += 1
                return
            await self._purchase()

    def _new_identity(self) -> None:
        self.generation += 1
        subject = f"onsale-{self.run_id}-buyer-{self.index}-{self.generation}"
        self.token = self.tokens.mint(subject, ["bookings:write", "orders:read"])
        self.committed = 0
        self.stats.identities += 1

    async def _purchase(self) -> None:
        count = self.rng.randint(1, self.count_cap)
        if self.committed + count > self.args.max_seats_per_buyer:
            self._new_identity()

        selection = await self._select(count)
        if selection is None:
            return
        hold = await self._hold(selection)
        if hold is None:
            return
        order = await self._checkout(hold)
        if order is None:
            return
        await self._pay(order, hold["seatIds"])

    async def _select(self, count: int) -> dict[str, Any] | None:
        if self.rng.random() >= self.args.explicit_share:
            return {"bestAvailable": {"count": count, "adjacent": self.adjacent}}

        rows = self.sale.event.seats.rows
        cached = self._cached_seat_map()
        codes = cached if cached is not None else await self._fetch_seat_map()
        if codes is None:
            return None
        ordinals = choose_seats(codes, rows, count, self.rng)
        if not ordinals and cached is not None:
            codes = await self._fetch_seat_map()
            if codes is None:
                return None
            ordinals = choose_seats(codes, rows, count, self.rng)
        if not ordinals:
            await self._wait_for_free_seats(codes)
            return None
        guids = self.sale.event.seats.guids
        return {"seatIds": [guids[ordinal] for ordinal in ordinals]}

    def _cached_seat_map(self) -> bytes | None:
        age = time.perf_counter() - self.seat_map_fetched_at
        if age >= self.args.seat_map_max_age:
            return None
        return self.seat_map

    async def _fetch_seat_map(self) -> bytes | None:
        event = self.sale.event
        data = await self.api.execute(
            "seatMap",
            SEAT_MAP,
            {"id": event.event_id, "layoutVersion": event.layout_version},
            self.token,
        )
        if data is None or data["event"] is None:
            await self._fail()
            return None
        self.stats.count("seatMap", "SeatMap")
        encoded = data["event"]["seatMap"]["availability"]
        self.seat_map = decode_availability(encoded, event.seat_count)
        self.seat_map_fetched_at = time.perf_counter()
        return self.seat_map

    async def _wait_for_free_seats(self, codes: bytes) -> None:
        """End the sale when every seat is sold or blocked, else wait for holds."""
        if HELD not in codes:
            self.sale.sold_out.set()
            return
        # Other buyers' holds end when they are paid, released or expire.
        await asyncio.sleep(self.rng.uniform(0.5, 1.5))

    async def _hold(self, selection: dict[str, Any]) -> dict[str, Any] | None:
        variables = {
            "input": {
                "eventId": self.sale.event.event_id,
                "idempotencyKey": new_key(),
                **selection,
            }
        }
        data = await self.api.execute("holdSeats", HOLD_SEATS, variables, self.token)
        if data is None:
            # The hold may exist; a new identity keeps the limit count right.
            self.stats.unresolved["holdSeats"] += 1
            self.committed = self.args.max_seats_per_buyer
            await self._fail()
            return None

        result: dict[str, Any] = data["holdSeats"]
        outcome = result_outcome(result)
        self.stats.count("holdSeats", outcome)
        if outcome == "Hold":
            self.committed += len(result["seatIds"])
            self.adjacent = True
            self.count_cap = self.args.max_seats
            self.errors_in_row = 0
            return result
        if outcome == "SEATS_UNAVAILABLE":
            await self._after_conflict(selection)
        elif outcome == "BUSY":
            await self._back_off(0)
        elif outcome == "LIMIT_EXCEEDED":
            self._new_identity()
        else:
            await self._fail()
        return None

    async def _after_conflict(self, selection: dict[str, Any]) -> None:
        """Adapt the next request after its seats were unavailable.

        An explicit choice is made again from a new seat map. A best-available
        request drops the adjacency, and then caps the seat count at the free
        seats.
        """
        if "bestAvailable" not in selection:
            self.seat_map = None
            return
        if self.adjacent:
            self.adjacent = False
            return
        codes = await self._fetch_seat_map()
        if codes is None:
            return
        free = codes.count(AVAILABLE)
        if free == 0:
            await self._wait_for_free_seats(codes)
            return
        self.count_cap = min(self.args.max_seats, free)

    async def _checkout(self, hold: dict[str, Any]) -> dict[str, Any] | None:
        variables = {"input": {"holdId": hold["id"], "idempotencyKey": new_key()}}
        for attempt in range(RETRY_ATTEMPTS):
            data = await self.api.execute("checkout", CHECKOUT, variables, self.token)
            if data is None:
                self.stats.unresolved["checkout"] += 1
                await self._fail()
                return None
            result: dict[str, Any] = data["checkout"]
            outcome = result_outcome(result)
            self.stats.count("checkout", outcome)
            if outcome == "Order":
                return result
            if outcome != "BUSY":
                break
            await self._back_off(attempt)

        await self._release(hold)
        await self._fail()
        return None

    async def _release(self, hold: dict[str, Any]) -> None:
        data = await self.api.execute(
            "releaseHold", RELEASE_HOLD, {"holdId": hold["id"]}, self.token
        )
        if data is None:
            self.stats.unresolved["releaseHold"] += 1
            return
        outcome = result_outcome(data["releaseHold"])
        self.stats.count("releaseHold", outcome)
        if outcome == "Hold":
            self.committed -= len(hold["seatIds"])

    async def _pay(self, order: dict[str, Any], held: list[str]) -> None:
        payment_tokens = ["tok_approve"]
        if self.rng.random() < self.args.decline_rate:
            payment_tokens.insert(0, "tok_decline_card")

        result: dict[str, Any] | None = None
        for payment_token in payment_tokens:
            result = await self._pay_once(order, payment_token)
            if result is None:
                await self._resolve_order(order, held)
                return
            if result_outcome(result) != "PAYMENT_DECLINED":
                break

        assert result is not None
        if result_outcome(result) == "Order" and result["status"] == "PAID":
            self._record_paid(result, held)
            return
        if result_outcome(result) != "SEATS_UNAVAILABLE":
            await self._cancel(order)
        await self._fail()

    async def _pay_once(
        self, order: dict[str, Any], payment_token: str
    ) -> dict[str, Any] | None:
        """Pay with one idempotency key, retrying BUSY and PAYMENT_FAILED."""
        variables = {
            "input": {
                "orderId": order["id"],
                "payment": {"token": payment_token},
                "idempotencyKey": new_key(),
            }
        }
        result: dict[str, Any] | None = None
        for attempt in range(RETRY_ATTEMPTS):
            data = await self.api.execute("payOrder", PAY_ORDER, variables, self.token)
            if data is None:
                return None
            result = data["payOrder"]
            outcome = result_outcome(result)
            self.stats.count("payOrder", outcome)
            if outcome not in ("BUSY", "PAYMENT_FAILED"):
                return result
            await self._back_off(attempt)
        return result

    def _record_paid(self, order: dict[str, Any], held: list[str]) -> None:
        ticket_seats = [ticket["seatId"] for ticket in order["tickets"]]
        self.stats.paid_order_ids.append(order["id"])
        self.stats.sold_seat_ids.extend(ticket_seats)
        if sorted(ticket_seats) != sorted(held):
            self.stats.ticket_mismatches += 1
        self.errors_in_row = 0

    async def _resolve_order(self, order: dict[str, Any], held: list[str]) -> None:
        """Learn whether a payment whose response was lost went through."""
        data = await self.api.execute("order", ORDER, {"id": order["id"]}, self.token)
        found = None if data is None else data["order"]
        if found is None:
            self.stats.unresolved["payOrder"] += 1
            self.stats.unknown_payments.add(order["id"])
            await self._fail()
            return
        if found["status"] == "PAID":
            self._record_paid(found, held)
        elif found["status"] == "AWAITING_PAYMENT":
            await self._cancel(order)

    async def _cancel(self, order: dict[str, Any]) -> None:
        data = await self.api.execute(
            "cancelOrder", CANCEL_ORDER, {"orderId": order["id"]}, self.token
        )
        if data is None:
            self.stats.unresolved["cancelOrder"] += 1
            return
        outcome = result_outcome(data["cancelOrder"])
        self.stats.count("cancelOrder", outcome)
        if outcome == "Order":
            self.committed -= len(order["seatIds"])

    async def _back_off(self, attempt: int) -> None:
        await asyncio.sleep(self.rng.uniform(0.05, 0.2) * (attempt + 1))

    async def _fail(self) -> None:
        """Count an unexpected failure and wait, longer after each in a row."""
        self.errors_in_row += 1
        delay = min(ERROR_BACKOFF_MAX_SECONDS, 0.25 * 2 ** (self.errors_in_row - 1))
        await asyncio.sleep(delay * self.rng.uniform(0.5, 1.0))


async def report_progress(stats: Stats, started: float) -> None:
    """Print a progress line to stderr periodically; the caller cancels it."""
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
        elapsed = time.perf_counter() - started
        print(
            f"[{elapsed:6.0f} s] paid orders {stats.paid_orders}, "
            f"seats sold {len(stats.sold_seat_ids)}, "
            f"holds {stats.total('Hold')}, "
            f"SEATS_UNAVAILABLE {stats.total('SEATS_UNAVAILABLE')}, "
            f"BUSY {stats.total('BUSY')}, "
            f"HTTP errors {sum(stats.http_errors.values())}",
            file=sys.stderr,
            flush=True,
        )


@dataclass
class RunResult:
    elapsed_seconds: float
    sold_out: bool
    # Buyer tasks still running after the grace period, then cancelled.
    cancelled_buyers: int
    crashed_buyers: int


async def run_buyers(
    api: Api,
    sale: Sale,
    tokens: TokenFactory,
    stats: Stats,
    args: argparse.Namespace,
    run_id: str,
) -> RunResult:
    buyers = [
        Buyer(index, api, sale, tokens, stats, args, run_id)
        for index in range(args.buyers)
    ]
    started = time.perf_counter()
    tasks = [asyncio.create_task(buyer.run()) for buyer in buyers]
    progress = asyncio.create_task(report_progress(stats, started))
    limit = max(0.0, sale.deadline - started) + FINISH_GRACE_SECONDS
    done, pending = await asyncio.wait(tasks, timeout=limit)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    progress.cancel()
    await asyncio.gather(progress, return_exceptions=True)
    elapsed = time.perf_counter() - started

    crashed = 0
    for task in done:
        error = task.exception()
        if error is not None:
            crashed += 1
            print(f"buyer task failed: {error!r}", file=sys.stderr)
    return RunResult(elapsed, sale.sold_out.is_set(), len(pending), crashed)


# Database checks


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


@dataclass
class DatabaseView:
    """Seat counts of the event by effective status, and its paid orders."""

    capacity: int = 0
    seat_rows: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    order_statuses: Counter[str] = field(default_factory=Counter)
    # Seat ids of each paid order, by order id.
    paid_orders: dict[str, list[str]] = field(default_factory=dict)


async def check_database(
    database_url: str, event_id: str, stats: Stats
) -> tuple[list[CheckResult], DatabaseView]:
    engine = db.create_engine(Settings(database_url=database_url))
    try:
        return await _run_checks(engine, uuid.UUID(event_id), stats)
    finally:
        await engine.dispose()


async def _run_checks(
    engine: AsyncEngine, event_id: uuid.UUID, stats: Stats
) -> tuple[list[CheckResult], DatabaseView]:
    async with engine.connect() as connection:

        async def count(statement: Any) -> int:
            counted = select(func.count()).select_from(statement.subquery())
            return int((await connection.execute(counted)).scalar_one())

        async def rows(statement: Any) -> list[Any]:
            return list((await connection.execute(statement)).all())

        view = await _database_view(rows, event_id)
        if view.seat_rows == 0:
            return [
                CheckResult(
                    "event exists in the database",
                    False,
                    f"no event_seats for event {event_id}; is --database-url the "
                    "server's database?",
                )
            ], view

        checks = [
            await _zero(
                count, "no seat has two valid tickets", _double_tickets(event_id)
            ),
            await _zero(count, "no seat is in two paid orders", _double_paid(event_id)),
            await _zero(
                count,
                "every sold seat belongs to a paid order that contains it",
                _sold_without_paid_order(event_id),
            ),
            await _zero(
                count,
                "every seat of a paid order is sold to that order",
                _paid_seat_not_sold(event_id),
            ),
            await _zero(
                count,
                "every seat of a paid order has a valid ticket",
                _paid_seat_without_ticket(event_id),
            ),
            await _zero(
                count,
                "every valid ticket is for a seat of a paid order",
                _ticket_outside_paid_order(event_id),
            ),
            _capacity_check(view),
        ]
        sold_guids = [row.guid for row in await rows(_sold_guids(event_id))]
        checks.extend(_buyer_view_checks(stats, sold_guids, view))
        return checks, view


async def _database_view(rows: Any, event_id: uuid.UUID) -> DatabaseView:
    view = DatabaseView()
    capacity = await rows(
        select(Venue.seat_count)
        .join(Event, Event.venue_id == Venue.id)
        .where(Event.id == event_id)
    )
    view.capacity = capacity[0].seat_count if capacity else 0

    now = datetime.now(UTC)
    seats = await rows(
        select(EventSeat.status, EventSeat.hold_expires_at).where(
            EventSeat.event_id == event_id
        )
    )
    view.seat_rows = len(seats)
    for seat in seats:
        status = seat.status
        if status is SeatStatus.HELD and seat.hold_expires_at <= now:
            status = SeatStatus.AVAILABLE
        view.by_status[status.value] += 1

    orders = await rows(
        select(Order.status, func.count())
        .where(Order.event_id == event_id)
        .group_by(Order.status)
    )
    for status, number in orders:
        view.order_statuses[status.value] = number
    paid_seats = await rows(
        select(OrderItem.order_id, Seat.guid)
        .join(Order, Order.id == OrderItem.order_id)
        .join(Seat, Seat.id == OrderItem.seat_id)
        .where(_paid_orders_of(event_id))
    )
    for order_id, guid in paid_seats:
        view.paid_orders.setdefault(str(order_id), []).append(guid)
    return view


async def _zero(count: Any, name: str, statement: Any) -> CheckResult:
    found = await count(statement)
    return CheckResult(name, found == 0, f"{found} violating rows")


def _paid_orders_of(event_id: uuid.UUID) -> Any:
    return and_(Order.event_id == event_id, Order.status == OrderStatus.PAID)


def _double_tickets(event_id: uuid.UUID) -> Any:
    return (
        select(Ticket.seat_id)
        .where(Ticket.event_id == event_id, Ticket.voided_at.is_(None))
        .group_by(Ticket.seat_id)
        .having(func.count() > 1)
    )


def _double_paid(event_id: uuid.UUID) -> Any:
    return (
        select(OrderItem.seat_id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(_paid_orders_of(event_id))
        .group_by(OrderItem.seat_id)
        .having(func.count() > 1)
    )


def _sold_without_paid_order(event_id: uuid.UUID) -> Any:
    item = and_(
        OrderItem.order_id == EventSeat.order_id,
        OrderItem.seat_id == EventSeat.seat_id,
    )
    return (
        select(EventSeat.seat_id)
        .outerjoin(Order, Order.id == EventSeat.order_id)
        .outerjoin(OrderItem, item)
        .where(
            EventSeat.event_id == event_id,
            EventSeat.status == SeatStatus.SOLD,
            (Order.id.is_(None))
            | (Order.status != OrderStatus.PAID)
            | (OrderItem.seat_id.is_(None)),
        )
    )


def _paid_seat_not_sold(event_id: uuid.UUID) -> Any:
    seat = and_(
        EventSeat.event_id == Order.event_id, EventSeat.seat_id == OrderItem.seat_id
    )
    return (
        select(OrderItem.seat_id)
        .join(Order, Order.id == OrderItem.order_id)
        .outerjoin(EventSeat, seat)
        .where(
            _paid_orders_of(event_id),
            (EventSeat.seat_id.is_(None))
            | (EventSeat.status != SeatStatus.SOLD)
            | (EventSeat.order_id != Order.id),
        )
    )


def _paid_seat_without_ticket(event_id: uuid.UUID) -> Any:
    ticket = and_(
        Ticket.order_id == OrderItem.order_id,
        Ticket.seat_id == OrderItem.seat_id,
        Ticket.voided_at.is_(None),
    )
    return (
        select(OrderItem.seat_id)
        .join(Order, Order.id == OrderItem.order_id)
        .outerjoin(Ticket, ticket)
        .where(_paid_orders_of(event_id), Ticket.id.is_(None))
    )


def _ticket_outside_paid_order(event_id: uuid.UUID) -> Any:
    item = and_(
        OrderItem.order_id == Ticket.order_id, OrderItem.seat_id == Ticket.seat_id
    )
    return (
        select(Ticket.id)
        .outerjoin(Order, Order.id == Ticket.order_id)
        .outerjoin(OrderItem, item)
        .where(
            Ticket.event_id == event_id,
            Ticket.voided_at.is_(None),
            (Order.status != OrderStatus.PAID) | (OrderItem.seat_id.is_(None)),
        )
    )


def _sold_guids(event_id: uuid.UUID) -> Any:
    return (
        select(Seat.guid)
        .join(EventSeat, EventSeat.seat_id == Seat.id)
        .where(EventSeat.event_id == event_id, EventSeat.status == SeatStatus.SOLD)
    )


def _capacity_check(view: DatabaseView) -> CheckResult:
    total = sum(view.by_status.values())
    parts = ", ".join(
        f"{status.value} {view.by_status[status.value]}" for status in SeatStatus
    )
    passed = total == view.capacity and view.seat_rows == view.capacity
    return CheckResult(
        "sold + held + available + blocked == capacity",
        passed,
        f"{parts}; sum {total}, capacity {view.capacity}",
    )


def _buyer_view_checks(
    stats: Stats, sold_guids: list[str], view: DatabaseView
) -> list[CheckResult]:
    """Compare the sales the buyers saw with the database.

    A paid order that no buyer saw is explained only when its payOrder
    outcome stayed unknown after every retry. Its seats then count as sold.
    """
    seen = stats.sold_seat_ids
    seen_twice = len(seen) - len(set(seen))
    seen_orders = set(stats.paid_order_ids)
    database_orders = set(view.paid_orders)
    not_in_database = seen_orders - database_orders
    unseen = database_orders - seen_orders
    explained = unseen & stats.unknown_payments
    expected_seats = list(seen)
    for order_id in explained:
        expected_seats.extend(view.paid_orders[order_id])
    only_seen = len(set(expected_seats) - set(sold_guids))
    only_in_database = len(set(sold_guids) - set(expected_seats))
    return [
        CheckResult(
            "no seat reached two buyers (buyers' view)",
            seen_twice == 0,
            f"{seen_twice} seats in two paid orders",
        ),
        CheckResult(
            "every order the buyers saw paid is paid in the database",
            not not_in_database,
            f"buyers {len(seen_orders)}, "
            f"not paid in the database {len(not_in_database)}",
        ),
        CheckResult(
            "every paid order in the database was seen paid by its buyer",
            unseen == explained,
            f"database {len(database_orders)}, unseen {len(unseen)}, of which "
            f"{len(explained)} had a payOrder outcome unknown to the buyer",
        ),
        CheckResult(
            "seats sold: buyers == database",
            sorted(expected_seats) == sorted(sold_guids),
            f"buyers {len(seen)}, in orders of unknown outcome "
            f"{len(expected_seats) - len(seen)}, database {len(sold_guids)}; "
            f"only seen by buyers {only_seen}, only in database {only_in_database}",
        ),
        CheckResult(
            "tickets match the held seats (buyers' view)",
            stats.ticket_mismatches == 0,
            f"{stats.ticket_mismatches} paid orders with other seats than held",
        ),
    ]


# Report


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_report(
    args: argparse.Namespace,
    event: OnSaleEvent,
    times: SetupTimes,
    stats: Stats,
    run: RunResult,
    checks: list[CheckResult],
    view: DatabaseView,
) -> None:
    seats_sold = len(stats.sold_seat_ids)
    elapsed = run.elapsed_seconds
    print(f"\n## On-sale run: {event.venue_name}, {args.buyers} buyers\n")
    print("| setting | value |\n| --- | --- |")
    for name, value in (
        ("server", args.url),
        ("plan", times.plan_source),
        ("seats", f"{event.seat_count:,}"),
        ("importVenue request body", f"{times.plan_bytes / 1e6:.1f} MB"),
        ("importVenue time", f"{times.import_seconds:.1f} s"),
        ("createEvent time", f"{times.create_event_seconds:.1f} s"),
        ("buyers", str(args.buyers)),
        ("time limit", f"{args.duration:g} s"),
        ("seed", str(args.seed)),
        ("seats per purchase", f"1 to {args.max_seats}"),
        ("explicit seat choice share", f"{args.explicit_share:g}"),
        ("seat map reused for up to", f"{args.seat_map_max_age:g} s"),
        ("max seats per buyer identity", str(args.max_seats_per_buyer)),
        ("buyer identities used", str(stats.identities)),
    ):
        print(f"| {name} | {value} |")

    print("\n| result | value |\n| --- | ---: |")
    for name, value in (
        ("duration", f"{elapsed:.1f} s"),
        ("sold out", "yes" if run.sold_out else "no"),
        ("paid orders", f"{stats.paid_orders:,}"),
        ("seats sold", f"{seats_sold:,}"),
        ("paid orders per second", f"{stats.paid_orders / elapsed:.1f}"),
        ("seats sold per second", f"{seats_sold / elapsed:.1f}"),
        ("buyers stopped after repeated errors", str(stats.stopped_buyers)),
        ("buyers cancelled after the grace period", str(run.cancelled_buyers)),
        ("buyer tasks that raised", str(run.crashed_buyers)),
    ):
        print(f"| {name} | {value} |")

    _print_latencies(stats)
    _print_outcomes(stats)

    print("\n| database check | result | detail |\n| --- | --- | --- |")
    for check in checks:
        print(
            f"| {check.name} | {'pass' if check.passed else 'FAIL'} | {check.detail} |"
        )
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(view.order_statuses.items()))
    print(f"\nOrders in the database by status: {statuses or 'none'}.")


def _print_latencies(stats: Stats) -> None:
    print(
        "\n| operation | requests | p50 ms | p99 ms | max ms |\n"
        "| --- | ---: | ---: | ---: | ---: |"
    )
    for operation in sorted(stats.latencies):
        values = sorted(stats.latencies[operation])
        p50 = _milliseconds(percentile(values, 0.5))
        p99 = _milliseconds(percentile(values, 0.99))
        slowest = _milliseconds(values[-1])
        print(f"| {operation} | {len(values):,} | {p50} | {p99} | {slowest} |")


def _print_outcomes(stats: Stats) -> None:
    expected = {
        ("holdSeats", "Hold"),
        ("holdSeats", "SEATS_UNAVAILABLE"),
        ("holdSeats", "LIMIT_EXCEEDED"),
        ("payOrder", "PAYMENT_DECLINED"),
        ("payOrder", "Order"),
    }
    other_errors = sum(
        number
        for (operation, outcome), number in stats.outcomes.items()
        if (operation, outcome) not in expected
        and outcome not in ("BUSY", "SeatMap", "Order", "Hold")
    )
    print("\n| outcome | count |\n| --- | ---: |")
    for name, value in (
        ("held (holdSeats returned a Hold)", stats.outcomes[("holdSeats", "Hold")]),
        (
            "hold conflicts (SEATS_UNAVAILABLE)",
            stats.outcomes[("holdSeats", "SEATS_UNAVAILABLE")],
        ),
        ("BUSY (any operation)", stats.total("BUSY")),
        (
            "per-buyer limit reached (LIMIT_EXCEEDED)",
            stats.outcomes[("holdSeats", "LIMIT_EXCEEDED")],
        ),
        ("paid", stats.paid_orders),
        (
            "declined (PAYMENT_DECLINED)",
            stats.outcomes[("payOrder", "PAYMENT_DECLINED")],
        ),
        ("other errors", other_errors),
        ("HTTP errors", sum(stats.http_errors.values())),
        ("GraphQL errors", sum(stats.graphql_errors.values())),
        ("purchases left unresolved", sum(stats.unresolved.values())),
    ):
        print(f"| {name} | {value:,} |")

    print("\n| operation | outcome | count |\n| --- | --- | ---: |")
    for (operation, outcome), number in sorted(stats.outcomes.items()):
        print(f"| {operation} | {outcome} | {number:,} |")
    for label, counter in (
        ("HTTP error", stats.http_errors),
        ("GraphQL error", stats.graphql_errors),
        ("unresolved", stats.unresolved),
    ):
        for key, number in sorted(counter.items()):
            print(f"| {label} | {key} | {number:,} |")


# Main


async def run(args: argparse.Namespace) -> int:
    settings = Settings()
    database_url = args.database_url or settings.database_url
    run_id = secrets.token_hex(3)
    lifetime = int(args.duration + FINISH_GRACE_SECONDS + 3600)
    tokens = TokenFactory(settings, lifetime)
    stats = Stats()
    times = SetupTimes()
    limits = httpx.Limits(
        max_connections=args.buyers, max_keepalive_connections=args.buyers
    )

    async with httpx.AsyncClient(base_url=args.url, limits=limits) as client:
        api = Api(client, stats)
        organizer = tokens.mint(f"onsale-{run_id}-organizer", ["organizer"])
        try:
            event = await set_up_event(api, organizer, args, run_id, times)
            await _check_fresh_seat_map(api, event, organizer)
        except SetupError as error:
            _print_setup_failure(error, stats)
            return 2
        print(
            f"event {event.event_id} on sale: {event.seat_count} seats at "
            f"{event.venue_name}; venue imported in {times.import_seconds:.1f} s",
            file=sys.stderr,
        )

        sale = Sale(event, deadline=time.perf_counter() + args.duration)
        result = await run_buyers(api, sale, tokens, stats, args, run_id)

    checks, view = await check_database(database_url, event.event_id, stats)
    print_report(args, event, times, stats, result, checks, view)
    return 0 if all(check.passed for check in checks) else 1


async def _check_fresh_seat_map(api: Api, event: OnSaleEvent, token: str) -> None:
    data = await api.execute(
        "seatMap",
        SEAT_MAP,
        {"id": event.event_id, "layoutVersion": event.layout_version},
        token,
    )
    if data is None or data["event"] is None:
        raise SetupError(f"the seat map of event {event.event_id} is unavailable")
    encoded = data["event"]["seatMap"]["availability"]
    check_decoder(encoded, event.seat_count)
    free = decode_availability(encoded, event.seat_count).count(AVAILABLE)
    if free != event.seat_count:
        raise SetupError(f"new event has {free} of {event.seat_count} seats available")


def _print_setup_failure(error: SetupError, stats: Stats) -> None:
    print(f"setup failed: {error}", file=sys.stderr)
    for key, number in {**stats.http_errors, **stats.graphql_errors}.items():
        print(f"  {key} ({number}x)", file=sys.stderr)
    if "HTTP 401" in " ".join(stats.http_errors):
        print(
            "  the server rejected the token: run the benchmark with the "
            "server's SEATLINE_KEY_FILE, SEATLINE_JWT_ISSUER and SEATLINE_JWT_AUDIENCE",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
