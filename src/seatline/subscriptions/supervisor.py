"""Keep one broadcaster connection alive, reconnecting with backoff.

broadcaster 0.3.1's Redis listener task ends silently when Redis restarts,
after which subscribers wait forever. The supervisor checks the listener
every `check_interval` seconds, and when it died (or Redis stops answering
PING) it replaces the whole Broadcast with a new connection, retrying with
exponential backoff, and tells every registered listener so that it can
resubscribe and make its subscribers resynchronise: pub/sub does not replay
what was published while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from broadcaster import Broadcast
from redis.exceptions import RedisError

from seatline.observability.metrics import REDIS_RECONNECTS
from seatline.subscriptions.backends import create_broadcast

logger = logging.getLogger(__name__)

ReconnectListener = Callable[[Broadcast], Awaitable[None]]

MAX_BACKOFF_SECONDS = 10.0


class BroadcastSupervisor:
    def __init__(self, url: str, *, check_interval: float = 1.0) -> None:
        self.url = url
        self.check_interval = check_interval
        self.broadcast = create_broadcast(url)
        self.reconnects = 0
        self._listeners: list[ReconnectListener] = []
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        # Redis's run_id changes when the server restarts, even when the
        # client reconnected by itself and nothing else looks wrong.
        self._server_run_id: str | None = None

    def on_reconnect(self, listener: ReconnectListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        await self._connect_with_backoff()
        self._task = asyncio.create_task(self._watch(), name="broadcast-supervisor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect(self.broadcast)

    async def publish(self, channel: str, message: str) -> None:
        await self.broadcast.publish(channel, message)

    async def _connect_with_backoff(self) -> None:
        delay = 0.1
        while True:
            try:
                await self.broadcast.connect()
            except (OSError, RedisError, TimeoutError) as error:
                # redis-py raises its own ConnectionError, which is not the
                # built-in one, once its own retries are used up.
                logger.warning(
                    "broadcast connection failed; retrying",
                    extra={"retry_in_seconds": delay, "error": repr(error)},
                )
                await _close_failed(self.broadcast)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                self.broadcast = create_broadcast(self.url)
            else:
                self._connected = True
                return

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            if await self._healthy():
                continue
            logger.warning("broadcast connection lost; reconnecting")
            old = self.broadcast
            await self._disconnect(old)
            self.broadcast = create_broadcast(self.url)
            await self._connect_with_backoff()
            # The next check records the new server's run_id. Comparing it
            # with the old one would reconnect, and resync every subscriber,
            # a second time.
            self._server_run_id = None
            self.reconnects += 1
            REDIS_RECONNECTS.inc()
            logger.info("broadcast reconnected", extra={"reconnects": self.reconnects})
            for listener in list(self._listeners):
                try:
                    await listener(self.broadcast)
                except Exception:
                    logger.exception("reconnect listener failed")

    async def _healthy(self) -> bool:
        backend: Any = getattr(self.broadcast, "_backend", None)
        listener_task = getattr(self.broadcast, "_listener_task", None)
        if listener_task is not None and listener_task.done():
            return False
        backend_listener = getattr(backend, "_listener", None)
        if backend_listener is not None and backend_listener.done():
            return False
        connection = getattr(backend, "_conn", None)
        if connection is None:
            return True
        try:
            info = await asyncio.wait_for(connection.info("server"), timeout=2)
        except Exception:
            return False
        run_id = info.get("run_id")
        if self._server_run_id is None:
            self._server_run_id = run_id
        if run_id != self._server_run_id:
            self._server_run_id = None
            return False
        return True

    async def _disconnect(self, broadcast: Broadcast) -> None:
        if not self._connected:
            return
        try:
            await asyncio.wait_for(broadcast.disconnect(), timeout=2)
        except Exception as error:
            logger.debug(
                "closing the old broadcast failed", extra={"error": repr(error)}
            )
        self._connected = False


async def _close_failed(broadcast: Broadcast) -> None:
    """Close what a failed `connect` left open: a listener task and a pool."""
    backend: Any = getattr(broadcast, "_backend", None)
    if backend is None:
        return
    try:
        await asyncio.wait_for(backend.disconnect(), timeout=2)
    except Exception as error:
        logger.debug(
            "closing a failed broadcast connection failed",
            extra={"error": repr(error)},
        )
