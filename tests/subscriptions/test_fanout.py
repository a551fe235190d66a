"""Fan-out of seat changes inside one process, over the memory:// broadcaster.

`LocalSubscriber` is tested alone, with deltas handed to it directly;
`FanOut` and its channel feeds are tested with real publishes on an
in-process broadcaster.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import orjson
import pytest
from broadcaster import Broadcast
from broadcaster._backends.memory import MemoryBackend
from prometheus_client import REGISTRY

from seatline.subscriptions.fanout import (
    Delta,
    FanOut,
    Heartbeat,
    LocalSubscriber,
    Resync,
    ResyncKind,
    TopicSubscriber,
    VersionReader,
)
from seatline.subscriptions.publisher import (
    SeatChange,
    SeatChangeBatch,
    seat_channel,
)

EVENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
# Long enough that a test never receives a heartbeat it did not wait for.
QUIET_SECONDS = 30.0
WAIT_SECONDS = 5.0


def seat(ordinal: int) -> str:
    return f"seat-{ordinal}"


def delta(version: int, changes: dict[int, str], from_version: int = 0) -> Delta:
    """A delta over `from_version`..`version` (one version unless given)."""
    return Delta(
        from_version=from_version or version,
        version=version,
        changes={seat(o): (o, status) for o, status in changes.items()},
    )


def statuses(item: Delta | Resync | Heartbeat) -> dict[str, str]:
    assert isinstance(item, Delta), item
    return {seat_id: status for seat_id, (_, status) in item.changes.items()}


async def next_item(
    subscriber: LocalSubscriber, heartbeat_seconds: float = QUIET_SECONDS
) -> Delta | Resync | Heartbeat:
    return await asyncio.wait_for(
        subscriber.next(heartbeat_seconds), heartbeat_seconds + WAIT_SECONDS
    )


# LocalSubscriber


async def test_subscriber_coalesces_latest_status_per_seat() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(0)

    subscriber.offer(delta(1, {1: "held", 2: "held"}))
    subscriber.offer(delta(2, {1: "available"}))
    subscriber.offer(delta(3, {3: "blocked", 2: "sold"}))
    item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert item.from_version == 1
    assert item.version == 3
    assert statuses(item) == {
        seat(1): "available",
        seat(2): "sold",
        seat(3): "blocked",
    }
    assert subscriber.version == 3


async def test_subscriber_gap_requests_resync() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(0)

    subscriber.offer(delta(1, {1: "held"}))
    subscriber.offer(delta(3, {2: "held"}))
    item = await next_item(subscriber)

    assert isinstance(item, Resync)
    assert "gap after version 1" in item.reason


async def test_subscriber_gap_after_delta_resyncs() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(0)
    subscriber.offer(delta(1, {1: "held"}))
    assert isinstance(await next_item(subscriber), Delta)

    subscriber.offer(delta(3, {2: "held"}))
    item = await next_item(subscriber)

    assert isinstance(item, Resync)


async def test_subscriber_ignores_duplicate_and_old_deltas() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(2)

    subscriber.offer(delta(1, {1: "held"}))
    subscriber.offer(delta(2, {2: "held"}))
    subscriber.offer(delta(3, {3: "held"}))
    subscriber.offer(delta(3, {4: "held"}))
    item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert (item.from_version, item.version) == (3, 3)
    assert statuses(item) == {seat(3): "held"}


async def test_subscriber_overflow_resyncs_and_stays_bounded() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(0)

    # Eleven distinct seats overflow the buffer; everything after that is
    # dropped until the client starts again from a snapshot.
    for version in range(1, 1001):
        subscriber.offer(delta(version, {version: "held"}))
    first = await next_item(subscriber)
    subscriber.start_at(1000)
    subscriber.offer(delta(1001, {5000: "sold"}))
    second = await next_item(subscriber)

    assert isinstance(first, Resync)
    assert "too many pending changes" in first.reason
    assert isinstance(second, Delta)
    assert (second.from_version, second.version) == (1001, 1001)
    assert statuses(second) == {seat(5000): "sold"}


async def test_subscriber_coalescing_avoids_overflow() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(0)

    for version in range(1, 501):
        status = "held" if version % 2 else "available"
        subscriber.offer(delta(version, {version % 5: status}))
    item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert (item.from_version, item.version) == (1, 500)
    assert len(item.changes) == 5


async def test_subscriber_start_at_drops_stale_deltas() -> None:
    subscriber = LocalSubscriber(max_pending=10)

    # Deltas that arrive while the snapshot is read are buffered...
    subscriber.offer(delta(4, {1: "held"}))
    subscriber.offer(delta(5, {2: "held"}))
    # ...and dropped when the snapshot already contains them.
    subscriber.start_at(5)
    subscriber.offer(delta(6, {3: "held"}))
    item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert (item.from_version, item.version) == (6, 6)
    assert statuses(item) == {seat(3): "held"}


async def test_subscriber_start_at_keeps_straddling_delta() -> None:
    subscriber = LocalSubscriber(max_pending=10)

    subscriber.offer(delta(4, {1: "held"}))
    subscriber.offer(delta(5, {2: "held"}))
    subscriber.offer(delta(6, {3: "held"}))
    subscriber.start_at(5)
    item = await next_item(subscriber)

    assert isinstance(item, Delta)
    # The client applies it: fromVersion is at most its version + 1.
    assert item.from_version == 6
    assert item.version == 6
    assert statuses(item)[seat(3)] == "held"


async def test_subscriber_start_at_before_gap_resyncs() -> None:
    subscriber = LocalSubscriber(max_pending=10)

    subscriber.offer(delta(7, {1: "held"}))
    subscriber.start_at(5)
    item = await next_item(subscriber)

    assert isinstance(item, Resync)
    assert "missed changes" in item.reason


async def test_subscriber_heartbeat_with_newer_version_resyncs() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(3)

    subscriber.heartbeat(5)
    item = await next_item(subscriber)

    assert isinstance(item, Resync)
    assert "version 5 never arrived" in item.reason


async def test_subscriber_heartbeat_with_same_version_stays_quiet() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(3)

    subscriber.heartbeat(3)
    item = await next_item(subscriber, heartbeat_seconds=0.05)

    assert item == Heartbeat(3)


async def test_subscriber_heartbeat_never_reports_older_version() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(3)
    subscriber.heartbeat(3)

    subscriber.offer(delta(4, {1: "held"}))
    subscriber.offer(delta(5, {2: "held"}))
    assert isinstance(await next_item(subscriber), Delta)
    item = await next_item(subscriber, heartbeat_seconds=0.05)

    # A client that waits for a heartbeat equal to its version, to know that
    # it is up to date, must not receive version 3 after version 5.
    assert item == Heartbeat(5)


async def test_subscriber_heartbeat_version_zero_is_reported() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(0)

    subscriber.heartbeat(0)
    item = await next_item(subscriber, heartbeat_seconds=0.05)

    assert item == Heartbeat(0)


async def test_subscriber_buffers_during_resync_snapshot() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(1)
    subscriber.offer(delta(3, {1: "held"}))
    assert isinstance(await next_item(subscriber), Resync)

    # The stream now reads a snapshot at version 4 while versions 4 and 5
    # arrive. Both are newer than the gap, and neither is a new gap.
    subscriber.offer(delta(4, {2: "held"}))
    subscriber.offer(delta(5, {3: "held"}))
    subscriber.start_at(4)
    item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert item.from_version == 5
    assert item.version == 5
    assert statuses(item)[seat(3)] == "held"


async def test_subscriber_overflow_during_snapshot_resyncs() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(0)
    subscriber.resync("test", ResyncKind.RECONNECT)
    assert isinstance(await next_item(subscriber), Resync)

    for version in range(1, 21):
        subscriber.offer(delta(version, {version: "held"}))
    # The snapshot was read at version 5, but versions up to 20 were
    # dropped on overflow: only another snapshot can catch up.
    subscriber.start_at(5)
    item = await next_item(subscriber)

    assert isinstance(item, Resync)


async def test_subscriber_keeps_first_resync_reason() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(0)

    for version in range(1, 12):
        subscriber.offer(delta(version, {version: "held"}))
    # A heartbeat then notices the versions that overflow dropped.
    subscriber.heartbeat(11)
    item = await next_item(subscriber)

    assert isinstance(item, Resync)
    assert "too many pending changes" in item.reason


async def test_subscribers_that_keep_up_share_one_delta() -> None:
    first = LocalSubscriber(max_pending=10)
    second = LocalSubscriber(max_pending=10)
    first.start_at(0)
    second.start_at(0)
    shared = delta(1, {1: "held"})

    first.offer(shared)
    second.offer(shared)

    assert await next_item(first) is shared
    assert await next_item(second) is shared


async def test_subscriber_copies_shared_delta_before_extending() -> None:
    behind = LocalSubscriber(max_pending=10)
    current = LocalSubscriber(max_pending=10)
    behind.start_at(0)
    current.start_at(0)
    shared = delta(1, {1: "held"})
    behind.offer(shared)
    current.offer(shared)

    behind.offer(delta(2, {2: "sold"}))
    merged = await next_item(behind)

    assert merged is not shared
    assert statuses(merged) == {seat(1): "held", seat(2): "sold"}
    assert (shared.version, statuses(shared)) == (1, {seat(1): "held"})
    assert await next_item(current) is shared


async def test_subscriber_trims_shared_delta_without_changing_it() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    shared = delta(3, {1: "held", 2: "sold"}, from_version=1)
    subscriber.offer(shared)

    subscriber.start_at(2)
    item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert (item.from_version, item.version) == (3, 3)
    assert (shared.from_version, shared.version) == (1, 3)


async def test_subscriber_without_changes_sends_heartbeat() -> None:
    subscriber = LocalSubscriber(max_pending=10)
    subscriber.start_at(7)

    item = await next_item(subscriber, heartbeat_seconds=0.05)

    assert item == Heartbeat(7)


# TopicSubscriber


async def test_topic_subscriber_reports_loss_to_waiting_reader() -> None:
    subscriber = TopicSubscriber(max_pending=10)
    reader = asyncio.create_task(subscriber.next())
    await asyncio.sleep(0)

    subscriber.mark_lost()
    subscriber.offer("after")

    assert await asyncio.wait_for(reader, WAIT_SECONDS) is None
    assert await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) == "after"


async def test_topic_subscriber_overflow_reports_loss_first() -> None:
    subscriber = TopicSubscriber(max_pending=2)

    for message in ("one", "two", "three"):
        subscriber.offer(message)

    assert await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) is None
    assert await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) == "one"
    assert await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) == "two"


# FanOut and its channel feeds


def batch_json(version: int, changes: dict[int, str]) -> str:
    return SeatChangeBatch(
        event_id=EVENT_ID,
        version=version,
        changes=[SeatChange(seat(o), o, status) for o, status in changes.items()],
    ).to_json()


async def publish(broadcast: Broadcast, version: int, changes: dict[int, str]) -> None:
    await broadcast.publish(seat_channel(EVENT_ID), batch_json(version, changes))


class SlowSubscribeBackend(MemoryBackend):
    """The memory backend, with a subscribe that yields like a network call."""

    async def subscribe(self, channel: str) -> None:
        await asyncio.sleep(0.05)
        await super().subscribe(channel)


@pytest.fixture
async def broadcast() -> AsyncIterator[Broadcast]:
    connected = Broadcast("memory://")
    await connected.connect()
    yield connected
    await connected.disconnect()


@pytest.fixture
async def slow_broadcast() -> AsyncIterator[Broadcast]:
    connected = Broadcast(backend=SlowSubscribeBackend("memory://"))
    await connected.connect()
    yield connected
    await connected.disconnect()


def version_reader(version: int | None) -> VersionReader:
    async def read_version(event_id: uuid.UUID) -> int | None:
        return version

    return read_version


def make_fanout(
    broadcast: Broadcast,
    *,
    version: int | None = 0,
    batch_window: float = 0.0,
    gap_wait: float = 0.0,
    heartbeat_seconds: float = QUIET_SECONDS,
    max_pending: int = 100,
) -> FanOut:
    return FanOut(
        lambda: broadcast,
        version_reader(version),
        batch_window=batch_window,
        gap_wait=gap_wait,
        heartbeat_seconds=heartbeat_seconds,
        max_pending=max_pending,
    )


async def test_fanout_delivers_published_batches(broadcast: Broadcast) -> None:
    fanout = make_fanout(broadcast)
    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscriber.start_at(0)
        await publish(broadcast, 1, {1: "held"})
        item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert (item.from_version, item.version) == (1, 1)
    assert statuses(item) == {seat(1): "held"}


async def test_fanout_batch_window_merges_burst(broadcast: Broadcast) -> None:
    fanout = make_fanout(broadcast, batch_window=0.3)
    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscriber.start_at(0)
        for version in range(1, 6):
            await publish(broadcast, version, {version: "held"})
        item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert (item.from_version, item.version) == (1, 5)
    assert len(item.changes) == 5


async def test_fanout_orders_batches_within_window(broadcast: Broadcast) -> None:
    fanout = make_fanout(broadcast, batch_window=0.3)
    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscriber.start_at(0)
        # Two processes commit versions 1 and 2 in order, but their
        # publishes reach the channel the other way round.
        await publish(broadcast, 2, {1: "available"})
        await publish(broadcast, 1, {1: "held", 2: "held"})
        item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert (item.from_version, item.version) == (1, 2)
    assert statuses(item) == {seat(1): "available", seat(2): "held"}


async def test_fanout_waits_for_late_version(broadcast: Broadcast) -> None:
    fanout = make_fanout(broadcast, gap_wait=QUIET_SECONDS)
    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscriber.start_at(0)
        await publish(broadcast, 1, {1: "held"})
        first = await next_item(subscriber)
        # Version 2 arrives after version 3, and later than the batch
        # window, so the feed keeps version 3 back until 2 is there.
        await publish(broadcast, 3, {3: "held"})
        await asyncio.sleep(0.2)
        await publish(broadcast, 2, {2: "held"})
        second = await next_item(subscriber)

    assert isinstance(first, Delta)
    assert isinstance(second, Delta)
    assert (second.from_version, second.version) == (2, 3)
    assert statuses(second) == {seat(2): "held", seat(3): "held"}


async def test_fanout_missing_version_resyncs_after_wait(broadcast: Broadcast) -> None:
    fanout = make_fanout(broadcast, gap_wait=0.1)
    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscriber.start_at(0)
        await publish(broadcast, 1, {1: "held"})
        assert isinstance(await next_item(subscriber), Delta)
        await publish(broadcast, 3, {3: "held"})
        item = await next_item(subscriber)

    assert isinstance(item, Resync)
    assert "gap after version 1" in item.reason


async def test_fanout_concurrent_first_subscribers_share_feed(
    slow_broadcast: Broadcast,
) -> None:
    fanout = make_fanout(slow_broadcast)
    async with AsyncExitStack() as stack:
        subscribers = await asyncio.gather(
            *(stack.enter_async_context(fanout.subscribe(EVENT_ID)) for _ in range(10))
        )
        for subscriber in subscribers:
            subscriber.start_at(0)
        await publish(slow_broadcast, 1, {1: "held"})
        items = [await next_item(subscriber) for subscriber in subscribers]

        assert fanout.subscriber_count == 10
        assert all(isinstance(item, Delta) for item in items)

    assert fanout.subscriber_count == 0


async def test_broadcaster_concurrent_first_subscribers_lose_one(
    slow_broadcast: Broadcast,
) -> None:
    # The control for the test above: broadcaster 0.3.1 alone registers
    # only the last of two concurrent first subscribers of a channel.
    channel = seat_channel(EVENT_ID)
    async with AsyncExitStack() as stack:
        first, second = await asyncio.gather(
            stack.enter_async_context(slow_broadcast.subscribe(channel)),
            stack.enter_async_context(slow_broadcast.subscribe(channel)),
        )
        await publish(slow_broadcast, 1, {1: "held"})
        received = await asyncio.wait_for(second.get(), WAIT_SECONDS)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(first.get(), 0.3)
        # Leaving the lost subscription fails inside broadcaster.
        stack.pop_all()

    assert orjson.loads(received.message)["version"] == 1


async def test_fanout_slow_subscriber_does_not_delay_others(
    broadcast: Broadcast,
) -> None:
    fanout = make_fanout(broadcast, max_pending=10)
    async with (
        fanout.subscribe(EVENT_ID) as stalled,
        fanout.subscribe(EVENT_ID) as reader,
    ):
        stalled.start_at(0)
        reader.start_at(0)
        for version in range(1, 51):
            await publish(broadcast, version, {version: "held"})
            item = await next_item(reader)
            assert isinstance(item, Delta)
            assert item.version == version
        late = await next_item(stalled)

    assert isinstance(late, Resync)
    assert "too many pending changes" in late.reason


async def test_fanout_heartbeat_with_newer_db_version_resyncs(
    broadcast: Broadcast,
) -> None:
    fanout = make_fanout(broadcast, version=5, heartbeat_seconds=0.05)
    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscriber.start_at(2)
        item = await next_item(subscriber, heartbeat_seconds=QUIET_SECONDS)

    assert isinstance(item, Resync)
    assert "version 5 never arrived" in item.reason


async def test_fanout_heartbeat_carries_db_version(broadcast: Broadcast) -> None:
    fanout = make_fanout(broadcast, version=2, heartbeat_seconds=0.05)
    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscriber.start_at(2)
        items = [await next_item(subscriber, 0.2) for _ in range(3)]

    assert items == [Heartbeat(2)] * 3


async def test_fanout_reconnect_resyncs_after_resubscribing(
    broadcast: Broadcast,
) -> None:
    # Subscribing on the new connection takes a while, as it does over a
    # network.
    replacement = Broadcast(backend=SlowSubscribeBackend("memory://"))
    await replacement.connect()
    current = [broadcast]
    fanout = FanOut(lambda: current[0], version_reader(0))
    try:
        async with fanout.subscribe(EVENT_ID) as subscriber:
            subscriber.start_at(0)
            current[0] = replacement
            reconnect = asyncio.create_task(fanout.reconnected(replacement))
            resync = await next_item(subscriber)
            # A change committed right after the resync snapshot was read
            # must arrive on the new connection.
            subscriber.start_at(0)
            await publish(replacement, 1, {1: "held"})
            item = await next_item(subscriber, heartbeat_seconds=2.0)
            await reconnect
    finally:
        await replacement.disconnect()

    assert isinstance(resync, Resync)
    assert "re-established" in resync.reason
    assert isinstance(item, Delta)
    assert item.version == 1


async def test_fanout_resubscribes_after_last_left(broadcast: Broadcast) -> None:
    fanout = make_fanout(broadcast)
    async with fanout.subscribe(EVENT_ID):
        pass
    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscriber.start_at(0)
        await publish(broadcast, 1, {1: "held"})
        item = await next_item(subscriber)

    assert isinstance(item, Delta)
    assert fanout.subscriber_count == 0


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_fanout_metrics_follow_subscribers_and_resyncs(
    broadcast: Broadcast,
) -> None:
    fanout = make_fanout(broadcast)
    subscribers_before = sample("seatline_fanout_subscribers")
    gaps_before = sample("seatline_fanout_resyncs_total", reason="gap")

    async with fanout.subscribe(EVENT_ID) as subscriber:
        subscribers_during = sample("seatline_fanout_subscribers")
        subscriber.start_at(0)
        await publish(broadcast, 3, {1: "held"})
        item = await next_item(subscriber)

    assert isinstance(item, Resync)
    assert item.kind is ResyncKind.GAP
    assert subscribers_during == subscribers_before + 1
    assert sample("seatline_fanout_subscribers") == subscribers_before
    assert sample("seatline_fanout_resyncs_total", reason="gap") == gaps_before + 1
