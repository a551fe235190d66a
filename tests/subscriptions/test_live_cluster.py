"""Live seat maps across server processes, with real Redis and real clients.

The module starts its own redis-server on a free loopback port and two
`seatline serve` processes that share it and the PostgreSQL test database.
Each test watches an event of its own. Subscribers are the gql websockets
client, or raw `websockets` connections where a test needs a client that
stops reading or drops its socket. Writers go through the HTTP API, except
that a hold "expires" by having its deadline moved into the past in the
database: holds last at least 60 seconds, and the servers' sweeper then
expires them as it would after that time.

The tests that restart Redis run last, because they disturb every server.
"""

from __future__ import annotations

import asyncio
import functools
import random
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from broadcaster import Broadcast
from gql import GraphQLRequest
from sqlalchemy import func, select, text, update
from websockets.typing import Subprotocol

from seatline.auth.keys import KeyStore
from seatline.auth.tokens import mint_token
from seatline.booking.availability import read_availability, unpack_statuses
from seatline.booking.services import Services
from seatline.models import (
    Event,
    EventSeat,
    Hold,
    HoldStatus,
    Order,
    OrderStatus,
    SeatStatus,
    Venue,
)
from seatline.runtime import build_services
from seatline.subscriptions.backends import RedisPubSubBackend
from seatline.subscriptions.publisher import (
    PUBLISH_TIMEOUT_SECONDS,
    SeatChangeBatch,
    SeatChangePublisher,
    seat_channel,
)
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    DatabaseUnderTest,
    EventFixture,
    make_event,
    seat_ids,
    settings_for,
    unavailable,
)
from tests.live import LiveServer, RedisServer, live_server_process
from tests.subscriptions.test_live_access import ORDER_UPDATES, buy
from tests.subscriptions.test_seat_map_stream import (
    SEAT_MAP_UPDATES,
    watch,
    ws_client,
)

pytestmark = pytest.mark.slow

SEED = 20261204
WAIT_SECONDS = 15.0
# Seat changes a subscriber may buffer on the servers under test.
MAX_PENDING_CHANGES = 500
# Snapshot reasons that tell a client it lost track of the stream.
RESYNC_WORDS = ("re-established", "gap", "never arrived", "missed", "too many")

HOLD_SEATS = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename ... on Hold { id seatIds } ... on Error { code message }
  }
}
"""
RELEASE_HOLD = """
mutation Release($id: ID!) {
  releaseHold(holdId: $id) {
    __typename ... on Hold { id status } ... on Error { code message }
  }
}
"""
CHECKOUT = """
mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) {
    __typename ... on Order { id status } ... on Error { code message }
  }
}
"""
PAY = """
mutation Pay($input: PayOrderInput!) {
  payOrder(input: $input) {
    __typename ... on Order { id status } ... on Error { code message }
  }
}
"""
BLOCK_SEATS = """
mutation Block($input: SeatsInput!) {
  blockSeats(input: $input) {
    __typename ... on Event { version } ... on Error { code message }
  }
}
"""
UNBLOCK_SEATS = """
mutation Unblock($input: SeatsInput!) {
  unblockSeats(input: $input) {
    __typename ... on Event { version } ... on Error { code message }
  }
}
"""


# Processes: Redis and seatline servers


def server_env(redis: RedisServer) -> dict[str, str]:
    return {
        "SEATLINE_REDIS_URL": redis.url,
        "SEATLINE_LIVE_HEARTBEAT_SECONDS": "1",
        "SEATLINE_SWEEPER_INTERVAL_SECONDS": "0.2",
        # Every raw and gql client here is anonymous, from one address.
        "SEATLINE_LIVE_MAX_SOCKETS_PER_PRINCIPAL": "200",
        "SEATLINE_LIVE_MAX_SOCKETS_PER_ADDRESS": "400",
        "SEATLINE_LIVE_MAX_OPERATIONS_PER_SOCKET": "200",
        "SEATLINE_LIVE_MAX_PENDING_CHANGES": str(MAX_PENDING_CHANGES),
    }


def rss_kib(process: asyncio.subprocess.Process) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS line for process {process.pid}")


@dataclass
class Cluster:
    redis: RedisServer
    servers: list[LiveServer]


@pytest.fixture(scope="module")
async def cluster(
    postgres_database: DatabaseUnderTest, key_file: Path
) -> AsyncIterator[Cluster]:
    """Two servers sharing PostgreSQL and a Redis that this module owns."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    redis = RedisServer()
    await redis.start()
    starting = [
        live_server_process(
            postgres_database.url,
            key_file,
            issuer=ISSUER,
            audience=AUDIENCE,
            extra_env=server_env(redis),
        )
        for _ in range(2)
    ]
    try:
        async with AsyncExitStack() as stack:
            servers = await asyncio.gather(
                *(stack.enter_async_context(server) for server in starting)
            )
            yield Cluster(redis, list(servers))
    finally:
        await redis.kill()


@pytest.fixture(scope="module")
async def pg_services(
    postgres_database: DatabaseUnderTest, keys: KeyStore, key_file: Path
) -> AsyncIterator[Services]:
    """Services on PostgreSQL with the system clock, as the servers run."""
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    yield build_services(
        settings_for(postgres_database, key_file),
        postgres_database.engine,
        broadcast,
        keys,
    )
    await broadcast.disconnect()


# Clients: a seat map kept by the rules every client must follow


@dataclass
class SeatMapView:
    """One subscription's copy of the seat map.

    It applies a SNAPSHOT whole, and a DELTA when fromVersion is at most
    its version + 1 and version is newer. Any other delta is a gap that the
    server should have turned into a snapshot, so it is counted.
    """

    name: str
    statuses: list[SeatStatus] = field(default_factory=list)
    version: int = -1
    heartbeat_version: int | None = None
    gaps: int = 0
    # (loop time, reason) of each snapshot.
    snapshots: list[tuple[float, str]] = field(default_factory=list)
    # Loop time of each delta applied.
    deltas: list[float] = field(default_factory=list)
    # (loop time, version) after each message that changed the version.
    versions_seen: list[tuple[float, int]] = field(default_factory=list)

    def apply(self, message: dict[str, Any]) -> None:
        now = asyncio.get_running_loop().time()
        kind = message["kind"]
        if kind == "SNAPSHOT":
            self.statuses = unpack_statuses(
                message["availability"], message["seatCount"]
            )
            self.snapshots.append((now, message["reason"]))
            self._advance(now, message["version"])
        elif kind == "DELTA":
            self._apply_delta(now, message)
        else:
            self.heartbeat_version = message["version"]

    def _apply_delta(self, now: float, message: dict[str, Any]) -> None:
        if message["version"] <= self.version:
            return
        if message["fromVersion"] > self.version + 1:
            self.gaps += 1
            return
        for change in message["changes"]:
            self.statuses[change["ordinal"]] = SeatStatus[change["status"]]
        self.deltas.append(now)
        self._advance(now, message["version"])

    def _advance(self, now: float, version: int) -> None:
        self.version = version
        self.heartbeat_version = None
        self.versions_seen.append((now, version))

    def resyncs_after(self, moment: float) -> list[tuple[float, str]]:
        """Snapshots after `moment` whose reason is a lost stream."""
        return [
            (at, reason)
            for at, reason in self.snapshots
            if at > moment and any(word in reason for word in RESYNC_WORDS)
        ]


async def follow(base_url: str, event: EventFixture, view: SeatMapView) -> None:
    """Apply the event's seat map stream to `view` until cancelled."""
    async with ws_client(base_url) as session:
        async for result in session.subscribe(watch({"eventId": event.id})):
            view.apply(result["seatMapUpdates"])


@dataclass
class DatabaseState:
    version: int
    statuses: list[SeatStatus]
    # Holds and unpaid orders past their deadline that the sweeper has not
    # expired yet; until it has, clients still see their seats held.
    unswept: int


async def read_database_state(
    services: Services, fixture: EventFixture
) -> DatabaseState:
    now = datetime.now(UTC)
    async with services.sessions() as session:
        event = await session.get(Event, fixture.event.id, populate_existing=True)
        venue = await session.get(Venue, fixture.venue.id)
        assert event is not None
        assert venue is not None
        availability = await read_availability(session, event, venue.seat_count, now)
        holds = await session.scalar(
            select(func.count())
            .select_from(Hold)
            .where(
                Hold.event_id == event.id,
                Hold.status == HoldStatus.ACTIVE,
                Hold.expires_at <= now,
            )
        )
        orders = await session.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.event_id == event.id,
                Order.status == OrderStatus.AWAITING_PAYMENT,
                Order.payment_deadline <= now,
            )
        )
    return DatabaseState(
        availability.version, availability.statuses, (holds or 0) + (orders or 0)
    )


async def wait_until_quiet(
    services: Services,
    fixture: EventFixture,
    views: list[SeatMapView],
    wait_seconds: float = WAIT_SECONDS,
) -> DatabaseState:
    """Wait until the sweeper is done and every view got a heartbeat at the
    database's version, then return the database state.

    On timeout it returns the state too, so that the caller's asserts show
    what differs.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        state = await read_database_state(services, fixture)
        quiet = state.unswept == 0 and all(
            view.heartbeat_version == view.version == state.version for view in views
        )
        if quiet or loop.time() > deadline:
            return state
        await asyncio.sleep(0.1)


def assert_converged(view: SeatMapView, state: DatabaseState) -> None:
    assert state.unswept == 0
    assert view.gaps == 0, view.name
    assert view.version == state.version, view.name
    differing = {
        ordinal: (seen.value, expected.value)
        for ordinal, (seen, expected) in enumerate(
            zip(view.statuses, state.statuses, strict=True)
        )
        if seen is not expected
    }
    assert differing == {}, view.name


# Writers: a seeded random mix of buyer and organizer changes


class GraphQLError(AssertionError):
    """The server returned GraphQL errors, not a typed result."""


async def call(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    """Run one mutation and return its only result object."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    if body.get("errors") or response.status_code != 200:
        raise GraphQLError(response.text)
    (result,) = body["data"].values()
    assert isinstance(result, dict)
    return result


@dataclass
class Writer:
    """One concurrent writer, which releases, pays or unblocks only its own."""

    rng: random.Random
    clients: list[httpx.AsyncClient]
    services: Services
    fixture: EventFixture
    keys: KeyStore
    holds: list[tuple[str, str]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.rng.choice(self.clients)

    def token(self, subject: str, scope: str) -> str:
        return mint_token(
            self.keys, subject=subject, scopes=[scope], issuer=ISSUER, audience=AUDIENCE
        )

    def pick_seats(self, low: int, high: int) -> list[str]:
        return self.rng.sample(seat_ids(self.fixture), self.rng.randint(low, high))

    async def run(self, seconds: float, max_operations: int) -> None:
        """Run random operations until `seconds` or `max_operations` pass."""
        stop_at = asyncio.get_running_loop().time() + seconds
        for _ in range(max_operations):
            if asyncio.get_running_loop().time() >= stop_at:
                return
            action = self.next_action()
            self.outcomes[f"{action.__name__}:{await action()}"] += 1

    def next_action(self) -> Callable[[], Awaitable[str]]:
        weighted: list[tuple[Callable[[], Awaitable[str]], int]] = [
            (self.hold, 6),
            (self.block, 1),
        ]
        if self.holds:
            weighted += [
                (self.release, 2),
                (self.expire, 2),
                (self.checkout_and_pay, 3),
            ]
        if self.blocked:
            weighted.append((self.unblock, 2))
        actions = [action for action, _ in weighted]
        weights = [weight for _, weight in weighted]
        return self.rng.choices(actions, weights)[0]

    async def hold(self) -> str:
        token = self.token(f"buyer-{uuid.uuid4().hex[:12]}", "bookings:write")
        result = await call(
            self.client,
            HOLD_SEATS,
            {
                "input": {
                    "eventId": self.fixture.id,
                    "seatIds": self.pick_seats(1, 3),
                    "idempotencyKey": str(uuid.uuid4()),
                }
            },
            token,
        )
        if result["__typename"] == "Hold":
            self.holds.append((result["id"], token))
        return str(result["__typename"])

    def take_hold(self) -> tuple[str, str]:
        """Remove one of this writer's holds: its id and its buyer's token."""
        return self.holds.pop(self.rng.randrange(len(self.holds)))

    async def release(self) -> str:
        hold_id, token = self.take_hold()
        result = await call(self.client, RELEASE_HOLD, {"id": hold_id}, token)
        return str(result.get("code") or result["status"])

    async def expire(self) -> str:
        hold_id, _ = self.take_hold()
        await age_hold(self.services, uuid.UUID(hold_id))
        return "aged"

    async def checkout_and_pay(self) -> str:
        hold_id, token = self.take_hold()
        order = await call(
            self.client,
            CHECKOUT,
            {"input": {"holdId": hold_id, "idempotencyKey": str(uuid.uuid4())}},
            token,
        )
        if order["__typename"] != "Order":
            return str(order["code"])
        paid = await call(
            self.client,
            PAY,
            {
                "input": {
                    "orderId": order["id"],
                    "payment": {"token": "tok_approve"},
                    "idempotencyKey": str(uuid.uuid4()),
                }
            },
            token,
        )
        return str(paid.get("code") or paid["status"])

    async def block(self) -> str:
        seats = self.pick_seats(1, 4)
        result = await self.change_blocks(BLOCK_SEATS, seats)
        if result["__typename"] == "Event":
            self.blocked.extend(seats)
        return str(result["__typename"])

    async def unblock(self) -> str:
        seats = [self.blocked.pop(self.rng.randrange(len(self.blocked)))]
        result = await self.change_blocks(UNBLOCK_SEATS, seats)
        return str(result["__typename"])

    async def change_blocks(self, query: str, seats: list[str]) -> dict[str, Any]:
        """Block or unblock seats, retrying BUSY as a client would.

        BUSY comes before anything is written (a pool or lock timeout on a
        loaded machine), so the retry cannot apply a change twice.
        """
        token = self.token(self.fixture.organizer_id, "organizer")
        variables = {"input": {"eventId": self.fixture.id, "seatIds": seats}}
        while True:
            result = await call(self.client, query, variables, token)
            if result.get("code") != "BUSY":
                return result
            await asyncio.sleep(0.1)


async def age_hold(services: Services, hold_id: uuid.UUID) -> None:
    """Move an active hold's deadline into the past, as time passing would."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with services.transaction() as session:
        # Lock in seat-id order, as seatline's own seat writes do.
        await session.execute(
            select(EventSeat.seat_id)
            .where(EventSeat.hold_id == hold_id)
            .order_by(EventSeat.seat_id)
            .with_for_update()
        )
        await session.execute(
            update(Hold)
            .where(Hold.id == hold_id, Hold.status == HoldStatus.ACTIVE)
            .values(expires_at=past)
        )
        await session.execute(
            update(EventSeat)
            .where(EventSeat.hold_id == hold_id, EventSeat.status == SeatStatus.HELD)
            .values(hold_expires_at=past)
        )


async def run_writers(
    writers: list[Writer], seconds: float, max_operations: int
) -> Counter[str]:
    await asyncio.gather(*(w.run(seconds, max_operations) for w in writers))
    total: Counter[str] = Counter()
    for writer in writers:
        total.update(writer.outcomes)
    return total


def follow_on_each(
    servers: list[LiveServer], fixture: EventFixture, per_server: int
) -> tuple[list[SeatMapView], list[asyncio.Task[None]]]:
    """Start `per_server` followers of the event on every server."""
    views: list[SeatMapView] = []
    tasks: list[asyncio.Task[None]] = []
    for number, server in enumerate(servers):
        for index in range(per_server):
            view = SeatMapView(f"server-{number}/{index}")
            views.append(view)
            tasks.append(asyncio.create_task(follow(server.url, fixture, view)))
    return views, tasks


def make_writers(
    count: int,
    servers: list[LiveServer],
    stack: AsyncExitStack,
    services: Services,
    fixture: EventFixture,
    keys: KeyStore,
) -> list[Writer]:
    clients = [httpx.AsyncClient(base_url=server.url, timeout=30) for server in servers]
    for client in clients:
        stack.push_async_callback(client.aclose)
    return [
        Writer(random.Random(f"{SEED}-{index}"), clients, services, fixture, keys)
        for index in range(count)
    ]


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the followers, then re-raise the first that failed by itself."""
    failed = [task for task in tasks if task.done() and not task.cancelled()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in failed:
        task.result()


async def wait_for_idle_pool(services: Services) -> list[tuple[str, str]]:
    """Wait until no connection runs a query or keeps a transaction open.

    Returns the (state, query) of the connections that still do.
    """
    busy: list[tuple[str, str]] = []
    for _ in range(100):
        async with services.sessions() as session:
            rows = await session.execute(
                text(
                    "SELECT state, query FROM pg_stat_activity "
                    "WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
            )
            busy = [(row.state, row.query) for row in rows]
        if not busy:
            return busy
        await asyncio.sleep(0.1)
    return busy


# Raw graphql-transport-ws connections, for clients that misbehave


class RawSocket:
    """One websocket with several seat map subscriptions, read on demand."""

    def __init__(
        self, connection: websockets.ClientConnection, views: dict[str, SeatMapView]
    ) -> None:
        self.connection = connection
        self.views = views

    @classmethod
    async def open(
        cls, base_url: str, fixture: EventFixture, name: str, subscriptions: int
    ) -> RawSocket:
        """Connect and start `subscriptions` seat map subscriptions."""
        connection = await websockets.connect(
            base_url.replace("http://", "ws://") + "/graphql",
            subprotocols=[Subprotocol("graphql-transport-ws")],
            # Uncompressed, so that every change costs its real size.
            compression=None,
            # No keepalive pings: a client that stops reading must not be
            # closed by its own missing pongs.
            ping_interval=None,
            close_timeout=1,
        )
        await connection.send(orjson.dumps({"type": "connection_init"}).decode())
        ack = orjson.loads(await asyncio.wait_for(connection.recv(), WAIT_SECONDS))
        assert ack["type"] == "connection_ack", ack
        views = {}
        for index in range(subscriptions):
            operation_id = str(index + 1)
            views[operation_id] = SeatMapView(f"{name}/{operation_id}")
            message = {
                "id": operation_id,
                "type": "subscribe",
                "payload": {
                    "query": SEAT_MAP_UPDATES,
                    "variables": {"eventId": fixture.id},
                },
            }
            await connection.send(orjson.dumps(message).decode())
        return cls(connection, views)

    async def read_one(self) -> None:
        message = orjson.loads(
            await asyncio.wait_for(self.connection.recv(), WAIT_SECONDS)
        )
        assert message["type"] == "next", message
        payload = message["payload"]
        assert "errors" not in payload, payload
        self.views[message["id"]].apply(payload["data"]["seatMapUpdates"])

    async def read_forever(self) -> None:
        while True:
            await self.read_one()

    def abort(self) -> None:
        """Drop the TCP connection without a websocket close handshake."""
        self.connection.transport.abort()


# Tests


def time_limit(
    seconds: float,
) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Awaitable[None]]]:
    """Fail a test that runs longer than `seconds`, with the stack it hung in."""

    def decorate(
        test: Callable[..., Awaitable[None]],
    ) -> Callable[..., Awaitable[None]]:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> None:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)

        return run

    return decorate


@time_limit(30)
async def test_hold_reaches_subscriber_on_other_server(
    cluster: Cluster, keys: KeyStore, pg_services: Services
) -> None:
    fixture = await make_event(pg_services)
    seat = seat_ids(fixture)[7]
    server_a, server_b = cluster.servers
    async with AsyncExitStack() as stack:
        (writer,) = make_writers(1, [server_b], stack, pg_services, fixture, keys)
        async with ws_client(server_a.url) as session:
            stream = session.subscribe(watch({"eventId": fixture.id}))
            first = (await anext(stream))["seatMapUpdates"]
            token = writer.token("buyer-across", "bookings:write")
            held = await call(
                writer.client,
                HOLD_SEATS,
                {
                    "input": {
                        "eventId": fixture.id,
                        "seatIds": [seat],
                        "idempotencyKey": str(uuid.uuid4()),
                    }
                },
                token,
            )
            message = (await asyncio.wait_for(anext(stream), 5))["seatMapUpdates"]
            while message["kind"] == "HEARTBEAT":
                message = (await asyncio.wait_for(anext(stream), 5))["seatMapUpdates"]

    assert first["kind"] == "SNAPSHOT"
    assert held["__typename"] == "Hold"
    assert message["kind"] == "DELTA", message["reason"]
    assert message["version"] == first["version"] + 1
    assert [(c["seatId"], c["status"]) for c in message["changes"]] == [(seat, "HELD")]


@time_limit(60)
async def test_subscribers_converge_with_concurrent_writers(
    cluster: Cluster, keys: KeyStore, pg_services: Services
) -> None:
    fixture = await make_event(pg_services, rows=8, seats_per_row=12)
    late_server = cluster.servers[1]
    late = SeatMapView("late")
    async with AsyncExitStack() as stack:
        writers = make_writers(4, cluster.servers, stack, pg_services, fixture, keys)
        views, followers = follow_on_each(cluster.servers, fixture, 2)
        writing = asyncio.create_task(run_writers(writers, 6.0, 300))
        await asyncio.sleep(3.0)
        followers.append(asyncio.create_task(follow(late_server.url, fixture, late)))
        outcomes = await writing
        state = await wait_until_quiet(pg_services, fixture, [*views, late])
        await stop_tasks(followers)

    for view in [*views, late]:
        assert_converged(view, state)
        assert view.deltas, view.name
    assert outcomes["hold:Hold"] > 20
    assert outcomes["release:RELEASED"] > 0
    assert outcomes["expire:aged"] > 0
    assert outcomes["checkout_and_pay:PAID"] > 0
    assert outcomes["block:Event"] > 0
    assert outcomes["unblock:Event"] > 0


@time_limit(90)
async def test_stalled_client_bounded_then_resynced(
    cluster: Cluster, keys: KeyStore, pg_services: Services
) -> None:
    # 1,270 seats, more than the MAX_PENDING_CHANGES a subscriber buffers.
    fixture = await make_event(pg_services, rows=20, seats_per_row=50)
    seats = seat_ids(fixture)
    groups = [seats[start : start + 100] for start in range(0, 1200, 100)]
    server = cluster.servers[0]
    reader = SeatMapView("reader")
    async with AsyncExitStack() as stack:
        (writer,) = make_writers(1, [server], stack, pg_services, fixture, keys)
        follower = asyncio.create_task(follow(server.url, fixture, reader))
        # One socket with many subscriptions: the kernel buffers several MB
        # per socket before the server's sends block, and filling those
        # buffers is the slow part of this test.
        stalled = await RawSocket.open(server.url, fixture, "stalled", 200)
        stack.push_async_callback(stalled.connection.close)
        for _ in stalled.views:
            await stalled.read_one()
        # From now on the stalled socket is not read. Each write changes 100
        # seats, about 6 kB of JSON per subscription, so every write would
        # queue about 1.2 MB more if nothing pushed back. The first writes
        # fill the socket's buffers; memory is measured after them.
        loop = asyncio.get_running_loop()
        stalled_at = loop.time()
        writes: list[tuple[float, int]] = []
        rss_after_write: dict[int, int] = {}
        for index in range(100):
            group = groups[index % len(groups)]
            query = BLOCK_SEATS if index // len(groups) % 2 == 0 else UNBLOCK_SEATS
            result = await writer.change_blocks(query, group)
            assert result["__typename"] == "Event", result
            writes.append((loop.time(), result["version"]))
            rss_after_write[index] = rss_kib(server.process)
        resumed = asyncio.create_task(stalled.read_forever())
        stalled_views = list(stalled.views.values())
        state = await wait_until_quiet(pg_services, fixture, [reader, *stalled_views])
        await stop_tasks([follower, resumed])

    # 80 more writes would have queued about 96 MB.
    assert rss_after_write[99] - rss_after_write[19] < 16 * 1024
    # The reader keeps pace: each change reaches it before the writer has
    # finished five more, which holds at any machine speed.
    for (_, version), (later_done_at, _) in zip(writes, writes[5:], strict=False):
        seen_at = min(at for at, seen in reader.versions_seen if seen >= version)
        assert seen_at <= later_done_at, version
    assert_converged(reader, state)
    for view in stalled_views:
        assert_converged(view, state)
        assert view.resyncs_after(stalled_at), view.name


@time_limit(60)
async def test_dropped_sockets_leave_database_pool_idle(
    cluster: Cluster, keys: KeyStore, pg_services: Services
) -> None:
    fixture = await make_event(pg_services, rows=20, seats_per_row=50)
    server = cluster.servers[0]
    async with AsyncExitStack() as stack:
        writers = make_writers(2, [server], stack, pg_services, fixture, keys)
        writing = asyncio.create_task(run_writers(writers, 6.0, 300))
        for round_number in range(3):
            sockets = await asyncio.gather(
                *(
                    RawSocket.open(server.url, fixture, f"drop-{index}", 1)
                    for index in range(30)
                )
            )
            # Half are dropped while their first snapshot may still be read,
            # half in the middle of the stream.
            for dropped in sockets[::2]:
                dropped.abort()
            for dropped in sockets[1::2]:
                await dropped.read_one()
            await asyncio.sleep(0.3 * round_number)
            for dropped in sockets[1::2]:
                dropped.abort()
        await writing
        busy = await wait_for_idle_pool(pg_services)
        channels = await cluster.redis.command(
            "PUBSUB", "NUMSUB", seat_channel(fixture.event.id)
        )
        view = SeatMapView("after")
        follower = asyncio.create_task(follow(server.url, fixture, view))
        state = await wait_until_quiet(pg_services, fixture, [view])
        await stop_tasks([follower])

    assert busy == []
    # RESP reply: *2, the channel name, then :0 subscribers.
    assert channels[-2] == b":0", channels
    assert_converged(view, state)


async def test_publish_to_unresponsive_redis_gives_up() -> None:
    # A loopback server that accepts connections and never replies, as a
    # hung Redis would.
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(
        lambda reader, writer: accepted.append(writer), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    backend = RedisPubSubBackend(f"redis://127.0.0.1:{port}/0")
    publisher = SeatChangePublisher(Broadcast(backend=backend))
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS + 2):
            await publisher.publish(SeatChangeBatch(uuid.uuid4(), 1))
    finally:
        await backend.disconnect()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


@time_limit(60)
async def test_subscriptions_survive_redis_restart(
    cluster: Cluster, keys: KeyStore, pg_services: Services
) -> None:
    fixture = await make_event(pg_services, rows=8, seats_per_row=12)
    async with AsyncExitStack() as stack:
        writers = make_writers(4, cluster.servers, stack, pg_services, fixture, keys)
        views, followers = follow_on_each(cluster.servers, fixture, 2)
        writing = asyncio.create_task(run_writers(writers, 9.0, 400))
        await asyncio.sleep(2.0)
        killed_at = asyncio.get_running_loop().time()
        await cluster.redis.kill()
        # Longer than the servers' one-second health check, so that they
        # find Redis down and retry connecting.
        await asyncio.sleep(2.0)
        await cluster.redis.start()
        outcomes = await writing
        state = await wait_until_quiet(pg_services, fixture, views)
        await stop_tasks(followers)

    assert outcomes["hold:Hold"] > 20
    for view in views:
        assert_converged(view, state)
        resyncs = view.resyncs_after(killed_at)
        assert resyncs, view.name
        # Live deltas flow again after the first resync, rather than one
        # heartbeat-driven snapshot after another.
        assert [at for at in view.deltas if at > resyncs[0][0]], view.name


async def test_order_updates_report_loss_after_redis_restart(
    cluster: Cluster, keys: KeyStore, pg_services: Services
) -> None:
    fixture = await make_event(pg_services, rows=2, seats_per_row=10)
    server = cluster.servers[0].url
    buyer = mint_token(
        keys,
        subject="order-watcher",
        scopes=["bookings:write"],
        issuer=ISSUER,
        audience=AUDIENCE,
    )

    async with ws_client(server, buyer) as session:
        stream = session.subscribe(GraphQLRequest(ORDER_UPDATES))
        reader = asyncio.create_task(anext(stream))
        # Let the subscription reach the server before Redis goes away.
        await asyncio.sleep(0.5)
        await cluster.redis.kill()
        await asyncio.sleep(2.0)
        await cluster.redis.start()
        missed = (await asyncio.wait_for(reader, 20))["orderUpdates"]
        # The notice comes once the server has resubscribed, so this
        # purchase's updates reach the stream.
        await buy(server, buyer, fixture, seat_ids(fixture)[:2])
        ordered = (await asyncio.wait_for(anext(stream), 10))["orderUpdates"]
        paid = (await asyncio.wait_for(anext(stream), 10))["orderUpdates"]

    assert missed["missedUpdates"] is True
    assert missed["orderId"] is None
    assert ordered["status"] == "AWAITING_PAYMENT"
    assert paid["status"] == "PAID"
    assert paid["orderId"] == ordered["orderId"]
