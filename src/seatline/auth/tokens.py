"""Access tokens: scopes, the caller, and JWTs signed by the local keys."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from seatline.auth.keys import ALGORITHM, KeyStore


class Scope(StrEnum):
    EVENTS_READ = "events:read"
    BOOKINGS_WRITE = "bookings:write"
    ORDERS_READ = "orders:read"
    ORGANIZER = "organizer"
    PARTNER_STREAM = "partner:stream"
    CHECKIN = "checkin"
    ADMIN = "admin"


# Default scopes of a new buyer account; operators can grant more.
BUYER_SCOPES = (Scope.EVENTS_READ, Scope.BOOKINGS_WRITE, Scope.ORDERS_READ)


KNOWN_SCOPES = frozenset(scope.value for scope in Scope)
# Tokens of at most 255 characters of subject, as stored in buyer_id columns.
MAX_SUBJECT_LENGTH = 255
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class Principal:
    """The caller: the token's subject, granted scopes and client."""

    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    client_id: str | None = None
    # Unix time when the token expires; websockets close then.
    expires_at: float | None = None

    def has(self, scope: Scope) -> bool:
        return scope.value in self.scopes or Scope.ADMIN.value in self.scopes


class InvalidToken(Exception):
    """The bearer token failed validation; the message is safe to show."""


def mint_token(
    keys: KeyStore,
    *,
    subject: str,
    scopes: list[str],
    issuer: str,
    audience: str,
    lifetime_seconds: int = 3600,
    client_id: str = "seatline-cli",
    not_before: int | None = None,
) -> str:
    """Sign an access token in the RFC 9068 JWT profile with the signing key."""
    unknown = sorted(set(scopes) - KNOWN_SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; known: {sorted(KNOWN_SCOPES)}")
    if not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise ValueError(f"subject must be 1 to {MAX_SUBJECT_LENGTH} characters")

    now = int(time.time())
    key = keys.token_signing_key
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid}
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now if not_before is None else not_before,
        "exp": now + lifetime_seconds,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM], default_type=None)


def decode_local_token(
    keys: KeyStore, token: str, *, issuer: str, audience: str, leeway_seconds: int
) -> dict[str, Any]:
    """Verify a token signed by a local key; return its claims.

    For the authorization server's own endpoints (introspection, revocation);
    API requests go through `seatline.auth.validation.TokenValidator`.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("bearer token is too long")
    registry = JWTClaimsRegistry(
        leeway=leeway_seconds,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        decoded = jwt.decode(token, keys.token_key_set(), algorithms=[ALGORITHM])
        registry.validate(decoded.claims)
    except (JoseError, ValueError) as error:
        raise InvalidToken(f"invalid token: {error.__class__.__name__}") from None
    return dict(decoded.claims)
