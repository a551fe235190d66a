"""The root schema: queries, mutations, error masking and logging."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from seatline.auth.permissions import (
    Anyone,
    CanBook,
    CanReadEvents,
    CanReadOrders,
    CanWatchSales,
    IsAdmin,
    IsOrganizer,
)
from seatline.booking.errors import BookingError, ErrorCode
from seatline.booking.services import busy_reason
from seatline.observability.graphql import OperationMetrics
from seatline.resolvers import bookings as booking_resolvers
from seatline.resolvers import events as event_resolvers
from seatline.resolvers import live as live_resolvers
from seatline.resolvers import oauth as oauth_resolvers
from seatline.resolvers import waiting_room as waiting_room_resolvers
from seatline.schema.errors import (
    AdmissionRequiredError,
    BusyError,
    HoldExpiredError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    InvalidStateError,
    LimitExceededError,
    NotFoundError,
    PaymentDeclinedError,
    PaymentFailedError,
    PlanInvalidError,
    SaleNotOpenError,
    SeatsUnavailableError,
    SingleSeatGapError,
)
from seatline.schema.execution import SharedEventExecutor
from seatline.schema.limits import (
    QueryLimits,
    QueryLimitsExtension,
    add_token_limit_code,
)
from seatline.schema.rate_limits import (
    RateLimited,
    RateLimitExtension,
    RatePolicy,
    add_rate_limit_code,
)
from seatline.schema.types import Event, EventConnection, Hold, Order
from seatline.schema.waiting_room import WaitingRoomStatus

logger = logging.getLogger(__name__)


@strawberry.type
class Query:
    events: EventConnection = strawberry.field(
        resolver=event_resolvers.events,
        permission_classes=[CanReadEvents],
        description="Events by start time, drafts excluded.",
    )
    event: Event | None = strawberry.field(
        resolver=event_resolvers.event, permission_classes=[CanReadEvents]
    )
    hold: Hold | None = strawberry.field(
        resolver=booking_resolvers.hold,
        permission_classes=[CanReadOrders],
        description="One of the caller's holds.",
    )
    order: Order | None = strawberry.field(
        resolver=booking_resolvers.order,
        permission_classes=[CanReadOrders],
        description="One of the caller's orders.",
    )
    waiting_room: WaitingRoomStatus | None = strawberry.field(
        resolver=waiting_room_resolvers.waiting_room,
        permission_classes=[CanBook],
        description="The caller's place in an event's waiting room; null when "
        "the caller has not joined.",
    )


@strawberry.type
class Mutation:
    register_buyer = strawberry.mutation(
        resolver=oauth_resolvers.register_buyer,
        permission_classes=[Anyone],
        description="Create a buyer account that signs in at /oauth/authorize.",
    )
    create_oauth_client = strawberry.mutation(
        resolver=oauth_resolvers.create_oauth_client,
        name="createOAuthClient",
        permission_classes=[IsAdmin],
        description="Register an OAuth2 client; a confidential client's secret "
        "is returned once.",
    )
    import_venue = strawberry.mutation(
        resolver=event_resolvers.import_venue,
        permission_classes=[IsOrganizer],
        description="Create a venue from a seating plan (pretix JSON format).",
    )
    create_event = strawberry.mutation(
        resolver=event_resolvers.create_event, permission_classes=[IsOrganizer]
    )
    publish_event = strawberry.mutation(
        resolver=event_resolvers.publish_event,
        permission_classes=[IsOrganizer],
        description="Put a draft or closed event on sale.",
    )
    close_sales = strawberry.mutation(
        resolver=event_resolvers.close_sales, permission_classes=[IsOrganizer]
    )
    cancel_event = strawberry.mutation(
        resolver=event_resolvers.cancel_event,
        permission_classes=[IsOrganizer],
        description="Cancel an event and refund all of its orders.",
    )
    block_seats = strawberry.mutation(
        resolver=event_resolvers.block_seats,
        permission_classes=[IsOrganizer],
        description="Take free seats off sale.",
    )
    unblock_seats = strawberry.mutation(
        resolver=event_resolvers.unblock_seats, permission_classes=[IsOrganizer]
    )
    configure_waiting_room = strawberry.mutation(
        resolver=event_resolvers.configure_waiting_room,
        permission_classes=[IsOrganizer],
        description="Turn an event's waiting room on or off, or change its "
        "admission rate and pass lifetime.",
    )
    join_waiting_room = strawberry.mutation(
        resolver=waiting_room_resolvers.join_waiting_room,
        permission_classes=[CanBook],
        description="Queue for an event's on-sale; joining again keeps the "
        "caller's place.",
    )
    leave_waiting_room = strawberry.mutation(
        resolver=waiting_room_resolvers.leave_waiting_room,
        permission_classes=[CanBook],
        description="Leave an event's waiting room. A pass already issued "
        "stays valid until passExpiresAt.",
    )
    hold_seats = strawberry.mutation(
        resolver=booking_resolvers.hold_seats,
        permission_classes=[CanBook],
        description="Hold the given seats, or the best available ones: all or none.",
    )
    extend_hold = strawberry.mutation(
        resolver=booking_resolvers.extend_hold,
        permission_classes=[CanBook],
        description="Move a hold's deadline by the event's hold duration, "
        "up to its cap.",
    )
    release_hold = strawberry.mutation(
        resolver=booking_resolvers.release_hold, permission_classes=[CanBook]
    )
    checkout = strawberry.mutation(
        resolver=booking_resolvers.checkout,
        permission_classes=[CanBook],
        description="Create an order awaiting payment from an active hold.",
    )
    pay_order = strawberry.mutation(
        resolver=booking_resolvers.pay_order,
        permission_classes=[CanBook],
        description="Pay an order; on success its tickets are issued.",
    )
    cancel_order = strawberry.mutation(
        resolver=booking_resolvers.cancel_order,
        permission_classes=[CanBook],
        description="Cancel an order, refunding it when paid.",
    )


@strawberry.type
class Subscription:
    seat_map_updates = strawberry.subscription(
        resolver=live_resolvers.seat_map_updates,
        permission_classes=[CanReadEvents],
        description="A live seat map: a snapshot (or the changes since "
        "sinceVersion), then deltas in version order, heartbeats when idle.",
    )
    order_updates = strawberry.subscription(
        resolver=live_resolvers.order_updates,
        permission_classes=[CanReadOrders],
        description="Status changes of the caller's orders.",
    )
    event_sales_updates = strawberry.subscription(
        resolver=live_resolvers.event_sales_updates,
        permission_classes=[CanWatchSales],
        description="Seat counts per category of an event, for its organizer "
        "and for partners with the partner:stream scope.",
    )
    waiting_room_updates = strawberry.subscription(
        resolver=waiting_room_resolvers.waiting_room_updates,
        permission_classes=[CanBook],
        description="The caller's waiting-room status whenever it changes; "
        "ends with the ADMITTED status and its pass.",
    )


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, BookingError | RateLimited):
        return True
    if busy_reason(original) is not None:
        return True
    # Errors raised as GraphQL errors on purpose (permissions) carry a code.
    return isinstance(original, GraphQLError) and bool(
        (original.extensions or {}).get("code")
    )


class DomainErrorCodes(SchemaExtension):
    """Give domain errors raised outside result unions a code and field."""

    def on_operation(self) -> Any:
        yield
        self._add_codes(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Any:
        # Each message of a subscription, including an error of its first
        # step, which on_operation would only see when the stream ends.
        self._add_codes(result)
        yield

    def _add_codes(self, result: object) -> None:
        for error in getattr(result, "errors", None) or []:
            original = error.original_error
            if isinstance(original, BookingError):
                error.extensions = {
                    "code": original.code.value,
                    "field": original.field,
                }
            elif original is not None and (reason := busy_reason(original)):
                # Overload or a database outage, not a bug.
                error.message = reason
                error.extensions = {"code": ErrorCode.BUSY.value, "field": None}


class MaskUnexpectedErrors(MaskErrors):
    """Strawberry's MaskErrors, with a cheaper test for a result's errors.

    MaskErrors checks every result against a runtime-checkable protocol,
    and that isinstance call was a fifth of a live seat map's server time
    with 1,000 subscribers.
    """

    # NOTE: overrides a private method of MaskErrors; the masking tests fail
    # if a Strawberry release renames it.
    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


class Schema(strawberry.Schema):
    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            # Both are raised before execution, outside the extensions' hooks.
            add_token_limit_code(error)
            add_rate_limit_code(error)
            if _is_expected(error):
                continue
            operation = execution_context.operation_name if execution_context else None
            logger.error(
                "unexpected error in GraphQL operation",
                exc_info=error.original_error,
                extra={"operation": operation, "path": error.path},
            )


def build_schema(
    limits: QueryLimits | None = None,
    *,
    production: bool = False,
    rates: RatePolicy | None = None,
) -> Schema:
    """Build the schema; production hides introspection and field suggestions."""
    limits = limits or QueryLimits()
    # Parsed once, so that a malformed limit fails at startup.
    rate_items = rates.items() if rates is not None else {}
    if production:
        limits = dataclasses.replace(limits, introspection=False)
    return Schema(
        query=Query,
        config=StrawberryConfig(disable_field_suggestions=production),
        execution_context_class=SharedEventExecutor,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            AdmissionRequiredError,
            BusyError,
            HoldExpiredError,
            IdempotencyKeyReusedError,
            InvalidInputError,
            InvalidStateError,
            LimitExceededError,
            NotFoundError,
            PaymentDeclinedError,
            PaymentFailedError,
            PlanInvalidError,
            SaleNotOpenError,
            SeatsUnavailableError,
            SingleSeatGapError,
        ],
        extensions=[
            # First, so that it finishes last and sees the final error codes.
            OperationMetrics,
            # Before parsing and validation, which apply what it sets.
            lambda: QueryLimitsExtension(limits),
            *([lambda: RateLimitExtension(rate_items)] if rate_items else []),
            # Parsing and validating a document cost milliseconds per request;
            # clients send the same few documents over and over.
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            DomainErrorCodes,
            lambda: MaskUnexpectedErrors(
                should_mask_error=lambda error: not _is_expected(error),
                error_message="internal server error",
            ),
        ],
    )
