"""Helpers shared by resolvers."""

from __future__ import annotations

from seatline.auth.permissions import unauthenticated
from seatline.auth.tokens import Principal
from seatline.schema.context import Info


def principal(info: Info) -> Principal:
    """Return the caller; permission classes have already required a token."""
    caller = info.context.principal
    if caller is None:
        raise unauthenticated()
    return caller


def subject_or_none(info: Info) -> str | None:
    caller = info.context.principal
    return None if caller is None else caller.subject
