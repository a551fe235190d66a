"""Subscriptions executed in process, through the schema and the fan-out.

In process, a test can see what no client over a socket could tell: that
subscribers with one document share the executed result of a delta.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack, aclosing
from typing import Any

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from seatline.booking.holds import HoldRequest, hold_seats
from seatline.booking.services import Services
from seatline.schema.context import Context
from seatline.schema.root import build_schema
from seatline.subscriptions.fanout import FanOut
from tests.conftest import make_event, seat_ids

WATCH = """
subscription Watch($eventId: ID!, $withOrdinal: Boolean! = false) {
  seatMapUpdates(eventId: $eventId) {
    kind version
    changes { seatId status ordinal @include(if: $withOrdinal) }
  }
}
"""
WATCH_VERSIONS = """
subscription WatchVersions($eventId: ID!) {
  seatMapUpdates(eventId: $eventId) { kind version fromVersion }
}
"""
WAIT_SECONDS = 10.0


@pytest.fixture
async def fanout(services: Services) -> AsyncIterator[FanOut]:
    async def read_version(event_id: uuid.UUID) -> int | None:
        return None

    built = FanOut(lambda: services.publisher.broadcast, read_version, batch_window=0)
    yield built
    await built.close()


async def subscribe(
    stack: AsyncExitStack,
    services: Services,
    fanout: FanOut,
    document: str,
    variables: dict[str, Any],
) -> AsyncGenerator[Any, None]:
    schema = build_schema()
    context = Context(services=services, principal=None, fanout=fanout)
    stream = await schema.subscribe(
        document, variable_values=variables, context_value=context
    )
    assert not hasattr(stream, "errors"), stream
    return await stack.enter_async_context(aclosing(stream))  # type: ignore[arg-type]


async def test_subscription_without_free_connection_is_busy(
    services: Services, fanout: FanOut, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await make_event(services)

    async def exhausted(*args: object) -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached")

    monkeypatch.setattr(services.availability, "read_shared", exhausted)
    async with AsyncExitStack() as stack:
        stream = await subscribe(
            stack, services, fanout, WATCH_VERSIONS, {"eventId": event.id}
        )
        result = await asyncio.wait_for(anext(stream), WAIT_SECONDS)

    assert result.data is None
    assert result.errors[0].extensions == {"code": "BUSY", "field": None}
    assert "QueuePool" not in result.errors[0].message


async def next_data(stream: AsyncGenerator[Any, None]) -> Any:
    result = await asyncio.wait_for(anext(stream), WAIT_SECONDS)
    assert not result.errors, result.errors
    return result.data


async def test_delta_is_executed_once_per_document(
    services: Services, fanout: FanOut
) -> None:
    event = await make_event(services)
    seat = seat_ids(event)[0]
    variables = {"eventId": event.id}

    async with AsyncExitStack() as stack:
        streams = [
            await subscribe(stack, services, fanout, WATCH, variables) for _ in range(3)
        ]
        other = await subscribe(stack, services, fanout, WATCH_VERSIONS, variables)
        with_ordinal = await subscribe(
            stack, services, fanout, WATCH, {**variables, "withOrdinal": True}
        )
        for stream in [*streams, other, with_ordinal]:
            assert (await next_data(stream))["seatMapUpdates"]["kind"] == "SNAPSHOT"

        await hold_seats(
            services,
            "buyer-1",
            HoldRequest(event.event.id, str(uuid.uuid4()), seat_ids=[seat]),
        )
        deltas = [await next_data(stream) for stream in streams]
        other_delta = await next_data(other)
        ordinal_delta = await next_data(with_ordinal)

    assert all(data is deltas[0] for data in deltas)
    assert deltas[0]["seatMapUpdates"]["changes"] == [
        {"seatId": seat, "status": "HELD"}
    ]
    assert other_delta["seatMapUpdates"] == {
        "kind": "DELTA",
        "version": deltas[0]["seatMapUpdates"]["version"],
        "fromVersion": deltas[0]["seatMapUpdates"]["version"],
    }
    assert ordinal_delta is not deltas[0]
    assert ordinal_delta["seatMapUpdates"]["changes"] == [
        {"seatId": seat, "status": "HELD", "ordinal": 0}
    ]
