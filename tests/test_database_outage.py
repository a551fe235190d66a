"""A database outage reaches clients as BUSY, and service resumes after it.

The app reaches PostgreSQL through a TCP proxy on loopback that the test
cuts and restores, so the shared server itself keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import DatabaseUnderTest, EventFixture, seat_ids

EVENTS = "{ events(first: 1) { edges { node { id } } } }"
HOLD = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) { __typename ... on Error { code message } }
}
"""


class Proxy:
    """A loopback TCP proxy to PostgreSQL that the test can cut and restore."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop accepting connections and drop every open one."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _forward(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        self._writers |= {client_writer, server_writer}
        try:
            await asyncio.gather(
                _pipe(client_reader, server_writer),
                _pipe(server_reader, client_writer),
            )
        finally:
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@contextlib.asynccontextmanager
async def proxied(database: DatabaseUnderTest) -> AsyncIterator[tuple[Proxy, str]]:
    url = make_url(database.url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    finally:
        if proxy.running:
            await proxy.cut()


def hold_input(event: EventFixture, seat: str) -> dict[str, Any]:
    return {
        "input": {
            "eventId": event.id,
            "seatIds": [seat],
            "idempotencyKey": str(uuid.uuid4()),
        }
    }


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_database_outage_gives_busy_then_recovers(
    api_with: Any, database: DatabaseUnderTest, on_sale: EventFixture
) -> None:
    seat = seat_ids(on_sale)[0]
    async with (
        proxied(database) as (proxy, url),
        api_with(database_url=url, db_pool_timeout_seconds=2) as (api, _),
    ):
        token = api.token(f"buyer-{uuid.uuid4()}", "bookings:write")
        before = await api.execute(EVENTS)
        await proxy.cut()
        read = await api.execute(EVENTS)
        write = await api.execute(HOLD, hold_input(on_sale, seat), token=token)
        await proxy.start()
        after = await api.execute(HOLD, hold_input(on_sale, seat), token=token)

    assert before["data"]["events"]["edges"]
    assert read["errors"][0]["extensions"]["code"] == "BUSY"
    assert "retry" in read["errors"][0]["message"]
    assert write["data"]["holdSeats"]["code"] == "BUSY"
    assert after["data"]["holdSeats"] == {"__typename": "Hold"}
