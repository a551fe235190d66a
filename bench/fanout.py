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
import resource
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
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
    "{ kind version fromVersion changes { seatId status } } }"
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
            f"{len(self.latencies_ms)} | {self.missing} | {memory} |"
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
        "SEATLINE_DB_POOL_SIZE": "10",
    }
    server = await start_process(
        [
            sys.executable,
            "-m",
            "seatline.cli",
            "--log-level",
            "WARNING",
            "serve",
            "--port",
            str(port),
        ],
        env,
    )
    broadcast = create_broadcast(args.redis_url)
    await broadcast.connect()
    settings = Settings(database_url=database_url, key_file=key_file)
    engine = db.create_engine(settings)
    from seatline.auth.keys import load_key_store

    services = build_services(
        settings, engine, broadcast, load_key_store(key_file, create=False)
    )
    run = Run("seatline", count)
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
        for client in clients:
            for version, sent in commits.items():
                arrived = client.arrivals.get(version)
                if arrived is None:
                    run.missing += 1
                else:
                    run.latencies_ms.append((arrived - sent) * 1000)
        await close_all(clients)
    finally:
        server.terminate()
        await server.wait()
        await broadcast.disconnect()
        await engine.dispose()
    return run


class SeatlineClient:
    def __init__(self, url: str, event_id: uuid.UUID) -> None:
        self.url = url
        self.event_id = event_id
        self.arrivals: dict[int, float] = {}
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
            await ws.send(
                orjson.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {
                            "query": SUBSCRIPTION,
                            "variables": {"e": str(self.event_id)},
                        },
                    }
                ).decode()
            )
            async for raw in ws:
                now = time.perf_counter()
                message = orjson.loads(raw)
                update = (
                    message.get("payload", {}).get("data", {}).get("seatMapUpdates")
                )
                if update is None:
                    continue
                if update["kind"] == "SNAPSHOT":
                    self.ready.set()
                elif update["kind"] == "DELTA":
                    for version in range(update["fromVersion"], update["version"] + 1):
                        self.arrivals.setdefault(version, now)


class BareClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.arrivals: dict[int, float] = {}
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with websockets.connect(
            self.url, max_queue=None, ping_interval=None, open_timeout=60
        ) as ws:
            self.ready.set()
            async for raw in ws:
                now = time.perf_counter()
                version = orjson.loads(raw)["version"]
                self.arrivals.setdefault(version, now)


async def connect_all(clients: list[Any]) -> None:
    for start in range(0, len(clients), 200):
        batch = clients[start : start + 200]
        for client in batch:
            client.task = asyncio.create_task(client.run())
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in batch)), 120)


async def close_all(clients: list[Any]) -> None:
    for client in clients:
        client.task.cancel()
    await asyncio.gather(*(c.task for c in clients), return_exceptions=True)


async def bare_run(args: argparse.Namespace, count: int) -> Run:
    port = free_port()
    server = await start_process(
        [sys.executable, str(BENCH_DIR / "bare_ws_server.py"), str(port)],
        dict(os.environ),
    )
    run = Run("bare websockets", count)
    try:
        await wait_port(port)
        base_rss = rss_kib(server.pid)
        clients = [BareClient(f"ws://127.0.0.1:{port}/sub") for _ in range(count)]
        await connect_all(clients)
        await asyncio.sleep(2)
        run.memory_per_socket_kib = (rss_kib(server.pid) - base_rss) / count
        sent: dict[int, float] = {}
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
        for client in clients:
            for version, started in sent.items():
                arrived = client.arrivals.get(version)
                if arrived is None:
                    run.missing += 1
                else:
                    run.latencies_ms.append((arrived - started) * 1000)
        await close_all(clients)
    finally:
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
    runs: list[Run] = []
    try:
        await asyncio.to_thread(migrate.upgrade, database_url)
        for count in args.subscribers:
            runs.append(await bare_run(args, count))
            runs.append(await seatline_run(args, count, database_url, key_file))
    finally:
        await drop_database(args.admin_url, name)
        shutil.rmtree(key_dir, ignore_errors=True)

    cores = os.cpu_count()
    print(f"\n{args.rate:g} changes/s for {args.duration:g} s on {cores} cores\n")
    print(
        "| server | subscribers | p50 ms | p99 ms | deliveries | missing "
        "| KiB per socket |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in runs:
        print(run.row())


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
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL database used to create and drop the scratch database",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
