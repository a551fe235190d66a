"""Fan-out benchmark: delivery latency from commit to client, and memory.

For each subscriber count, the script runs seatline (`seatline serve`, one
process, PostgreSQL and Redis) and a bare websockets broadcaster side by
side on this machine. Writers commit one seat change at a fixed rate; every
subscriber records when each version arrives. Latency runs from the
writer's commit (just before the change is published) to the client's
receipt, so it includes seatline's batching window
(SEATLINE_LIVE_BATCH_WINDOW_SECONDS, 50 ms by default). Memory per idle
subscribed socket is the server's resident memory growth divided by the
number of sockets.

Run: .venv/bin/python bench/fanout.py --subscribers 1000 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import websockets
from websockets.typing import Subprotocol

from seatline import db, migrate
from seatline.auth.keys import generate_key_store, write_key_store
from seatline.booking.events import EventDraft, change_event_status, create_event
from seatline.booking.holds import HoldRequest, hold_seats
from seatline.booking.venue_import import import_plan
from seatline.config import Settings
from seatline.runtime import build_services
from seatline.subscriptions.backends import create_broadcast
from seatline.subscriptions.publisher import SeatChangeBatch
from seatline.venues.generate import theatre

SUBSCRIPTION = (
    "subscription($e: ID!) { seatMapUpdates(eventId: $e) "
    "{ kind version fromVersion reason changes { seatId status } } }"
)
BENCH_DIR = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # Fields 14 and 15 of stat(5), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


@dataclass
class Run:
    name: str
    subscribers: int
    latencies_ms: list[float] = field(default_factory=list)
    missing: int = 0
    memory_per_socket_kib: float | None = None
    # Server CPU time while the changes were sent, and the messages that
    # reached clients meanwhile: CPU per message varies far less than
    # latency when other work shares the machine.
    cpu_seconds: float = 0.0
    messages: int = 0
    # Why snapshots after the first were sent, with their counts.
    resyncs: Counter[str] = field(default_factory=Counter)
    # Subscriptions that failed (and were retried), by error code.
    failures: Counter[str] = field(default_factory=Counter)

    def cpu_per_message_us(self) -> float:
        return self.cpu_seconds / self.messages * 1e6 if self.messages else float("nan")

    def row(self) -> str:
        p50 = (
            statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")
        )
        p99 = percentile(self.latencies_ms, 0.99) if self.latencies_ms else float("nan")
        memory = (
            f"{self.memory_per_socket_kib:.1f}" if self.memory_per_socket_kib else "n/a"
        )
        return (
            f"| {self.name} | {self.subscribers} | {p50:.1f} | {p99:.1f} | "
            f"{len(self.latencies_ms)} | {self.missing} | "
            f"{sum(self.resyncs.values())} | {self.cpu_per_message_us():.0f} | "
            f"{memory} |"
        )


async def start_process(
    command: list[str], env: dict[str, str]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def serve_command(port: int) -> list[str]:
    """Build the command line of one `seatline serve` process on `port`."""
    return [
        sys.executable,
        "-m",
        "seatline.cli",
        "--log-level",
        "WARNING",
        "serve",
        "--port",
        str(port),
    ]


async def wait_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return
    raise RuntimeError(f"nothing listens on port {port}")


async def seatline_run(
    args: argparse.Namespace, count: int, database_url: str, key_file: Path
) -> Run:
    port = free_port()
    env = {
        **os.environ,
        "SEATLINE_DATABASE_URL": database_url,
        "SEATLINE_REDIS_URL": args.redis_url,
        "SEATLINE_KEY_FILE": str(key_file),
        "SEATLINE_LIVE_MAX_SOCKETS_PER_PRINCIPAL": str(count + 10),
        "SEATLINE_LIVE_MAX_SOCKETS_PER_ADDRESS": str(count + 10),
        # The clients connect in bursts of 200; the rate limit is not measured.
        "SEATLINE_LIVE_MAX_NEW_SOCKETS_PER_SECOND": "100000",
        # Every client subscribes from this one address.
        "SEATLINE_RATE_LIMITS_ENABLED": "false",
        "SEATLINE_DB_POOL_SIZE": "10",
    }
    server = await start_process(serve_command(port), env)
    broadcast = create_broadcast(args.redis_url)
    await broadcast.connect()
    settings = Settings(database_url=database_url, key_file=key_file)
    engine = db.create_engine(settings)
    from seatline.auth.keys import load_key_store

    services = build_services(
        settings, engine, broadcast, load_key_store(key_file, create=False)
    )
    run = Run("seatline", count)
    clients: list[SeatlineClient] = []
    try:
        await wait_port(port)
        event_id, seats = await make_event(services, args.seats)
        base_rss = rss_kib(server.pid)
        url = f"ws://127.0.0.1:{port}/graphql"
        clients = [SeatlineClient(url, event_id) for _ in range(count)]
        await connect_all(clients)
        await asyncio.sleep(2)
        run.memory_per_socket_kib = (rss_kib(server.pid) - base_rss) / count

        commits: dict[int, float] = {}
        original = services.publisher.publish

        async def timed_publish(batch: SeatChangeBatch) -> None:
            commits[batch.version] = time.perf_counter()
            await original(batch)

        services.publisher.publish = timed_publish  # type: ignore[method-assign]
        cpu_before = cpu_seconds(server.pid)
        messages_before = sum(client.messages for client in clients)
        changes = int(args.rate * args.duration)
        for index in range(changes):
            started = time.perf_counter()
            await hold_seats(
                services,
                f"writer-{index}",
                HoldRequest(
                    event_id=event_id,
                    idempotency_key=str(uuid.uuid4()),
                    seat_ids=[seats[index]],
                ),
            )
            await asyncio.sleep(
                max(0.0, 1 / args.rate - (time.perf_counter() - started))
            )
        await asyncio.sleep(2)
        run.cpu_seconds = cpu_seconds(server.pid) - cpu_before
        run.messages = sum(client.messages for client in clients) - messages_before
        for client in clients:
            run.resyncs.update(client.resyncs)
            run.failures.update(client.failures)
            for version, sent in commits.items():
                arrived = client.arrivals.get(version)
                if arrived is None:
                    run.missing += 1
                else:
                    run.latencies_ms.append((arrived - sent) * 1000)
    finally:
        await close_all(clients)
        server.terminate()
        await server.wait()
        await broadcast.disconnect()
        await engine.dispose()
    return run


class SeatlineClient:
    def __init__(
        self, url: str, event_id: uuid.UUID, document: str = SUBSCRIPTION
    ) -> None:
        self.url = url
        self.event_id = event_id
        self.document = document
        self.arrivals: dict[int, float] = {}
        self.messages = 0
        self.resyncs: Counter[str] = Counter()
        # Failed subscriptions by error code.
        self.failures: Counter[str] = Counter()
        self.operation_id = 0
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with websockets.connect(
            self.url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            max_queue=None,
            ping_interval=None,
            open_timeout=60,
        ) as ws:
            await ws.send(
                orjson.dumps({"type": "connection_init", "payload": {}}).decode()
            )
            await ws.recv()
            await self.subscribe(ws, 1)
            async for raw in ws:
                now = time.perf_counter()
                self.messages += 1
                message = orjson.loads(raw)
                if message.get("id") != str(self.operation_id):
                    # The server's complete after a failed subscription.
                    continue
                update = self.update(message)
                if update is None:
                    # A failed subscription (BUSY when the server is
                    # overloaded) is retried after a pause, as clients do.
                    await asyncio.sleep(random.uniform(0.5, 1.5))
                    await self.subscribe(ws, self.operation_id + 1)
                elif update["kind"] == "SNAPSHOT":
                    if self.ready.is_set():
                        self.resyncs[update["reason"]] += 1
                    self.ready.set()
                elif update["kind"] == "DELTA":
                    for version in range(update["fromVersion"], update["version"] + 1):
                        self.arrivals.setdefault(version, now)

    async def subscribe(self, ws: Any, operation_id: int) -> None:
        self.operation_id = operation_id
        payload = {"query": self.document, "variables": {"e": str(self.event_id)}}
        message = {"id": str(operation_id), "type": "subscribe", "payload": payload}
        await ws.send(orjson.dumps(message).decode())

    def update(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Return the seat-map update of a message, or None for a failure."""
        payload = message.get("payload")
        if message["type"] == "next" and payload.get("data"):
            update: dict[str, Any] = payload["data"]["seatMapUpdates"]
            return update
        errors = payload if message["type"] == "error" else payload.get("errors")
        for error in errors or [{}]:
            code = (error.get("extensions") or {}).get("code", "no code")
            self.failures[code] += 1
        return None


class BareClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.arrivals: dict[int, float] = {}
        self.messages = 0
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with websockets.connect(
            self.url, max_queue=None, ping_interval=None, open_timeout=60
        ) as ws:
            self.ready.set()
            async for raw in ws:
                now = time.perf_counter()
                self.messages += 1
                version = orjson.loads(raw)["version"]
                self.arrivals.setdefault(version, now)


async def connect_all(clients: list[Any]) -> None:
    for start in range(0, len(clients), 200):
        batch = clients[start : start + 200]
        for client in batch:
            client.task = asyncio.create_task(client.run())
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in batch)), 120)


async def close_all(clients: list[Any]) -> None:
    tasks = [client.task for client in clients if client.task is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def bare_run(args: argparse.Namespace, count: int) -> Run:
    port = free_port()
    server = await start_process(
        [sys.executable, str(BENCH_DIR / "bare_ws_server.py"), str(port)],
        dict(os.environ),
    )
    run = Run("bare websockets", count)
    clients: list[BareClient] = []
    try:
        await wait_port(port)
        base_rss = rss_kib(server.pid)
        clients = [BareClient(f"ws://127.0.0.1:{port}/sub") for _ in range(count)]
        await connect_all(clients)
        await asyncio.sleep(2)
        run.memory_per_socket_kib = (rss_kib(server.pid) - base_rss) / count
        sent: dict[int, float] = {}
        cpu_before = cpu_seconds(server.pid)
        messages_before = sum(client.messages for client in clients)
        # The payload has the shape and size of a one-seat seatline delta.
        async with websockets.connect(f"ws://127.0.0.1:{port}/pub") as publisher:
            for version in range(1, int(args.rate * args.duration) + 1):
                payload = {
                    "id": "1",
                    "type": "next",
                    "version": version,
                    "payload": {
                        "data": {
                            "seatMapUpdates": {
                                "kind": "DELTA",
                                "version": version,
                                "fromVersion": version,
                                "changes": [
                                    {"seatId": f"stalls-A-{version}", "status": "HELD"}
                                ],
                            }
                        }
                    },
                }
                sent[version] = time.perf_counter()
                await publisher.send(orjson.dumps(payload).decode())
                await asyncio.sleep(1 / args.rate)
        await asyncio.sleep(2)
        run.cpu_seconds = cpu_seconds(server.pid) - cpu_before
        run.messages = sum(client.messages for client in clients) - messages_before
        for client in clients:
            for version, started in sent.items():
                arrived = client.arrivals.get(version)
                if arrived is None:
                    run.missing += 1
                else:
                    run.latencies_ms.append((arrived - started) * 1000)
    finally:
        await close_all(clients)
        server.terminate()
        await server.wait()
    return run


async def make_event(services: Any, rows: int) -> tuple[uuid.UUID, list[str]]:
    organizer = f"bench-{secrets.token_hex(4)}"
    venue = await import_plan(
        services, theatre(rows=rows, seats_per_row=40), organizer_id=organizer
    )
    now = services.clock.now()
    categories = [name for name, _ in venue.layout["categories"]]
    event = await create_event(
        services,
        EventDraft(
            venue_id=venue.id,
            name="Fan-out benchmark",
            starts_at=now + timedelta(days=30),
            time_zone="UTC",
            sale_starts_at=now - timedelta(hours=1),
            sale_ends_at=now + timedelta(days=29),
            currency="EUR",
            prices=dict.fromkeys(categories, 1000),
            max_seats_per_order=1,
            max_seats_per_buyer=1,
        ),
        organizer_id=organizer,
    )
    await change_event_status(
        services, event.id, event.status.ON_SALE, organizer_id=organizer
    )
    seats = [
        seat[0]
        for s in venue.layout["sections"]
        for r in s["rows"]
        for seat in r["seats"]
    ]
    return event.id, seats


async def scratch_database(admin_url: str) -> tuple[str, str]:
    name = f"seatline_bench_fanout_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    return name, url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def drop_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def main(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max(args.subscribers) * 2 + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, needed), hard), hard))
    name, database_url = await scratch_database(args.admin_url)
    key_dir = tempfile.mkdtemp(prefix="seatline-bench-fanout-")
    key_file = Path(key_dir) / "keys.json"
    write_key_store(key_file, generate_key_store())
    cores = os.cpu_count()
    print(f"\n{args.rate:g} changes/s for {args.duration:g} s on {cores} cores\n")
    print(
        "| server | subscribers | p50 ms | p99 ms | deliveries | missing "
        "| resyncs | CPU µs per message | KiB per socket |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    notes: list[str] = []
    try:
        await asyncio.to_thread(migrate.upgrade, database_url)
        for count in args.subscribers:
            # Rows print as runs finish, so a failed run keeps the others.
            for run in (
                bare_run(args, count),
                seatline_run(args, count, database_url, key_file),
            ):
                print(await measure(run, notes), flush=True)
    finally:
        await drop_database(args.admin_url, name)
        shutil.rmtree(key_dir, ignore_errors=True)
    for note in notes:
        print(f"\n{note}")


async def measure(run: Awaitable[Run], notes: list[str]) -> str:
    """Return the table row of `run`, adding what else it saw to `notes`."""
    try:
        finished = await run
    except TimeoutError:
        return "| (run failed: clients did not connect within 120 s per 200) |"

    for title, counts in (
        ("resyncs", finished.resyncs),
        ("failed subscriptions, retried", finished.failures),
    ):
        if counts:
            listed = ", ".join(f"{n} x {why}" for why, n in counts.most_common())
            notes.append(
                f"{finished.name}, {finished.subscribers} subscribers, {title}: "
                f"{listed}"
            )
    return finished.row()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second")
    parser.add_argument(
        "--duration", type=float, default=15.0, help="seconds of changes"
    )
    parser.add_argument(
        "--seats", type=int, default=20, help="theatre rows of 40 seats"
    )
    add_service_arguments(parser)
    return parser.parse_args()


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the Redis and PostgreSQL addresses that the benchmarks use."""
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL database used to create and drop the scratch database",
    )


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
