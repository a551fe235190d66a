"""Mass-subscribe benchmark: many sockets subscribe to one seat map at once.

The script starts one `seatline serve` process on a scratch PostgreSQL
database and Redis, opens every socket at the same moment (no batches),
subscribes each to `seatMapUpdates` and counts, each second, how many have
received their first snapshot. The same number of sockets then connect to
the bare websockets server, which sends each one a message of the
snapshot's size on connecting. The ratio of the two times to the last
snapshot is the cost of the subscription's first step (authentication,
GraphQL, the shared availability read) over the transport alone.

Run: .venv/bin/python bench/mass_subscribe.py --sockets 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import websockets
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fanout import (
    BENCH_DIR,
    SeatlineClient,
    add_service_arguments,
    close_all,
    drop_database,
    free_port,
    make_event,
    scratch_database,
    serve_command,
    start_process,
    wait_port,
)

from seatline import db, migrate
from seatline.auth.keys import (
    generate_key_store,
    load_key_store,
    write_key_store,
)
from seatline.config import Settings
from seatline.runtime import build_services
from seatline.subscriptions.backends import create_broadcast

# The subscription a seat-map client sends, with the availability encoding.
SUBSCRIPTION = (
    "subscription($e: ID!) { seatMapUpdates(eventId: $e) { kind version "
    "fromVersion reason seatCount availability changes { seatId status } } }"
)


@dataclass
class Run:
    name: str
    sockets: int
    # Seconds from the start to each socket's first snapshot, in order.
    arrivals: list[float] = field(default_factory=list)
    # Sockets that had their snapshot at each whole second from the start.
    progress: list[int] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    timed_out: int = 0

    def seconds_to(self, share: float) -> float | None:
        needed = max(1, round(self.sockets * share))
        if len(self.arrivals) < needed:
            return None
        return self.arrivals[needed - 1]

    def cells(self) -> list[str]:
        def seconds(share: float) -> str:
            value = self.seconds_to(share)
            return "not reached" if value is None else f"{value:.1f}"

        return [
            self.name,
            f"{self.sockets:,}",
            seconds(0.5),
            seconds(0.99),
            seconds(1.0),
            f"{len(self.arrivals):,}",
            f"{sum(self.failures.values()):,}",
        ]


async def watch(clients: list[Any], run: Run, limit: float) -> None:
    """Record when each client became ready, polling every 50 ms."""
    started = time.perf_counter()
    pending = set(range(len(clients)))
    next_tick = 1.0
    while pending:
        elapsed = time.perf_counter() - started
        if elapsed > limit:
            run.timed_out = len(pending)
            break
        for index in [i for i in pending if clients[i].ready.is_set()]:
            pending.discard(index)
            run.arrivals.append(elapsed)
        if elapsed >= next_tick:
            run.progress.append(len(clients) - len(pending))
            next_tick += 1.0
        await asyncio.sleep(0.05)
    run.arrivals.sort()


async def seatline_run(args: argparse.Namespace) -> tuple[Run, int]:
    """Return the seatline run and the size of one snapshot message in bytes."""
    name, database_url = await scratch_database(args.admin_url)
    key_dir = tempfile.mkdtemp(prefix="seatline-bench-subscribe-")
    key_file = Path(key_dir) / "keys.json"
    write_key_store(key_file, generate_key_store())
    port = free_port()
    env = {
        **os.environ,
        "SEATLINE_DATABASE_URL": database_url,
        "SEATLINE_REDIS_URL": args.redis_url,
        "SEATLINE_KEY_FILE": str(key_file),
        "SEATLINE_LIVE_MAX_SOCKETS_PER_PRINCIPAL": str(args.sockets + 10),
        "SEATLINE_LIVE_MAX_SOCKETS_PER_ADDRESS": str(args.sockets + 10),
        # Every socket opens at once from this one address.
        "SEATLINE_LIVE_MAX_NEW_SOCKETS_PER_SECOND": "100000",
        "SEATLINE_RATE_LIMITS_ENABLED": "false",
        "SEATLINE_DB_POOL_SIZE": "10",
    }

    server = None
    broadcast = create_broadcast(args.redis_url)
    engine = None
    clients: list[SeatlineClient] = []
    try:
        await asyncio.to_thread(migrate.upgrade, database_url)
        server = await start_process(serve_command(port), env)

        await broadcast.connect()
        settings = Settings(database_url=database_url, key_file=key_file)
        engine = db.create_engine(settings)
        services = build_services(
            settings, engine, broadcast, load_key_store(key_file, create=False)
        )
        await wait_port(port)
        event_id, _ = await make_event(services, args.rows)
        url = f"ws://127.0.0.1:{port}/graphql"
        snapshot_bytes = await snapshot_size(url, event_id)

        # The probe filled the availability cache, as an on-sale's first
        # subscriber does, so the crowd measures the cached path.
        run = Run("seatline", args.sockets)
        clients = [
            SeatlineClient(url, event_id, SUBSCRIPTION) for _ in range(args.sockets)
        ]
        for client in clients:
            client.task = asyncio.create_task(client.run())
        await watch(clients, run, args.timeout)

        for client in clients:
            run.failures.update(client.failures)
        return run, snapshot_bytes
    finally:
        await close_all(clients)
        if server is not None:
            server.terminate()
            await server.wait()
        await broadcast.disconnect()
        if engine is not None:
            await engine.dispose()
        await drop_database(args.admin_url, name)
        shutil.rmtree(key_dir, ignore_errors=True)


async def snapshot_size(url: str, event_id: uuid.UUID) -> int:
    """Subscribe once and return the size of the first snapshot message."""
    async with websockets.connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=60
    ) as ws:
        await ws.send(orjson.dumps({"type": "connection_init"}).decode())
        await ws.recv()
        payload = {"query": SUBSCRIPTION, "variables": {"e": str(event_id)}}
        await ws.send(
            orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode()
        )
        message = await ws.recv()
    return len(message)


class BareSnapshotClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with websockets.connect(
            self.url, max_queue=None, ping_interval=None, open_timeout=120
        ) as ws:
            await ws.recv()
            self.ready.set()
            await ws.wait_closed()


async def bare_run(args: argparse.Namespace, snapshot_bytes: int) -> Run:
    port = free_port()
    server = await start_process(
        [sys.executable, str(BENCH_DIR / "bare_ws_server.py"), str(port)],
        dict(os.environ),
    )
    run = Run("bare websockets", args.sockets)
    clients: list[BareSnapshotClient] = []
    try:
        await wait_port(port)
        url = f"ws://127.0.0.1:{port}/snapshot/{snapshot_bytes}"
        clients = [BareSnapshotClient(url) for _ in range(args.sockets)]
        for client in clients:
            client.task = asyncio.create_task(client.run())
        await watch(clients, run, args.timeout)
        for client in clients:
            if client.task is not None and client.task.done():
                error = client.task.exception()
                if error is not None:
                    run.failures[type(error).__name__] += 1
    finally:
        await close_all(clients)
        server.terminate()
        await server.wait()
    return run


async def main(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = args.sockets * 2 + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, needed), hard), hard))
    load = os.getloadavg()[0]
    seatline, snapshot_bytes = await seatline_run(args)
    bare = await bare_run(args, snapshot_bytes)

    print(
        f"\n{args.sockets:,} sockets subscribing at once to a "
        f"{args.rows * 40:,}-seat map (snapshot message {snapshot_bytes:,} bytes)"
        f" on {os.cpu_count()} cores, 1-minute load {load:.1f} at the start\n"
    )
    print(
        "| server | sockets | s to 50% | s to 99% | s to all | snapshots "
        "| failed subscribes, retried |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in (bare, seatline):
        print("| " + " | ".join(run.cells()) + " |")
    bare_all, seatline_all = bare.seconds_to(1.0), seatline.seconds_to(1.0)
    if bare_all and seatline_all:
        print(f"\nseatline took {seatline_all / bare_all:.1f} times the bare time.")
    for run in (bare, seatline):
        if run.timed_out:
            print(f"{run.name}: {run.timed_out} sockets had nothing after the timeout")
        if run.failures:
            listed = ", ".join(f"{n} x {why}" for why, n in run.failures.most_common())
            print(f"{run.name}: failed subscribes: {listed}")
        print(f"{run.name}, sockets with a snapshot each second: {run.progress}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=20, help="theatre rows of 40 seats")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for all"
    )
    add_service_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
