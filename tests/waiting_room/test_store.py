"""Waiting-room queue stores: ordering, admission rate, restarts.

Every rule is checked on the real Redis store and on the in-process one.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from seatline.waiting_room.store import (
    MemoryWaitingRoomStore,
    RedisWaitingRoomStore,
    Visit,
    WaitingRoomStore,
)
from tests.conftest import REDIS_URL, unavailable

OPENS_AT = 1_800_000_000.0
CLOSES_AT = OPENS_AT + 86_400
PRE_OPENING_BUYERS = 200


def visit(
    buyer: str, now: float, *, event: str = "event-1", per_minute: int = 60
) -> Visit:
    return Visit(
        event_key=event,
        buyer_id=buyer,
        now=now,
        opens_at=OPENS_AT,
        closes_at=CLOSES_AT,
        admissions_per_minute=per_minute,
        pass_seconds=300,
    )


async def delete_prefix(url: str, prefix: str) -> None:
    client = aioredis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"seatline-test-{secrets.token_hex(4)}:"
    yield prefix
    await delete_prefix(redis_url, prefix)


@pytest.fixture(params=["redis", "memory"])
async def store(
    request: pytest.FixtureRequest,
) -> AsyncIterator[WaitingRoomStore]:
    if request.param == "memory":
        yield MemoryWaitingRoomStore()
        return

    prefix = f"seatline-test-{secrets.token_hex(4)}:"
    built = RedisWaitingRoomStore.from_url(REDIS_URL, key_prefix=prefix)
    try:
        await built.place(visit("ping", OPENS_AT))
    except (OSError, aioredis.RedisError) as error:
        await built.close()
        unavailable(f"Redis at {REDIS_URL} is unreachable: {error}")
    yield built
    await built.close()
    await delete_prefix(REDIS_URL, prefix)


async def ranks(store: WaitingRoomStore, buyers: list[str], now: float) -> list[int]:
    found = []
    for buyer in buyers:
        place = await store.place(visit(buyer, now))
        assert place is not None, buyer
        found.append(place.rank)
    return found


async def test_store_shuffles_pre_opening_arrivals(store: WaitingRoomStore) -> None:
    buyers = [f"early-{i}" for i in range(PRE_OPENING_BUYERS)]
    for i, buyer in enumerate(buyers):
        await store.join(visit(buyer, OPENS_AT - 600 + i))

    found = await ranks(store, buyers, OPENS_AT + 1)

    assert sorted(found) == list(range(PRE_OPENING_BUYERS))
    # 200 arrivals keep their arrival order with probability 1/200!.
    assert found != list(range(PRE_OPENING_BUYERS))


async def test_store_queues_later_arrivals_fifo(store: WaitingRoomStore) -> None:
    early = [f"early-{i}" for i in range(10)]
    late = [f"late-{i}" for i in range(10)]
    for buyer in early:
        await store.join(visit(buyer, OPENS_AT - 5))
    for i, buyer in enumerate(late):
        await store.join(visit(buyer, OPENS_AT + i))

    assert sorted(await ranks(store, early, OPENS_AT + 20)) == list(range(10))
    assert await ranks(store, late, OPENS_AT + 20) == list(range(10, 20))


async def test_store_join_keeps_place(store: WaitingRoomStore) -> None:
    await store.join(visit("first", OPENS_AT + 1))
    await store.join(visit("second", OPENS_AT + 1))

    again = await store.join(visit("first", OPENS_AT + 2))

    assert again.rank == 0
    assert (await ranks(store, ["second"], OPENS_AT + 2)) == [1]


async def test_store_place_of_unknown_buyer(store: WaitingRoomStore) -> None:
    await store.join(visit("first", OPENS_AT + 1))

    assert await store.place(visit("stranger", OPENS_AT + 1)) is None


async def test_store_admits_at_rate(store: WaitingRoomStore) -> None:
    buyers = [f"early-{i}" for i in range(30)]
    for buyer in buyers:
        await store.join(visit(buyer, OPENS_AT - 1))

    admitted = {}
    for elapsed in (0, 5, 10, 29, 60):
        places = [await store.place(visit(b, OPENS_AT + elapsed)) for b in buyers]
        admitted[elapsed] = sum(1 for p in places if p is not None and p.admitted)

    # 60 per minute: one buyer per second since opening, at most everyone.
    assert admitted == {0: 0, 5: 5, 10: 10, 29: 29, 60: 30}


async def test_store_admits_by_rank(store: WaitingRoomStore) -> None:
    buyers = [f"late-{i}" for i in range(6)]
    # Microseconds, as a real clock has them, must not cost an admission.
    for buyer in buyers:
        await store.join(visit(buyer, OPENS_AT + 0.654321))

    places = [await store.place(visit(b, OPENS_AT + 3.654321)) for b in buyers]

    assert [p is not None and p.admitted for p in places] == [True] * 3 + [False] * 3


async def test_store_banks_no_admissions_when_idle(store: WaitingRoomStore) -> None:
    await store.join(visit("before-rush", OPENS_AT + 1))
    rush = [f"rush-{i}" for i in range(5)]
    for buyer in rush:
        await store.join(visit(buyer, OPENS_AT + 3600))

    at_arrival = [await store.place(visit(b, OPENS_AT + 3600)) for b in rush]
    later = [await store.place(visit(b, OPENS_AT + 3602)) for b in rush]

    assert [p is not None and p.admitted for p in at_arrival] == [False] * 5
    assert [p is not None and p.admitted for p in later] == [True] * 2 + [False] * 3


async def test_store_records_admission_time(store: WaitingRoomStore) -> None:
    await store.join(visit("buyer", OPENS_AT))

    queued = await store.place(visit("buyer", OPENS_AT + 0.5))
    admitted = await store.place(visit("buyer", OPENS_AT + 2))
    later = await store.place(visit("buyer", OPENS_AT + 100))

    assert queued is not None
    assert queued.admitted_at is None
    assert admitted is not None
    assert admitted.admitted_at == OPENS_AT + 2
    assert later is not None
    assert later.admitted_at == OPENS_AT + 2


async def test_store_requeues_lapsed_admission(store: WaitingRoomStore) -> None:
    await store.join(visit("lapsed", OPENS_AT))
    await store.join(visit("next", OPENS_AT))
    first = await store.place(visit("lapsed", OPENS_AT + 1))
    for i in range(3):
        await store.join(visit(f"late-{i}", OPENS_AT + 1))

    # The pass lasts 300 s; by now everyone who queued is admitted.
    rejoined = await store.join(visit("lapsed", OPENS_AT + 400))
    others = [await store.place(visit(b, OPENS_AT + 400)) for b in ["next", "late-2"]]

    assert first is not None
    assert first.admitted
    assert rejoined.rank == 4
    assert not rejoined.admitted
    assert rejoined.admitted_at is None
    assert [p is not None and p.admitted for p in others] == [True, True]


async def test_store_leave_moves_queue_up(store: WaitingRoomStore) -> None:
    buyers = [f"late-{i}" for i in range(4)]
    for buyer in buyers:
        await store.join(visit(buyer, OPENS_AT + 1))

    left = await store.leave(visit("late-1", OPENS_AT + 1))
    again = await store.leave(visit("late-1", OPENS_AT + 1))

    assert left is True
    assert again is False
    assert await store.place(visit("late-1", OPENS_AT + 1)) is None
    assert await ranks(store, ["late-0", "late-2", "late-3"], OPENS_AT + 1) == [
        0,
        1,
        2,
    ]


async def test_store_leave_after_admission_keeps_rate(
    store: WaitingRoomStore,
) -> None:
    buyers = [f"late-{i}" for i in range(4)]
    for buyer in buyers:
        await store.join(visit(buyer, OPENS_AT))
    # One admission per second: late-0 and late-1 are in after 2.5 s.
    before = [await store.place(visit(b, OPENS_AT + 2.5)) for b in buyers]

    await store.leave(visit("late-0", OPENS_AT + 2.5))
    after = [await store.place(visit(b, OPENS_AT + 2.5)) for b in buyers[1:]]
    later = await store.place(visit("late-2", OPENS_AT + 3))

    assert [p is not None and p.admitted for p in before] == [True, True, False, False]
    assert [p is not None and p.admitted for p in after] == [True, False, False]
    assert later is not None
    assert later.admitted


async def test_store_keeps_events_apart(store: WaitingRoomStore) -> None:
    await store.join(visit("a", OPENS_AT + 1, event="event-1"))
    other = await store.join(visit("b", OPENS_AT + 1, event="event-2"))

    assert other.rank == 0
    assert await store.place(visit("a", OPENS_AT + 1, event="event-2")) is None


async def test_redis_store_survives_restart(redis_url: str, redis_prefix: str) -> None:
    before = RedisWaitingRoomStore.from_url(redis_url, key_prefix=redis_prefix)
    buyers = [f"buyer-{i}" for i in range(20)]
    for buyer in buyers:
        await before.join(visit(buyer, OPENS_AT - 10))
    expected = await ranks(before, buyers, OPENS_AT + 5)
    await before.close()

    after = RedisWaitingRoomStore.from_url(redis_url, key_prefix=redis_prefix)
    try:
        found = await ranks(after, buyers, OPENS_AT + 5)
        rejoined = await after.join(visit("buyer-3", OPENS_AT + 6))
        newcomer = await after.join(visit("newcomer", OPENS_AT + 6))
    finally:
        await after.close()

    assert found == expected
    assert rejoined.rank == expected[3]
    assert newcomer.rank == 20


async def test_redis_store_keys_expire(redis_url: str, redis_prefix: str) -> None:
    store = RedisWaitingRoomStore.from_url(redis_url, key_prefix=redis_prefix)
    client = aioredis.from_url(redis_url)
    try:
        await store.join(visit("buyer", OPENS_AT + 1))
        await store.place(visit("buyer", OPENS_AT + 2))
        ttls = [await client.ttl(key) for key in store.keys("event-1")]
    finally:
        await client.aclose()
        await store.close()

    # The sale closes a day after OPENS_AT; keys live one more day.
    assert all(86_400 < ttl <= 2 * 86_400 for ttl in ttls), ttls
