"""Graceful shutdown of a real server process on SIGTERM.

The server drains for two seconds: /readyz fails while /healthz and new
requests still work, then websockets are closed with 1012, the listener
closes, and a request that was waiting on a database lock still gets its
response before the process exits.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from seatline.auth.keys import KeyStore
from tests.conftest import AUDIENCE, ISSUER, DatabaseUnderTest, seat_ids
from tests.live import live_server_process
from tests.observability.support import HOLD_SEATS, event_and_buyer

pytestmark = pytest.mark.slow

DRAIN_SECONDS = 2.0
WATCH = """
subscription Watch($eventId: ID!) { seatMapUpdates(eventId: $eventId) { kind version } }
"""


async def open_subscription(
    base_url: str, event_id: str
) -> websockets.ClientConnection:
    socket = await websockets.connect(
        base_url.replace("http://", "ws://") + "/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
    )
    await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": WATCH, "variables": {"eventId": event_id}},
            }
        )
    )
    first = json.loads(await socket.recv())
    assert first["payload"]["data"]["seatMapUpdates"]["kind"] == "SNAPSHOT"
    return socket


async def close_code(socket: websockets.ClientConnection) -> int | None:
    try:
        while True:
            await socket.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def wait_for_status(client: httpx.AsyncClient, path: str, status: int) -> dict:  # type: ignore[type-arg]
    for _ in range(50):
        response = await client.get(path)
        if response.status_code == status:
            body: dict = response.json()  # type: ignore[type-arg]
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never returned {status}")


async def test_sigterm_drains_then_finishes_in_flight(
    postgres_database: DatabaseUnderTest,
    keys: KeyStore,
    key_file: Path,
    tmp_path: Path,
) -> None:
    event, token = await event_and_buyer(
        postgres_database, keys, key_file, "late-buyer"
    )
    log_file = tmp_path / "server.log"
    dsn = postgres_database.url.replace("postgresql+asyncpg://", "postgresql://")
    locker = await asyncpg.connect(dsn)
    env = {
        "SEATLINE_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "SEATLINE_DB_LOCK_TIMEOUT_MS": "30000",
        "SEATLINE_LOG_FORMAT": "json",
    }
    try:
        async with live_server_process(
            postgres_database.url,
            key_file,
            issuer=ISSUER,
            audience=AUDIENCE,
            extra_env=env,
            log_level="INFO",
            log_file=log_file,
        ) as server:
            socket = await open_subscription(server.url, event.id)
            closing = asyncio.create_task(close_code(socket))
            lock = locker.transaction()
            await lock.start()
            await locker.execute(
                "SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event.event.id
            )
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                in_flight = asyncio.create_task(
                    client.post(
                        "/graphql",
                        json={
                            "query": HOLD_SEATS,
                            "variables": {
                                "input": {
                                    "eventId": event.id,
                                    "seatIds": seat_ids(event)[:1],
                                    "idempotencyKey": str(uuid.uuid4()),
                                }
                            },
                        },
                        headers={"Authorization": f"Bearer {token}"},
                    )
                )
                await asyncio.sleep(0.5)
                assert not in_flight.done()

                server.process.send_signal(signal.SIGTERM)

                async with httpx.AsyncClient(base_url=server.url) as probe:
                    draining = await wait_for_status(probe, "/readyz", 503)
                    assert draining == {"status": "draining"}
                    assert (await probe.get("/healthz")).status_code == 200
                assert not closing.done()

                assert await asyncio.wait_for(closing, DRAIN_SECONDS + 5) == 1012
                refused = False
                for _ in range(50):
                    try:
                        async with httpx.AsyncClient(base_url=server.url) as late:
                            await late.get("/healthz")
                    except httpx.ConnectError:
                        refused = True
                        break
                    await asyncio.sleep(0.05)
                assert refused, "the server still accepts connections after draining"
                assert not in_flight.done()

                await lock.commit()
                response = await asyncio.wait_for(in_flight, 15)

            assert response.status_code == 200
            assert response.json()["data"]["holdSeats"]["__typename"] == "Hold"
            exit_code = await asyncio.wait_for(server.process.wait(), 15)
    finally:
        await locker.close()

    # uvicorn re-raises the SIGTERM it handled once it has shut down.
    assert exit_code in (0, -signal.SIGTERM)
    messages = [
        json.loads(line)["message"] for line in log_file.read_text().splitlines()
    ]
    assert "draining before shutdown" in messages
    assert "sweeper stopped" in messages
    assert messages.index("draining before shutdown") < messages.index(
        "sweeper stopped"
    )
    assert "seatline stopped" in messages
