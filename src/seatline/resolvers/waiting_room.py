"""Resolvers for joining and watching an event's waiting room."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry
from strawberry.exceptions import StrawberryGraphQLError

from seatline.booking import waiting_room as room_service
from seatline.booking.errors import BookingError, NotFound
from seatline.booking.waiting_room import RoomState
from seatline.resolvers.common import principal
from seatline.schema.context import Info
from seatline.schema.errors import (
    BusyError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    SaleNotOpenError,
    returns_errors,
)
from seatline.schema.types import parse_id
from seatline.schema.waiting_room import (
    WaitingRoomLeft,
    WaitingRoomStatus,
    WaitingRoomStream,
)

# The errors of joining and leaving: opening the room can fail the same ways.
RoomErrors = (
    SaleNotOpenError | InvalidInputError | NotFoundError | InvalidStateError | BusyError
)
JoinWaitingRoomResult = Annotated[
    WaitingRoomStatus | RoomErrors, strawberry.union("JoinWaitingRoomResult")
]


@returns_errors
async def join_waiting_room(
    info: Info, event_id: strawberry.ID
) -> JoinWaitingRoomResult:
    room = await room_service.open_waiting_room(
        info.context.services, parse_id(event_id, "eventId")
    )
    status = await room.join(principal(info).subject)
    return WaitingRoomStatus.from_domain(status)


LeaveWaitingRoomResult = Annotated[
    WaitingRoomLeft | RoomErrors, strawberry.union("LeaveWaitingRoomResult")
]


@returns_errors
async def leave_waiting_room(
    info: Info, event_id: strawberry.ID
) -> LeaveWaitingRoomResult:
    room = await room_service.open_waiting_room(
        info.context.services, parse_id(event_id, "eventId")
    )
    await room.leave(principal(info).subject)
    return WaitingRoomLeft(event_id=strawberry.ID(str(room.event_id)))


async def waiting_room(info: Info, event_id: strawberry.ID) -> WaitingRoomStatus | None:
    room = await room_service.open_waiting_room(
        info.context.services, parse_id(event_id, "eventId")
    )
    status = await room.status(principal(info).subject)
    return None if status is None else WaitingRoomStatus.from_domain(status)


async def waiting_room_updates(
    info: Info, event_id: strawberry.ID
) -> WaitingRoomStream:
    services = info.context.services
    buyer_id = principal(info).subject
    try:
        # The event's rules are read once, so each poll below costs one
        # store round trip and no database connection.
        room = await room_service.open_waiting_room(
            services, parse_id(event_id, "eventId")
        )
    except BookingError as error:
        raise _graphql_error(error) from None

    last = None
    while True:
        status = await room.status(buyer_id)
        if status is None:
            raise _graphql_error(
                NotFound(
                    f"you have not joined the waiting room of event {event_id}; "
                    "call joinWaitingRoom first",
                    field="eventId",
                )
            )
        if status != last:
            yield WaitingRoomStatus.from_domain(status)
            last = status
        if status.state is RoomState.ADMITTED:
            return
        await asyncio.sleep(services.settings.waiting_room_poll_seconds)


def _graphql_error(error: BookingError) -> StrawberryGraphQLError:
    # Errors of a subscription's first step skip the schema's extensions, so
    # the code is set here.
    return StrawberryGraphQLError(
        error.message, extensions={"code": error.code.value, "field": error.field}
    )
