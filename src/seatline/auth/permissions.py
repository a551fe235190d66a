"""Strawberry permission classes for scopes.

Every root field names one of these, so what a field needs can be read in
the schema module. Scopes open fields; ownership of holds, orders and events
is checked by the domain services against the token's subject.
"""

from __future__ import annotations

from typing import Any

from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

from seatline.auth.tokens import Principal, Scope

UNAUTHENTICATED_MESSAGE = "authentication required: send an Authorization: Bearer token"


def unauthenticated() -> StrawberryGraphQLError:
    return StrawberryGraphQLError(
        UNAUTHENTICATED_MESSAGE, extensions={"code": "UNAUTHENTICATED"}
    )


def _principal(info: Any) -> Principal:
    principal: Principal | None = info.context.principal
    if principal is None:
        raise unauthenticated()
    return principal


class Anyone(BasePermission):
    """Open to anonymous callers too, such as registration."""

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return True


class CanReadEvents(BasePermission):
    """Public unless SEATLINE_PUBLIC_EVENT_READS=false; then events:read."""

    message = "the events:read scope is required"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        if info.context.services.settings.public_event_reads:
            return True
        return _principal(info).has(Scope.EVENTS_READ)


class Authenticated(BasePermission):
    message = UNAUTHENTICATED_MESSAGE
    error_extensions = {"code": "UNAUTHENTICATED"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return info.context.principal is not None


class CanBook(BasePermission):
    message = "the bookings:write scope is required"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return _principal(info).has(Scope.BOOKINGS_WRITE)


class CanReadOrders(BasePermission):
    message = "the orders:read or bookings:write scope is required"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = _principal(info)
        return principal.has(Scope.ORDERS_READ) or principal.has(Scope.BOOKINGS_WRITE)


class IsOrganizer(BasePermission):
    message = "the organizer scope is required"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return _principal(info).has(Scope.ORGANIZER)


class CanWatchSales(BasePermission):
    message = "the organizer or partner:stream scope is required"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = _principal(info)
        return principal.has(Scope.ORGANIZER) or principal.has(Scope.PARTNER_STREAM)


class IsAdmin(BasePermission):
    message = "the admin scope is required"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return _principal(info).has(Scope.ADMIN)
