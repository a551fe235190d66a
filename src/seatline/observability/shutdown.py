"""Graceful shutdown: fail readiness, then move websocket clients elsewhere.

On SIGTERM a server process first drains: /readyz returns 503 so that load
balancers and Kubernetes stop sending new work, while requests keep being
served for `drain_seconds`. Then every websocket is closed with code 1012
(service restart), which tells clients to reconnect, through the load
balancer, to another process. Only then does uvicorn's own shutdown run: it
stops accepting connections, waits for in-flight requests, and runs the
lifespan shutdown that stops the sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from starlette.types import Message, Send

logger = logging.getLogger(__name__)

SERVICE_RESTART = 1012


class WebSocketConnection:
    """The send side of one open websocket, which the server can close."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.accepted = False
        self.closed = False

    async def send(self, message: Message) -> None:
        if self.closed:
            # Closed for a restart: the application's late frames go nowhere.
            return
        if message["type"] == "websocket.accept":
            self.accepted = True
        elif message["type"] == "websocket.close":
            self.closed = True
        await self._send(message)

    async def close_for_restart(self) -> None:
        if self.closed or not self.accepted:
            return
        self.closed = True
        await self._send(
            {
                "type": "websocket.close",
                "code": SERVICE_RESTART,
                "reason": "service restart",
            }
        )


class Lifecycle:
    """Whether this application is draining, and its open websockets."""

    def __init__(self, drain_seconds: float = 0.0) -> None:
        self.drain_seconds = drain_seconds
        self.draining = False
        self.websockets: set[WebSocketConnection] = set()

    async def drain(self) -> None:
        """Fail readiness for `drain_seconds`, then close every websocket."""
        self.draining = True
        logger.info(
            "draining before shutdown",
            extra={
                "drain_seconds": self.drain_seconds,
                "websockets": len(self.websockets),
            },
        )
        await asyncio.sleep(self.drain_seconds)
        await self.close_websockets()

    async def close_websockets(self) -> None:
        for connection in list(self.websockets):
            try:
                await connection.close_for_restart()
            except Exception as error:
                # The client went away first; nothing is left to close.
                logger.debug("closing a websocket failed", extra={"error": repr(error)})


SignalHandler = Callable[[int, FrameType | None], object]


def drain_on_sigterm(lifecycle: Lifecycle) -> Callable[[], None] | None:
    """Make SIGTERM drain `lifecycle` before the server's handler runs.

    Chains to the SIGTERM handler the server (uvicorn) installed. Returns a
    function that restores it, or None where there is no such handler, as
    under pytest or outside the main thread. A second SIGTERM while
    draining hands over at once.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    server_handler = signal.getsignal(signal.SIGTERM)
    if not callable(server_handler):
        return None
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    received = False

    async def drain_then_stop() -> None:
        try:
            await lifecycle.drain()
        finally:
            server_handler(signal.SIGTERM, None)

    def start_draining() -> None:
        task = loop.create_task(drain_then_stop())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        if received:
            server_handler(signum, frame)
            return
        received = True
        loop.call_soon_threadsafe(start_draining)

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(ValueError):
            if signal.getsignal(signal.SIGTERM) is on_sigterm:
                signal.signal(signal.SIGTERM, server_handler)

    return restore
