"""Create broadcaster connections, with a fix for its Redis backend.

broadcaster 0.3.1's `RedisBackend.subscribe` wakes its listener task before
it sends SUBSCRIBE. redis-py (8.x) registers a channel only after the
command was sent, and its `PubSub.listen()` returns at once while no
channel is registered. So the listener stops and waits for the next
subscription: the first channel of a connection, and the first after all
channels were left, receive nothing until another channel is subscribed.
"""

from __future__ import annotations

from urllib.parse import urlparse

from broadcaster import Broadcast
from broadcaster._backends.redis import RedisBackend


class RedisPubSubBackend(RedisBackend):
    """broadcaster's Redis backend that subscribes before waking the listener."""

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()


def create_broadcast(url: str) -> Broadcast:
    """Return an unconnected Broadcast for `url` (redis://, memory://, ...)."""
    if urlparse(url).scheme in ("redis", "rediss"):
        return Broadcast(backend=RedisPubSubBackend(url))
    return Broadcast(url)
