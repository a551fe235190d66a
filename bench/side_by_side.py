"""Side-by-side benchmark: seatline's API against the raw limits, in one run.

The script creates a scratch database on the shared PostgreSQL server, a
stadium event with prices, and starts one `seatline serve` process with
rate limits off. Each case then runs the API and its raw limit one after
the other on the same data, and one markdown table compares them:

- holds, spread: `holdSeats` for random seats over the whole venue. The raw
  side runs the same transaction in SQL with asyncpg: lock the rows in
  seat-id order, guarded UPDATE, hold row and hold seats, version bump. Both
  sides have the same client concurrency and as many connections as the
  server's pool;
- holds, hot: the same, with every hold inside one block of `--hot-seats`
  seats, so holds conflict. Holds there last `--hot-hold-seconds`, so the
  block keeps turning over. Both hold cases also report CPU time per
  attempt;
- seat map: the availability snapshot (`event.seatMap` with a known layout
  version) through the API, cold (a full read) and warm (cached), against
  the same rows read with SQL and encoded in the same JSON with orjson;
- read path: the `events` query against a bare Starlette endpoint
  (`bare_events_server.py`) that returns the same JSON from the same
  database;
- fan-out: `fanout.py`'s measurement against its bare websockets server.

The ratio is API / raw limit: below 1 means slower for rates, above 1
means slower for times. Only ratios of one run compare across machines.

Run: .venv/bin/python bench/side_by_side.py --seats 50000 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import fanout
import httpx
import orjson

from seatline import db, migrate
from seatline.auth.keys import generate_key_store, load_key_store, write_key_store
from seatline.auth.tokens import mint_token
from seatline.booking.availability import CACHE_MAX_AGE_SECONDS
from seatline.booking.events import EventDraft, change_event_status, create_event
from seatline.booking.venue_import import import_plan
from seatline.config import Settings
from seatline.runtime import build_services
from seatline.subscriptions.backends import create_broadcast
from seatline.venues.generate import stadium

BENCH_DIR = Path(__file__).resolve().parent
ISSUER = "seatline-bench"
AUDIENCE = "seatline-api"

HOLD_SEATS = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename
    ... on Error { code }
  }
}
"""
# The buyers' seat map request once they have the layout (see onsale.py).
SEAT_MAP = """
query SeatMap($id: ID!, $layoutVersion: String) {
  event(id: $id) {
    seatMap(layoutVersion: $layoutVersion) { version seatCount availability }
  }
}
"""
EVENTS_QUERY = """
query Events {
  events(first: 20) {
    edges { cursor node { id name startsAt status venueId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# The hold transaction of `booking/holds.py` at the SQL level. The claim
# is one UPDATE over rows locked in seat-id order, guarded by "free": the
# seat is available, or held by a hold that expired.
INSERT_HOLD = """
INSERT INTO holds (id, event_id, buyer_id, status, created_at, expires_at,
                   max_expires_at, seat_count)
VALUES ($1, $2, $3, 'active', $4, $5, $6, $7)
"""
CLAIM_SEATS = """
UPDATE event_seats SET status = 'held', hold_id = $3, hold_expires_at = $4
WHERE event_id = $1
  AND seat_id IN (
    SELECT seat_id FROM event_seats
    WHERE event_id = $1 AND seat_id = ANY($2::int[])
      AND (status = 'available' OR (status = 'held' AND hold_expires_at <= $5))
    ORDER BY seat_id
    FOR UPDATE)
  AND (status = 'available' OR (status = 'held' AND hold_expires_at <= $5))
RETURNING seat_id
"""
INSERT_HOLD_SEATS = """
INSERT INTO hold_seats (hold_id, seat_id) SELECT $1, unnest($2::int[])
"""
BUMP_VERSION = """
UPDATE events SET seat_version = seat_version + 1 WHERE id = $1
RETURNING seat_version
"""
SET_SEAT_VERSION = """
UPDATE event_seats SET version = $3 WHERE event_id = $1 AND seat_id = ANY($2::int[])
"""
# The seat map read: effective status codes (see booking/availability.py)
# and the version, in one statement snapshot.
READ_AVAILABILITY = """
SELECT ordinal,
       CASE WHEN status = 'available' THEN 0
            WHEN status = 'held' AND hold_expires_at > $2 THEN 1
            WHEN status = 'held' THEN 0
            WHEN status = 'sold' THEN 2
            ELSE 3 END,
       (SELECT seat_version FROM events WHERE id = $1)
FROM event_seats WHERE event_id = $1
"""


@dataclass
class Row:
    case: str
    api: float
    raw: float
    unit: str
    notes: str = ""

    @property
    def ratio(self) -> float:
        return self.api / self.raw if self.raw else float("nan")

    def markdown(self) -> str:
        return (
            f"| {self.case} | {self.api:,.1f} {self.unit} | {self.raw:,.1f} "
            f"{self.unit} | {self.ratio:.2f} | {self.notes} |"
        )


@dataclass
class Seat:
    seat_id: int
    guid: str


@dataclass
class Bench:
    args: argparse.Namespace
    database_url: str
    key_file: Path
    event_id: uuid.UUID
    layout_version: str
    seats: list[Seat]
    hot: list[Seat]
    base_url: str = ""
    server_pid: int = 0
    pool: asyncpg.Pool | None = None

    @property
    def dsn(self) -> str:
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass
class HoldCounts:
    """Outcomes of the hold attempts of one phase, and their latencies."""

    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def attempts(self) -> int:
        return sum(self.outcomes.values())

    @property
    def rate(self) -> float:
        return self.attempts / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items()))


# --- holds -------------------------------------------------------------------


class SeatPicker:
    """Seats for the next hold: disjoint random seats, or random hot seats."""

    def __init__(self, bench: Bench, hot: bool) -> None:
        self.hot = hot
        self.group = bench.args.group
        self.pool = list(bench.hot if hot else bench.seats)
        random.shuffle(self.pool)

    def next(self) -> list[Seat] | None:
        count = random.randint(1, self.group)
        if self.hot:
            return random.sample(self.pool, count)
        if len(self.pool) < count:
            return None
        chosen, self.pool = self.pool[-count:], self.pool[:-count]
        return chosen


async def run_workers(
    concurrency: int, seconds: float, attempt: Callable[[], Awaitable[str | None]]
) -> HoldCounts:
    """Call `attempt` from `concurrency` tasks until `seconds` have passed."""
    counts = HoldCounts()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            outcome = await attempt()
            if outcome is None:
                return
            counts.latencies.append(time.perf_counter() - started)
            counts.outcomes[outcome] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    counts.seconds = time.perf_counter() - started
    return counts


async def api_holds(bench: Bench, hot: bool) -> HoldCounts:
    picker = SeatPicker(bench, hot)
    keys = load_key_store(bench.key_file, create=False)
    limits = httpx.Limits(max_connections=bench.args.concurrency)
    async with httpx.AsyncClient(
        base_url=bench.base_url, limits=limits, timeout=60
    ) as client:

        async def attempt() -> str | None:
            seats = picker.next()
            if seats is None:
                return None
            # A new buyer per hold, so per-buyer limits never apply.
            token = mint_token(
                keys,
                subject=f"buyer-{uuid.uuid4()}",
                scopes=["events:read", "bookings:write"],
                issuer=ISSUER,
                audience=AUDIENCE,
            )
            variables = {
                "input": {
                    "eventId": str(bench.event_id),
                    "seatIds": [seat.guid for seat in seats],
                    "idempotencyKey": str(uuid.uuid4()),
                }
            }
            response = await client.post(
                "/graphql",
                json={"query": HOLD_SEATS, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            result = response.json()
            if "errors" in result:
                return "error"
            return hold_outcome(result["data"]["holdSeats"])

        return await run_workers(bench.args.concurrency, bench.args.duration, attempt)


def hold_outcome(result: dict[str, Any]) -> str:
    if result["__typename"] == "Hold":
        return "held"
    if result.get("code") == "SEATS_UNAVAILABLE":
        return "conflict"
    return str(result.get("code", result["__typename"])).lower()


class Conflict(Exception):
    """A seat of the hold was not free: roll the hold back."""


async def raw_holds(bench: Bench, hot: bool) -> HoldCounts:
    picker = SeatPicker(bench, hot)
    pool = bench.pool
    assert pool is not None
    hold_seconds = await pool.fetchval(
        "SELECT hold_duration_seconds FROM events WHERE id = $1", bench.event_id
    )

    async def attempt() -> str | None:
        seats = picker.next()
        if seats is None:
            return None
        ids = sorted(seat.seat_id for seat in seats)
        hold_id = uuid.uuid4()
        now = datetime.now(UTC)
        expires_at = now + timedelta(seconds=hold_seconds)
        try:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    INSERT_HOLD,
                    hold_id,
                    bench.event_id,
                    f"buyer-{uuid.uuid4()}",
                    now,
                    expires_at,
                    now + timedelta(hours=1),
                    len(ids),
                )
                claimed = await connection.fetch(
                    CLAIM_SEATS, bench.event_id, ids, hold_id, expires_at, now
                )
                if len(claimed) != len(ids):
                    raise Conflict
                await connection.execute(INSERT_HOLD_SEATS, hold_id, ids)
                version = await connection.fetchval(BUMP_VERSION, bench.event_id)
                await connection.execute(SET_SEAT_VERSION, bench.event_id, ids, version)
        except Conflict:
            return "conflict"
        except asyncpg.LockNotAvailableError:
            return "busy"
        return "held"

    return await run_workers(bench.args.concurrency, bench.args.duration, attempt)


async def reset_seats(bench: Bench) -> None:
    """Release every hold of the event, as one versioned change."""
    assert bench.pool is not None
    async with bench.pool.acquire() as connection, connection.transaction():
        version = await connection.fetchval(BUMP_VERSION, bench.event_id)
        await connection.execute(
            "UPDATE event_seats SET status = 'available', hold_id = NULL, "
            "hold_expires_at = NULL, version = $2 "
            "WHERE event_id = $1 AND status = 'held'",
            bench.event_id,
            version,
        )
        await connection.execute(
            "UPDATE holds SET status = 'released' "
            "WHERE event_id = $1 AND status = 'active'",
            bench.event_id,
        )
    # Dead rows left by one phase would slow the scans of the next.
    await bench.pool.execute("VACUUM ANALYZE event_seats")


async def hold_rows(bench: Bench) -> list[Row]:
    rows = []
    for hot in (False, True):
        if hot:
            await set_hold_duration(bench, bench.args.hot_hold_seconds)
        # CPU time per attempt: the server's for the API, this process's for
        # raw SQL. Other load on the machine usually moves it less than rates.
        cpu_before = fanout.cpu_seconds(bench.server_pid)
        api = await api_holds(bench, hot)
        api_cpu = fanout.cpu_seconds(bench.server_pid) - cpu_before
        await reset_seats(bench)
        cpu_before = time.process_time()
        raw = await raw_holds(bench, hot)
        raw_cpu = time.process_time() - cpu_before
        await reset_seats(bench)
        if hot:
            await set_hold_duration(bench, 600)
            case = f"holds, hot block of {len(bench.hot):,} seats"
        else:
            case = f"holds, spread over {len(bench.seats):,} seats"
        api_p50 = statistics.median(api.latencies) * 1000 if api.latencies else 0
        raw_p50 = statistics.median(raw.latencies) * 1000 if raw.latencies else 0
        notes = (
            f"attempts/s; API: {api.summary()}, p50 {api_p50:.0f} ms; "
            f"raw: {raw.summary()}, p50 {raw_p50:.0f} ms"
        )
        rows.append(Row(case, api.rate, raw.rate, "holds/s", notes))
        rows.append(
            Row(
                f"{case}: CPU per attempt",
                api_cpu / max(api.attempts, 1) * 1000,
                raw_cpu / max(raw.attempts, 1) * 1000,
                "ms",
                "API: server process; raw: the benchmark process running asyncpg",
            )
        )
        if hot:
            rows.append(
                Row(
                    "holds, hot block: successful holds",
                    api.outcomes["held"] / api.seconds,
                    raw.outcomes["held"] / raw.seconds,
                    "holds/s",
                    "conflicts excluded",
                )
            )
    return rows


async def set_hold_duration(bench: Bench, seconds: int) -> None:
    # Below the API's 60 s minimum on purpose: a hot block of short holds
    # turns over during the phase, so both successes and conflicts go on.
    assert bench.pool is not None
    await bench.pool.execute(
        "UPDATE events SET hold_duration_seconds = $2 WHERE id = $1",
        bench.event_id,
        seconds,
    )


# --- seat map ----------------------------------------------------------------


def pack_codes(codes: bytearray) -> str:
    """Two bits per seat, four seats per byte, first seat lowest (see availability)."""
    codes.extend(bytes(-len(codes) % 4))
    packed = bytes(
        a | b << 2 | c << 4 | d << 6
        for a, b, c, d in zip(
            codes[0::4], codes[1::4], codes[2::4], codes[3::4], strict=True
        )
    )
    return base64.b64encode(packed).decode("ascii")


async def raw_seat_map(bench: Bench, seat_count: int) -> bytes:
    assert bench.pool is not None
    rows = await bench.pool.fetch(READ_AVAILABILITY, bench.event_id, datetime.now(UTC))
    codes = bytearray(b"\x03" * seat_count)
    version = 0
    for ordinal, code, row_version in rows:
        codes[ordinal] = code
        version = row_version
    seat_map = {"version": version, "seatCount": seat_count}
    seat_map["availability"] = pack_codes(codes)
    return orjson.dumps({"data": {"event": {"seatMap": seat_map}}})


async def seat_map_rows(bench: Bench) -> list[Row]:
    payload = {
        "query": SEAT_MAP,
        "variables": {"id": str(bench.event_id), "layoutVersion": bench.layout_version},
    }
    seat_count = len(bench.seats)
    repeats = bench.args.repeats
    async with httpx.AsyncClient(base_url=bench.base_url, timeout=60) as client:

        async def api_once() -> bytes:
            response = await client.post("/graphql", json=payload)
            response.raise_for_status()
            return response.content

        cold: list[float] = []
        for _ in range(repeats):
            # A cache entry older than its maximum age is read in full again.
            await asyncio.sleep(CACHE_MAX_AGE_SECONDS + 0.2)
            cold.append(await timed(api_once))
        warm = [await timed(api_once) for _ in range(repeats + 1)][1:]
        api_body = await api_once()

    raw_times = [await timed(lambda: raw_seat_map(bench, seat_count))]
    raw_times += [
        await timed(lambda: raw_seat_map(bench, seat_count)) for _ in range(repeats)
    ]
    raw_body = await raw_seat_map(bench, seat_count)
    same = orjson.loads(api_body) == orjson.loads(raw_body)
    sizes = (
        f"median of {repeats}; API {len(api_body):,} B, raw {len(raw_body):,} B, "
        f"{'same JSON' if same else 'JSON DIFFERS'}"
    )
    raw_ms = statistics.median(raw_times[1:]) * 1000
    return [
        Row(
            f"seat map, {seat_count:,} seats, cold cache",
            statistics.median(cold) * 1000,
            raw_ms,
            "ms",
            sizes,
        ),
        Row(
            f"seat map, {seat_count:,} seats, warm cache",
            statistics.median(warm) * 1000,
            raw_ms,
            "ms",
            sizes,
        ),
    ]


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


# --- read path ---------------------------------------------------------------


async def load_endpoint(
    url: str, body: dict[str, Any], concurrency: int, seconds: float
) -> tuple[float, float, bytes]:
    """Requests per second, p50 in ms and one response body, for `url`."""
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        first = await client.post(url, json=body)
        first.raise_for_status()

        async def attempt() -> str:
            response = await client.post(url, json=body)
            return "ok" if response.status_code == 200 else str(response.status_code)

        counts = await run_workers(concurrency, seconds, attempt)
    if set(counts.outcomes) != {"ok"}:
        raise RuntimeError(f"{url} failed: {counts.summary()}")
    return counts.rate, statistics.median(counts.latencies) * 1000, first.content


async def read_rows(bench: Bench) -> list[Row]:
    port = fanout.free_port()
    server = await fanout.start_process(
        [
            sys.executable,
            str(BENCH_DIR / "bare_events_server.py"),
            str(port),
            bench.dsn,
            str(bench.args.pool_size),
        ],
        dict(os.environ),
    )
    try:
        await fanout.wait_port(port)
        body = {"query": EVENTS_QUERY}
        concurrency, seconds = bench.args.concurrency, bench.args.duration
        api_rate, api_p50, api_body = await load_endpoint(
            f"{bench.base_url}/graphql", body, concurrency, seconds
        )
        raw_rate, raw_p50, raw_body = await load_endpoint(
            f"http://127.0.0.1:{port}/events", body, concurrency, seconds
        )
    finally:
        server.terminate()
        await server.wait()
    same = orjson.loads(api_body) == orjson.loads(raw_body)
    events = len(orjson.loads(raw_body)["data"]["events"]["edges"])
    notes = (
        f"{events} events, {concurrency} clients; {len(api_body):,} B, "
        f"{'same JSON' if same else 'JSON DIFFERS'}"
    )
    return [
        Row("read path: events, requests/s", api_rate, raw_rate, "req/s", notes),
        Row("read path: events, p50", api_p50, raw_p50, "ms", notes),
    ]


# --- fan-out -----------------------------------------------------------------


async def fanout_rows(bench: Bench) -> list[Row]:
    count = bench.args.subscribers
    options = argparse.Namespace(
        rate=bench.args.fanout_rate,
        duration=bench.args.duration,
        seats=20,
        redis_url=bench.args.redis_url,
    )
    bare = await fanout.bare_run(options, count)
    seatline = await fanout.seatline_run(
        options, count, bench.database_url, bench.key_file
    )
    notes = (
        f"{count:,} subscribers, {options.rate:g} changes/s; missing: "
        f"seatline {seatline.missing:,}, bare {bare.missing:,}"
    )
    return [
        Row(
            "fan-out: server CPU per message",
            seatline.cpu_per_message_us(),
            bare.cpu_per_message_us(),
            "µs",
            notes,
        ),
        Row(
            "fan-out: p50 commit to client",
            median_or_nan(seatline.latencies_ms),
            median_or_nan(bare.latencies_ms),
            "ms",
            notes,
        ),
    ]


def median_or_nan(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- set-up ------------------------------------------------------------------


async def make_event(
    database_url: str, key_file: Path, seat_count: int
) -> tuple[uuid.UUID, str]:
    """Create a stadium of `seat_count` seats and an event on sale there."""
    settings = Settings(database_url=database_url, key_file=key_file)
    engine = db.create_engine(settings)
    broadcast = create_broadcast("memory://")
    await broadcast.connect()
    try:
        services = build_services(
            settings, engine, broadcast, load_key_store(key_file, create=False)
        )
        organizer = "bench-organizer"
        venue = await import_plan(services, stadium(seat_count), organizer_id=organizer)
        now = services.clock.now()
        prices = {name: 5000 for name, _ in venue.layout["categories"]}
        # Twenty events on one venue, so that the events query returns a full
        # page. The first one is the event under load.
        event_ids = []
        for index in range(20):
            event = await create_event(
                services,
                EventDraft(
                    venue_id=venue.id,
                    name=f"Limits benchmark, date {index + 1}",
                    starts_at=now + timedelta(days=30 + index),
                    time_zone="UTC",
                    sale_starts_at=now - timedelta(hours=1),
                    sale_ends_at=now + timedelta(days=29),
                    currency="EUR",
                    prices=prices,
                    max_seats_per_order=10,
                    max_seats_per_buyer=10,
                ),
                organizer_id=organizer,
            )
            await change_event_status(
                services, event.id, event.status.ON_SALE, organizer_id=organizer
            )
            event_ids.append(event.id)
        return event_ids[0], venue.layout_version
    finally:
        await broadcast.disconnect()
        await engine.dispose()


async def load_seats(
    pool: asyncpg.Pool, event_id: uuid.UUID, hot_seats: int
) -> tuple[list[Seat], list[Seat]]:
    """Return the event's seats in layout order, and a block of `hot_seats`."""
    rows = await pool.fetch(
        "SELECT s.id, s.guid FROM event_seats e JOIN seats s ON s.id = e.seat_id "
        "WHERE e.event_id = $1 ORDER BY e.ordinal",
        event_id,
    )
    seats = [Seat(row["id"], row["guid"]) for row in rows]
    # Consecutive ordinals: one block of seats side by side.
    start = len(seats) // 2 - hot_seats // 2
    return seats, seats[start : start + hot_seats]


async def start_server(bench: Bench) -> asyncio.subprocess.Process:
    port = fanout.free_port()
    env = {
        **os.environ,
        "SEATLINE_DATABASE_URL": bench.database_url,
        "SEATLINE_REDIS_URL": bench.args.redis_url,
        "SEATLINE_KEY_FILE": str(bench.key_file),
        "SEATLINE_JWT_ISSUER": ISSUER,
        "SEATLINE_JWT_AUDIENCE": AUDIENCE,
        "SEATLINE_RATE_LIMITS_ENABLED": "false",
        "SEATLINE_WAITING_ROOM_KEY_PREFIX": f"seatline-bench-{uuid.uuid4().hex}:",
        # The raw side has exactly this many connections.
        "SEATLINE_DB_POOL_SIZE": str(bench.args.pool_size),
        "SEATLINE_DB_MAX_OVERFLOW": "0",
        # Expired holds never block a seat, so a sweeper pass in the middle
        # of a raw phase would only add work that the raw side does not do.
        "SEATLINE_SWEEPER_INTERVAL_SECONDS": "3600",
    }
    server = await fanout.start_process(fanout.serve_command(port), env)
    bench.base_url = f"http://127.0.0.1:{port}"
    bench.server_pid = server.pid
    await fanout.wait_port(port)
    return server


async def start_profiler(pid: int, output: Path) -> asyncio.subprocess.Process:
    """Sample the server with py-spy until interrupted, into a speedscope file."""
    beside_python = Path(sys.executable).with_name("py-spy")
    command = str(beside_python) if beside_python.exists() else shutil.which("py-spy")
    if command is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    profiler = await asyncio.create_subprocess_exec(
        command,
        "record",
        "--pid",
        str(pid),
        "--output",
        str(output),
        "--format",
        "speedscope",
        "--rate",
        "200",
        stdout=asyncio.subprocess.DEVNULL,
    )
    # py-spy needs a moment to attach before the first phase starts.
    await asyncio.sleep(1)
    return profiler


CASES = ("holds", "seatmap", "read", "fanout")


async def main(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()
    name, database_url = await fanout.scratch_database(args.admin_url)
    key_dir = Path(tempfile.mkdtemp(prefix="seatline-bench-limits-"))
    key_file = key_dir / "keys.json"
    write_key_store(key_file, generate_key_store())
    rows: list[Row] = []
    server = profiler = None
    try:
        await asyncio.to_thread(migrate.upgrade, database_url)
        event_id, layout_version = await make_event(database_url, key_file, args.seats)
        bench = Bench(
            args,
            database_url,
            key_file,
            event_id,
            layout_version,
            [],
            [],
        )
        bench.pool = await asyncpg.create_pool(
            bench.dsn,
            min_size=args.pool_size,
            max_size=args.pool_size,
            # The server's lock timeout, so that both sides give up alike.
            server_settings={"lock_timeout": str(Settings().db_lock_timeout_ms)},
        )
        bench.seats, bench.hot = await load_seats(bench.pool, event_id, args.hot_seats)
        server = await start_server(bench)
        if args.profile is not None:
            profiler = await start_profiler(server.pid, args.profile)
        runners = {
            "holds": hold_rows,
            "seatmap": seat_map_rows,
            "read": read_rows,
            "fanout": fanout_rows,
        }
        for case in args.cases:
            rows += await runners[case](bench)
            print(f"finished {case}", file=sys.stderr, flush=True)
        await bench.pool.close()
    finally:
        if profiler is not None:
            # py-spy writes its output when interrupted.
            profiler.send_signal(signal.SIGINT)
            await profiler.wait()
        if server is not None:
            server.terminate()
            await server.wait()
        await fanout.drop_database(args.admin_url, name)
        shutil.rmtree(key_dir, ignore_errors=True)
    print_table(args, rows, load_before)
    return 0


def print_table(
    args: argparse.Namespace, rows: list[Row], load_before: tuple[float, float, float]
) -> None:
    load_after = os.getloadavg()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    print(f"\nCommand: `{command}`")
    print(
        f"Machine: {os.cpu_count()} cores; load average (1, 5, 15 min) "
        f"{format_load(load_before)} before, {format_load(load_after)} after"
    )
    print(
        f"Concurrency {args.concurrency}, pool {args.pool_size} connections on "
        f"both sides, {args.duration:g} s per phase; ratio = API / raw limit\n"
    )
    print("| case | API | raw limit | ratio | notes |")
    print("| --- | ---: | ---: | ---: | --- |")
    for row in rows:
        print(row.markdown())


def format_load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in load)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seats", type=int, default=50_000, help="venue seats")
    parser.add_argument(
        "--hot-seats", type=int, default=1000, help="seats in the hot block"
    )
    parser.add_argument(
        "--hot-hold-seconds",
        type=int,
        default=2,
        help="hold duration during the hot phase, in seconds",
    )
    parser.add_argument(
        "--group", type=int, default=2, help="at most this many seats per hold"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per measured phase"
    )
    parser.add_argument(
        "--concurrency", type=int, default=20, help="concurrent clients per phase"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=10,
        help="database connections of the server and of each raw side",
    )
    parser.add_argument(
        "--repeats", type=int, default=7, help="seat map samples per variant"
    )
    parser.add_argument(
        "--subscribers", type=int, default=1000, help="fan-out subscribers"
    )
    parser.add_argument(
        "--fanout-rate", type=float, default=20.0, help="fan-out changes per second"
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=CASES,
        default=list(CASES),
        help="cases to run, in this order",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the server with py-spy into this speedscope file",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL database used to create and drop the scratch database",
    )
    args = parser.parse_args(argv)
    if args.hot_seats > args.seats:
        parser.error("--hot-seats must not exceed --seats")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
