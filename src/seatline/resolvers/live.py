"""Subscription resolvers: thin wrappers around the stream builders."""

from __future__ import annotations

import orjson
import strawberry
from strawberry.exceptions import StrawberryGraphQLError

from seatline.auth.permissions import unauthenticated
from seatline.auth.tokens import Scope
from seatline.booking import seatmap
from seatline.booking.errors import NotFound
from seatline.resolvers.common import principal, subject_or_none
from seatline.schema.context import Info
from seatline.schema.live import (
    OrderStream,
    OrderUpdate,
    SalesStream,
    SalesUpdate,
    SeatMapStream,
    SeatMapUpdate,
)
from seatline.schema.types import StatusCounts, parse_id
from seatline.subscriptions import streams
from seatline.subscriptions.publisher import order_channel


async def seat_map_updates(
    info: Info, event_id: strawberry.ID, since_version: int | None = None
) -> SeatMapStream:
    services = info.context.services
    parsed = parse_id(event_id, "eventId")
    if since_version is not None and since_version < 0:
        since_version = None
    # A read shared with the other subscribers arriving now, so that a mass
    # reconnect does not take one database connection per socket.
    try:
        read = await services.availability.read_shared(
            services.sessions, parsed, services.clock
        )
    except LookupError:
        raise _not_found(event_id) from None
    if not seatmap.visible_to(read.event, subject_or_none(info)):
        raise _not_found(event_id)
    stream = streams.seat_map_stream(
        services, info.context.fanout, parsed, since_version
    )
    async for message in stream:
        yield SeatMapUpdate.from_message(message)


async def order_updates(info: Info) -> OrderStream:
    caller = principal(info)
    async with info.context.topics.subscribe(
        order_channel(caller.subject)
    ) as subscriber:
        while True:
            message = await subscriber.next()
            if message is None:
                yield OrderUpdate(
                    order_id=None, event_id=None, status=None, missed_updates=True
                )
                continue
            data = orjson.loads(message)
            yield OrderUpdate(
                order_id=strawberry.ID(data["order_id"]),
                event_id=strawberry.ID(data["event_id"]),
                status=data["status"],
                missed_updates=False,
            )


async def event_sales_updates(info: Info, event_id: strawberry.ID) -> SalesStream:
    caller = info.context.principal
    if caller is None:
        raise unauthenticated()
    services = info.context.services
    parsed = parse_id(event_id, "eventId")
    event = await seatmap.find_event(services, parsed, caller.subject)
    owns = event is not None and event.organizer_id == caller.subject
    allowed = (owns and caller.has(Scope.ORGANIZER)) or caller.has(Scope.PARTNER_STREAM)
    if event is None or not allowed:
        raise _not_found(event_id)
    async for version, counts in streams.sales_stream(
        services, info.context.fanout, parsed
    ):
        yield SalesUpdate(
            event_id=event_id,
            version=version,
            counts_by_category=[StatusCounts(**c.__dict__) for c in counts],
        )


def _not_found(event_id: strawberry.ID) -> StrawberryGraphQLError:
    # Errors of a subscription's first step skip the schema's extensions, so
    # the code is set here.
    return StrawberryGraphQLError(
        f"event {event_id} not found",
        extensions={"code": NotFound.code.value, "field": "eventId"},
    )
