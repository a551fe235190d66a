"""Queue state of waiting rooms, in Redis or in process memory.

One sorted set per event orders the buyers. Buyers who join before the sale
opens get a random score in [0, 1), so when the sale opens they stand in
random order ahead of everyone else. Later buyers get 1 + an atomic counter,
so they queue first come, first served.

The admission cursor counts the places admitted so far. It grows at the
event's rate from the moment the sale opens and is advanced lazily, on every
visit, from the caller's clock. That needs no background task, and every
process computes the same cursor. The cursor never passes the queue's length,
so an idle room does not bank admissions for a later rush.

NOTE: each visit brings its process's clock. The cursor never moves back,
but a host whose clock runs ahead admits early by the amount of the skew.
"""

from __future__ import annotations

import bisect
import math
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

# Added before rounding the cursor down, so that 2.9999999 admissions after
# exactly three intervals count as three.
CURSOR_SLACK = 1e-6
# Keeps the keys of an idle room this long after its sale ends, in seconds.
RETENTION_SECONDS = 86_400


@dataclass(frozen=True)
class Visit:
    """One buyer's request to a waiting room, with the event's rules."""

    event_key: str
    buyer_id: str
    now: float
    opens_at: float
    closes_at: float
    admissions_per_minute: int
    pass_seconds: int


@dataclass(frozen=True)
class Place:
    """A buyer's place in a waiting room's queue."""

    # 0-based rank in the queue. Admitted buyers keep their rank.
    rank: int
    # Admitted places so far, fractional between two admissions.
    cursor: float
    # Unix time when a visit first found this buyer admitted, else None.
    admitted_at: float | None

    @property
    def admitted(self) -> bool:
        return self.rank < admitted_count(self.cursor)


def admitted_count(cursor: float) -> int:
    """Return the number of whole places admitted at `cursor`.

    The slack absorbs float error in differences of unix times.
    """
    return math.floor(cursor + CURSOR_SLACK)


class WaitingRoomStore(Protocol):
    async def join(self, visit: Visit) -> Place:
        """Add the buyer unless queued, and requeue one whose admission lapsed."""
        ...

    async def place(self, visit: Visit) -> Place | None:
        """Return the buyer's place, or None when the buyer has not joined."""
        ...

    async def leave(self, visit: Visit) -> bool:
        """Remove the buyer from the queue; return False when not queued."""
        ...

    async def close(self) -> None: ...


def _pre_opening_score() -> str:
    # 53 random bits, the precision of a Redis sorted-set score.
    return repr(secrets.randbits(53) / (1 << 53))


# KEYS: queue (sorted set), arrivals (counter), cursor (hash with cursor and
# last), admitted (hash of buyer to the unix time of admission).
# ARGV: buyer, mode (join, place or leave), now, opens_at, admissions per
# minute, pass seconds, pre-opening score, key lifetime in seconds.
_VISIT_SCRIPT = """
local buyer = ARGV[1]
local mode = ARGV[2]
local join = mode == 'join'
local now = tonumber(ARGV[3])
local opens_at = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
local pass_seconds = tonumber(ARGV[6])
local ttl = tonumber(ARGV[8])
-- tostring keeps only 14 digits, which loses the microseconds of a unix time.
local function exact(number)
  return string.format('%.17g', number)
end

local cursor = 0
local last = opens_at
local state = redis.call('HMGET', KEYS[3], 'cursor', 'last')
if state[1] then
  cursor = tonumber(state[1])
  last = tonumber(state[2])
end
if now > last then
  local size = redis.call('ZCARD', KEYS[1])
  cursor = math.min(cursor + (now - last) * rate / 60, size)
  last = now
end

local score = redis.call('ZSCORE', KEYS[1], buyer)
if mode == 'leave' then
  if score then
    -- An admitted buyer's place is not handed on: the pass already issued
    -- stays valid until it expires, so the admitted set must not grow.
    if redis.call('ZRANK', KEYS[1], buyer) < math.floor(cursor + 1e-6) then
      cursor = math.max(cursor - 1, 0)
    end
    redis.call('ZREM', KEYS[1], buyer)
    redis.call('HDEL', KEYS[4], buyer)
  end
  redis.call('HSET', KEYS[3], 'cursor', exact(cursor), 'last', exact(last))
  return score and 1 or 0
end
if score and join then
  local admitted_at = redis.call('HGET', KEYS[4], buyer)
  if admitted_at and tonumber(admitted_at) + pass_seconds <= now then
    -- Everyone behind moves up one place, so the cursor moves back one and
    -- the set of admitted buyers stays the same.
    redis.call('ZREM', KEYS[1], buyer)
    redis.call('HDEL', KEYS[4], buyer)
    cursor = math.max(cursor - 1, 0)
    score = false
  end
end
if not score then
  if not join then
    redis.call('HSET', KEYS[3], 'cursor', exact(cursor), 'last', exact(last))
    return false
  end
  if now < opens_at then
    score = ARGV[7]
  else
    score = 1 + redis.call('INCR', KEYS[2])
  end
  redis.call('ZADD', KEYS[1], score, buyer)
end
redis.call('HSET', KEYS[3], 'cursor', exact(cursor), 'last', exact(last))

local rank = redis.call('ZRANK', KEYS[1], buyer)
local admitted_at = false
if rank < math.floor(cursor + 1e-6) then
  redis.call('HSETNX', KEYS[4], buyer, ARGV[3])
  admitted_at = redis.call('HGET', KEYS[4], buyer)
end
for i = 1, 4 do
  redis.call('EXPIRE', KEYS[i], ttl)
end
return {rank, exact(cursor), admitted_at}
"""


class RedisWaitingRoomStore:
    """Waiting rooms in Redis, shared by every API process and kept on restarts."""

    def __init__(self, client: aioredis.Redis, *, key_prefix: str) -> None:
        self._client = client
        self._prefix = key_prefix
        self._script = client.register_script(_VISIT_SCRIPT)

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str) -> RedisWaitingRoomStore:
        return cls(aioredis.from_url(url), key_prefix=key_prefix)

    async def join(self, visit: Visit) -> Place:
        place = await self._visit(visit, "join")
        assert place is not None
        return place

    async def place(self, visit: Visit) -> Place | None:
        return await self._visit(visit, "place")

    async def leave(self, visit: Visit) -> bool:
        return bool(await self._run(visit, "leave"))

    async def close(self) -> None:
        await self._client.aclose()

    def keys(self, event_key: str) -> list[str]:
        # One hash tag per event keeps its keys in one Redis Cluster slot.
        base = f"{self._prefix}waiting-room:{{{event_key}}}"
        return [
            f"{base}:queue",
            f"{base}:arrivals",
            f"{base}:cursor",
            f"{base}:admitted",
        ]

    async def _visit(self, visit: Visit, mode: str) -> Place | None:
        reply = await self._run(visit, mode)
        if reply is None:
            return None
        rank, cursor, admitted_at = reply
        return Place(
            rank=int(rank),
            cursor=float(cursor),
            admitted_at=None if admitted_at is None else float(admitted_at),
        )

    async def _run(self, visit: Visit, mode: str) -> Any:
        ttl = max(1, math.ceil(visit.closes_at - visit.now)) + RETENTION_SECONDS
        return await self._script(
            keys=self.keys(visit.event_key),
            args=[
                visit.buyer_id,
                mode,
                repr(visit.now),
                repr(visit.opens_at),
                visit.admissions_per_minute,
                visit.pass_seconds,
                _pre_opening_score(),
                ttl,
            ],
        )


@dataclass
class _Room:
    scores: dict[str, float] = field(default_factory=dict)
    # (score, buyer) pairs in queue order, the same order as a sorted set.
    order: list[tuple[float, str]] = field(default_factory=list)
    admitted_at: dict[str, float] = field(default_factory=dict)
    arrivals: int = 0
    cursor: float = 0.0
    last: float | None = None


class MemoryWaitingRoomStore:
    """Waiting rooms in this process only, for the embedded memory:// default.

    Same rules as the Redis store. State is lost when the process stops and
    is not shared with other processes.
    """

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}

    async def join(self, visit: Visit) -> Place:
        room = self._advance(visit)
        buyer = visit.buyer_id
        lapsed = room.admitted_at.get(buyer)
        if lapsed is not None and lapsed + visit.pass_seconds <= visit.now:
            room.order.remove((room.scores.pop(buyer), buyer))
            del room.admitted_at[buyer]
            room.cursor = max(room.cursor - 1, 0.0)
        if buyer not in room.scores:
            if visit.now < visit.opens_at:
                score = float(_pre_opening_score())
            else:
                room.arrivals += 1
                score = float(1 + room.arrivals)
            room.scores[buyer] = score
            bisect.insort(room.order, (score, buyer))
        return self._place_of(room, visit)

    async def place(self, visit: Visit) -> Place | None:
        room = self._advance(visit)
        if visit.buyer_id not in room.scores:
            return None
        return self._place_of(room, visit)

    async def leave(self, visit: Visit) -> bool:
        room = self._advance(visit)
        buyer = visit.buyer_id
        score = room.scores.pop(buyer, None)
        if score is None:
            return False
        # An admitted buyer's place is not handed on, as in the Redis script.
        rank = bisect.bisect_left(room.order, (score, buyer))
        if rank < admitted_count(room.cursor):
            room.cursor = max(room.cursor - 1, 0.0)
        room.order.pop(rank)
        room.admitted_at.pop(buyer, None)
        return True

    async def close(self) -> None:
        self._rooms.clear()

    def _advance(self, visit: Visit) -> _Room:
        room = self._rooms.setdefault(visit.event_key, _Room())
        last = visit.opens_at if room.last is None else room.last
        if visit.now > last:
            gained = (visit.now - last) * visit.admissions_per_minute / 60
            room.cursor = min(room.cursor + gained, float(len(room.order)))
            last = visit.now
        room.last = last
        return room

    def _place_of(self, room: _Room, visit: Visit) -> Place:
        buyer = visit.buyer_id
        rank = bisect.bisect_left(room.order, (room.scores[buyer], buyer))
        if rank < admitted_count(room.cursor):
            room.admitted_at.setdefault(buyer, visit.now)
        return Place(
            rank=rank, cursor=room.cursor, admitted_at=room.admitted_at.get(buyer)
        )


def create_store(redis_url: str, *, key_prefix: str) -> WaitingRoomStore:
    """Return the Redis store, or the in-process one for memory:// URLs."""
    if redis_url.startswith("memory://"):
        return MemoryWaitingRoomStore()
    return RedisWaitingRoomStore.from_url(redis_url, key_prefix=key_prefix)
