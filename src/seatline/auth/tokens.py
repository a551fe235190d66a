"""Access tokens: JWTs minted for local use and validated on every request."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum

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
    ADMIN = "admin"


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
) -> str:
    """Sign an access token in the RFC 9068 JWT profile."""
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
        "nbf": now,
        "exp": now + lifetime_seconds,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM], default_type=None)


class TokenValidator:
    """Validate bearer tokens signed by keys in the local key store."""

    def __init__(
        self, keys: KeyStore, *, issuer: str, audience: str, leeway_seconds: int
    ) -> None:
        self._keys = keys
        self._claims = JWTClaimsRegistry(
            leeway=leeway_seconds,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
        )

    def validate(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("bearer token is too long")

        try:
            decoded = jwt.decode(
                token, self._keys.token_key_set(), algorithms=[ALGORITHM]
            )
            self._claims.validate(decoded.claims)
        except (JoseError, ValueError) as error:
            raise InvalidToken(
                f"invalid bearer token: {error.__class__.__name__}"
            ) from None

        if not decoded.header.get("kid"):
            raise InvalidToken("invalid bearer token: kid is missing")
        if decoded.header.get("typ") not in ("at+jwt", "application/at+jwt"):
            raise InvalidToken("invalid bearer token: typ must be at+jwt")
        return _principal(decoded.claims)


def _principal(claims: dict[str, object]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise InvalidToken("invalid bearer token: sub")

    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidToken("invalid bearer token: scope must be a string")

    client_id = claims.get("client_id")
    expires_at = claims.get("exp")
    return Principal(
        subject=subject,
        scopes=frozenset(scope.split()),
        client_id=client_id if isinstance(client_id, str) else None,
        expires_at=float(expires_at) if isinstance(expires_at, int | float) else None,
    )
