"""A bare websockets fan-out server: the limit that seatline is compared with.

Clients connect to /sub. A control connection on /pub sends a payload, and
the server forwards it to every subscriber, with no GraphQL, no database
and no broker in between. A client of /snapshot/N receives N bytes at once
on connecting, as a seatline subscriber receives its first snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve

subscribers: set[ServerConnection] = set()


async def handler(connection: ServerConnection) -> None:
    path = connection.request.path if connection.request else "/"
    if path.startswith("/snapshot/"):
        await connection.send("x" * int(path.removeprefix("/snapshot/")))
        await connection.wait_closed()
        return
    if path == "/pub":
        async for message in connection:
            broadcast(subscribers, message)
        return
    subscribers.add(connection)
    try:
        await connection.wait_closed()
    finally:
        subscribers.discard(connection)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, max_queue=None, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, websockets.ConnectionClosed):
        asyncio.run(main(int(sys.argv[1])))
