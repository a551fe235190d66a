"""Per-process fan-out of seat changes to local subscribers.

Each process holds one broadcaster subscription per event channel (a
`ChannelFeed`), shared by every local subscriber of that event. A feed
merges the batches that arrive within `batch_window` seconds, in version
order, into one delta and offers it to each subscriber without waiting on
any of them. Batches that follow a missing version are held back for up to
`gap_wait` seconds, because processes publish after their own commits and
their batches can arrive out of order. Every subscriber buffers at most
`max_pending` seat changes, keeping only the latest status per seat; past
that, or after any gap in the version sequence or a reconnect, it drops its
buffer and asks for a snapshot. A slow client therefore costs bounded
memory and never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from broadcaster import Broadcast

from seatline.observability.metrics import (
    FANOUT_CHANNELS,
    FANOUT_QUEUE_DEPTH,
    FANOUT_RESYNCS,
    FANOUT_SUBSCRIBERS,
)
from seatline.subscriptions.publisher import seat_channel

logger = logging.getLogger(__name__)

VersionReader = Callable[[uuid.UUID], Awaitable[int | None]]


# Compared by identity: subscribers that keep up share one delta object, and
# the layers above cache what they render from it per object.
@dataclass(eq=False)
class Delta:
    """Seat changes from `from_version` to `version`, latest status per seat."""

    from_version: int
    version: int
    # Public seat id -> (ordinal, status).
    changes: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Unix time when the oldest batch in the delta was published, if known.
    published_at: float | None = None

    def copy(self) -> Delta:
        return Delta(
            self.from_version, self.version, dict(self.changes), self.published_at
        )

    def extend(self, other: Delta) -> None:
        self.version = other.version
        self.changes.update(other.changes)
        if self.published_at is None:
            self.published_at = other.published_at
        elif other.published_at is not None:
            self.published_at = min(self.published_at, other.published_at)


class ResyncKind(StrEnum):
    """The reason a stream lost track, as a metric label."""

    GAP = "gap"
    OVERFLOW = "overflow"
    HEARTBEAT = "heartbeat"
    RECONNECT = "reconnect"
    LATE_START = "late_start"


@dataclass(frozen=True)
class Resync:
    """The subscriber lost track and must receive a snapshot."""

    reason: str
    kind: ResyncKind


@dataclass(frozen=True)
class Heartbeat:
    """Nothing happened; `version` is the event's current version, if known."""

    version: int | None


def parse_batch(message: str) -> Delta:
    data = orjson.loads(message)
    changes = {
        change["seat_id"]: (change["ordinal"], change["status"])
        for change in data["changes"]
    }
    version = int(data["version"])
    published_at = data.get("published_at")
    return Delta(version, version, changes, published_at)


def merge_consecutive(deltas: list[Delta]) -> list[Delta]:
    """Sort deltas by version and merge each run without a gap into one.

    Processes publish after their own commits, so batches of consecutive
    versions can reach the channel out of order. Sorting a burst keeps that
    from looking like a gap. Duplicate versions are dropped.
    """
    merged: list[Delta] = []
    for delta in sorted(deltas, key=lambda item: item.version):
        last = merged[-1] if merged else None
        if last is not None and delta.version <= last.version:
            continue
        if last is not None and delta.from_version <= last.version + 1:
            last.extend(delta)
        else:
            merged.append(delta.copy())
    return merged


def has_gap(deltas: list[Delta], after: int | None) -> bool:
    """Whether a version after `after` is missing before the last delta."""
    if after is None:
        return False
    expected = after + 1
    for delta in sorted(deltas, key=lambda item: item.version):
        if delta.version < expected:
            continue
        if delta.from_version > expected:
            return True
        expected = delta.version + 1
    return False


class LocalSubscriber:
    """One stream's bounded buffer of pending changes."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self._pending: Delta | None = None
        # Whether `_pending` is the feed's delta, shared with the other
        # subscribers, which must be copied before it is extended.
        self._pending_shared = False
        self._version: int | None = None
        self._resync: Resync | None = None
        self._heartbeat_version: int | None = None
        self._wake = asyncio.Event()

    @property
    def pending_changes(self) -> int:
        return 0 if self._pending is None else len(self._pending.changes)

    @property
    def version(self) -> int | None:
        """The version the client has after everything handed out so far."""
        return self._version

    def start_at(self, version: int) -> None:
        """Record that the client now holds the state at `version`.

        A resync requested since the last `Resync` was handed out stays
        requested, because the changes it dropped may be newer than
        `version`.
        """
        self._version = version
        pending = self._pending
        if pending is not None and pending.version <= version:
            self._pending = None
        elif pending is not None and pending.from_version > version + 1:
            self._pending = None
            self._request_resync(
                "missed changes before the first message", ResyncKind.LATE_START
            )

    def offer(self, delta: Delta) -> None:
        if self._resync is not None:
            return
        known = self._pending.version if self._pending else self._version
        if known is not None and delta.version <= known:
            return
        if known is not None and delta.from_version > known + 1:
            self._pending = None
            self._request_resync(f"gap after version {known}", ResyncKind.GAP)
            return
        if self._pending is None:
            self._pending = delta
            self._pending_shared = True
        else:
            if self._pending_shared:
                self._pending = self._pending.copy()
                self._pending_shared = False
            self._pending.extend(delta)
        if len(self._pending.changes) > self.max_pending:
            self._pending = None
            self._request_resync("too many pending changes", ResyncKind.OVERFLOW)
            return
        self._wake.set()

    def resync(self, reason: str, kind: ResyncKind) -> None:
        self._pending = None
        self._request_resync(reason, kind)

    def heartbeat(self, current_version: int | None) -> None:
        """Note the event's current version; a newer one means lost messages."""
        self._heartbeat_version = current_version
        known = self._pending.version if self._pending else self._version
        if (
            current_version is not None
            and known is not None
            and current_version > known
        ):
            self.resync(
                f"version {current_version} never arrived", ResyncKind.HEARTBEAT
            )

    def _request_resync(self, reason: str, kind: ResyncKind) -> None:
        # Keep the first reason, because later ones, such as a heartbeat
        # noticing the same lost changes, follow from it.
        if self._resync is None:
            self._resync = Resync(reason, kind)
        self._wake.set()

    async def next(self, heartbeat_seconds: float) -> Delta | Resync | Heartbeat:
        """Wait for the next thing to send to the client.

        After a `Resync` the version is unknown until `start_at` gives the
        snapshot's, so changes that arrive while the snapshot is read are
        buffered rather than taken for a gap after the old version.
        """
        deadline = asyncio.get_running_loop().time() + heartbeat_seconds
        while self._resync is None and self._pending is None:
            self._wake.clear()
            try:
                # A timeout scope rather than wait_for, which starts a task
                # per call: this runs once per message and subscriber.
                async with asyncio.timeout_at(deadline):
                    await self._wake.wait()
            except TimeoutError:
                return Heartbeat(self._current_version())
        if self._resync is not None:
            resync, self._resync = self._resync, None
            self._version = None
            FANOUT_RESYNCS.labels(resync.kind.value).inc()
            return resync
        pending, self._pending = self._pending, None
        assert pending is not None
        if self._version is not None and pending.from_version <= self._version:
            # The client already has the changes up to its version; a new
            # object, because `pending` may be shared.
            pending = Delta(self._version + 1, pending.version, pending.changes)
        self._version = pending.version
        return pending

    def _current_version(self) -> int | None:
        # The last heartbeat's version can be older than the deltas handed
        # out since, and a client must never receive a version older than
        # its own.
        known = [v for v in (self._heartbeat_version, self._version) if v is not None]
        return max(known, default=None)


class ChannelFeed:
    """One event's broadcaster subscription, shared by local subscribers."""

    def __init__(self, fanout: FanOut, event_id: uuid.UUID) -> None:
        self.fanout = fanout
        self.event_id = event_id
        self.subscribers: set[LocalSubscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_message = time.monotonic()
        # The newest version delivered on the current subscription.
        self._delivered: int | None = None
        self._ready = asyncio.Event()

    async def start(self, broadcast: Broadcast) -> None:
        self._ready.clear()
        self._delivered = None
        self._task = asyncio.create_task(
            self._run(broadcast), name=f"feed-{self.event_id}"
        )
        # Wait until the channel is subscribed, so that nothing published
        # after this returns is missed.
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        # Unsubscribing over a dead Redis connection can wait on the client's
        # own retries; the task is cancelled either way.
        with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
            await asyncio.wait_for(self._task, timeout=2)
        self._task = None

    async def restart(self, broadcast: Broadcast, reason: str) -> None:
        await self.stop()
        try:
            # Subscribe before the subscribers read their snapshots, or a
            # change published in between would reach no subscriber.
            await self.start(broadcast)
        finally:
            for subscriber in list(self.subscribers):
                subscriber.resync(reason, ResyncKind.RECONNECT)

    async def _run(self, broadcast: Broadcast) -> None:
        async with broadcast.subscribe(seat_channel(self.event_id)) as subscription:
            self._ready.set()
            heartbeat = asyncio.create_task(self._heartbeats())
            try:
                await self._forward(subscription)
            finally:
                heartbeat.cancel()

    async def _forward(self, subscription: object) -> None:
        get = subscription.get  # type: ignore[attr-defined]
        while True:
            burst = [parse_batch((await get()).message)]
            await self._collect(get, burst, self.fanout.batch_window)
            if has_gap(burst, self._delivered):
                # A batch published late by another process would otherwise
                # make every subscriber of this event read a snapshot.
                await self._collect(get, burst, self.fanout.gap_wait, fill=True)
            for delta in merge_consecutive(burst):
                self._deliver(delta)

    async def _collect(
        self,
        get: Callable[[], Awaitable[Any]],
        burst: list[Delta],
        seconds: float,
        *,
        fill: bool = False,
    ) -> None:
        """Add the batches that arrive within `seconds` to `burst`.

        With `fill`, stop as soon as no version is missing.
        """
        deadline = asyncio.get_running_loop().time() + seconds
        try:
            # A timeout scope rather than wait_for per batch: wait_for starts
            # a task, which waits for a turn of the event loop even when a
            # batch is queued already. With thousands of busy subscribers
            # one turn takes long, and the feed would fall behind them.
            async with asyncio.timeout_at(deadline):
                while not (fill and not has_gap(burst, self._delivered)):
                    burst.append(parse_batch((await get()).message))
        except TimeoutError:
            return

    def _deliver(self, delta: Delta) -> None:
        self._last_message = time.monotonic()
        self._delivered = max(self._delivered or 0, delta.version)
        for subscriber in list(self.subscribers):
            subscriber.offer(delta)
        self.fanout.record_queue_depth()

    async def _heartbeats(self) -> None:
        interval = self.fanout.heartbeat_seconds
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self._last_message < interval:
                continue
            try:
                version = await self.fanout.read_version(self.event_id)
            except Exception:
                logger.warning(
                    "reading the event version for a heartbeat failed",
                    exc_info=True,
                    extra={"event_id": str(self.event_id)},
                )
                version = None
            for subscriber in list(self.subscribers):
                subscriber.heartbeat(version)
            self.fanout.record_queue_depth()


class FanOut:
    """All channel feeds of this process."""

    def __init__(
        self,
        broadcast: Callable[[], Broadcast],
        read_version: VersionReader,
        *,
        batch_window: float = 0.05,
        gap_wait: float = 0.5,
        heartbeat_seconds: float = 5.0,
        max_pending: int = 2000,
    ) -> None:
        self._broadcast = broadcast
        self.read_version = read_version
        self.batch_window = batch_window
        # How long a feed holds back changes that follow a missing version,
        # waiting for it, before subscribers are left to see the gap.
        self.gap_wait = gap_wait
        self.heartbeat_seconds = heartbeat_seconds
        self.max_pending = max_pending
        # Snapshots sent to streams because they lost track.
        self.resyncs = 0
        self._feeds: dict[uuid.UUID, ChannelFeed] = {}
        self._lock = asyncio.Lock()

    @property
    def subscriber_count(self) -> int:
        return sum(len(feed.subscribers) for feed in self._feeds.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, event_id: uuid.UUID) -> AsyncIterator[LocalSubscriber]:
        subscriber = LocalSubscriber(self.max_pending)
        # One lock guards creating and removing feeds, so two first
        # subscribers of an event never open two broadcaster subscriptions.
        async with self._lock:
            feed = self._feeds.get(event_id)
            if feed is None:
                feed = ChannelFeed(self, event_id)
                await feed.start(self._broadcast())
                self._feeds[event_id] = feed
                FANOUT_CHANNELS.inc()
            feed.subscribers.add(subscriber)
            FANOUT_SUBSCRIBERS.inc()
        try:
            yield subscriber
        finally:
            async with self._lock:
                feed.subscribers.discard(subscriber)
                FANOUT_SUBSCRIBERS.dec()
                if not feed.subscribers and self._feeds.get(event_id) is feed:
                    del self._feeds[event_id]
                    FANOUT_CHANNELS.dec()
                    await feed.stop()

    def record_queue_depth(self) -> None:
        """Set the queue-depth gauge to the changes all subscribers buffer.

        Sampled when a feed delivers or checks its heartbeat, rather than on
        every change of every buffer.
        """
        FANOUT_QUEUE_DEPTH.set(
            sum(
                subscriber.pending_changes
                for feed in self._feeds.values()
                for subscriber in feed.subscribers
            )
        )

    async def reconnected(self, broadcast: Broadcast) -> None:
        """Resubscribe every feed on a new connection; everyone resyncs."""
        async with self._lock:
            for feed in list(self._feeds.values()):
                try:
                    await feed.restart(
                        broadcast, "the broadcast connection was re-established"
                    )
                except Exception:
                    # The feed's subscribers still resync; the next
                    # reconnect retries the subscription.
                    logger.exception(
                        "resubscribing to seat changes failed",
                        extra={"event_id": str(feed.event_id)},
                    )

    async def close(self) -> None:
        async with self._lock:
            for feed in list(self._feeds.values()):
                await feed.stop()
            FANOUT_CHANNELS.dec(len(self._feeds))
            self._feeds.clear()


class TopicSubscriber:
    """A bounded queue of raw messages that reports when any were lost.

    Overflow drops the message, and a reconnect loses what was published
    meanwhile; both make `next` report the loss before anything newer.
    """

    def __init__(self, max_pending: int) -> None:
        # None wakes a waiting reader to report a loss.
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(max_pending)
        self._lost = False

    def offer(self, message: str) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.mark_lost()

    def mark_lost(self) -> None:
        self._lost = True
        # A full queue already has something to wake the reader with.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def next(self) -> str | None:
        """Return the next message, or None when messages were lost before it."""
        while True:
            if self._lost:
                self._lost = False
                return None
            message = await self._queue.get()
            if message is not None:
                return message


class TopicFeeds:
    """Shared subscriptions to low-volume channels, such as a buyer's orders."""

    def __init__(
        self, broadcast: Callable[[], Broadcast], *, max_pending: int = 100
    ) -> None:
        self._broadcast = broadcast
        self.max_pending = max_pending
        self._feeds: dict[str, tuple[asyncio.Task[None], set[TopicSubscriber]]] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[TopicSubscriber]:
        subscriber = TopicSubscriber(self.max_pending)
        async with self._lock:
            if channel not in self._feeds:
                members: set[TopicSubscriber] = set()
                ready = asyncio.Event()
                task = asyncio.create_task(self._run(channel, members, ready))
                await asyncio.wait_for(ready.wait(), timeout=10)
                self._feeds[channel] = (task, members)
            self._feeds[channel][1].add(subscriber)
        try:
            yield subscriber
        finally:
            async with self._lock:
                task, members = self._feeds[channel]
                members.discard(subscriber)
                if not members:
                    del self._feeds[channel]
                    task.cancel()

    async def _run(
        self, channel: str, members: set[TopicSubscriber], ready: asyncio.Event
    ) -> None:
        async with self._broadcast().subscribe(channel) as subscription:
            ready.set()
            while True:
                event = await subscription.get()
                for member in list(members):
                    member.offer(event.message)

    async def reconnected(self, broadcast: Broadcast) -> None:
        async with self._lock:
            for channel, (task, members) in list(self._feeds.items()):
                task.cancel()
                ready = asyncio.Event()
                new_task = asyncio.create_task(self._run(channel, members, ready))
                await asyncio.wait_for(ready.wait(), timeout=10)
                self._feeds[channel] = (new_task, members)
                for member in members:
                    member.mark_lost()

    async def close(self) -> None:
        async with self._lock:
            for task, _ in self._feeds.values():
                task.cancel()
            self._feeds.clear()
