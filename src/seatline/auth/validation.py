"""Validate bearer tokens from the local issuer and trusted external ones.

The header and the "iss" claim are read before the signature is checked,
only to choose the key: nothing from an unverified token is trusted until
the signature, the algorithm allow-list and the claims have passed.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key
from joserfc.jwt import JWTClaimsRegistry

from seatline.auth.issuers import ExternalIssuer, IssuerUnavailable, UnknownKey
from seatline.auth.keys import ALGORITHM, KeySource
from seatline.auth.revocations import RevokedTokens
from seatline.auth.tokens import (
    MAX_SUBJECT_LENGTH,
    MAX_TOKEN_LENGTH,
    InvalidToken,
    Principal,
)
from seatline.config import ALLOWED_ALGORITHMS, Settings

logger = logging.getLogger(__name__)

LOCAL_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


class TokenValidator:
    """Check signature, algorithm, issuer, audience, lifetime and subject."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int,
        external: list[ExternalIssuer] | None = None,
        revoked: RevokedTokens | None = None,
    ) -> None:
        self._keys = keys
        self._revoked = revoked
        self._issuer = issuer
        self._local_claims = _claims_registry(issuer, audience, leeway_seconds)
        self._external = {item.config.issuer: item for item in external or []}
        self._external_claims = {
            item.config.issuer: _claims_registry(
                item.config.issuer, item.config.audience, leeway_seconds
            )
            for item in external or []
        }

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        keys: KeySource,
        http: httpx.AsyncClient,
        revoked: RevokedTokens | None = None,
    ) -> TokenValidator:
        external = [
            ExternalIssuer(
                config,
                http,
                cache_seconds=settings.issuer_cache_seconds,
                refetch_interval_seconds=settings.issuer_refetch_interval_seconds,
            )
            for config in settings.trusted_issuers
        ]
        return cls(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
            external=external,
            revoked=revoked,
        )

    async def validate(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("bearer token is too long")
        header, issuer = _peek(token)

        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise InvalidToken(f"invalid bearer token: algorithm {algorithm!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("invalid bearer token: kid is missing")

        if issuer == self._issuer:
            return await self._validate_local(token, header, kid)
        external = self._external.get(issuer) if isinstance(issuer, str) else None
        if external is None:
            raise InvalidToken("invalid bearer token: issuer is not trusted")
        return await self._validate_external(token, external, algorithm, kid)

    async def _validate_local(
        self, token: str, header: dict[str, Any], kid: str
    ) -> Principal:
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"invalid bearer token: algorithm {header['alg']!r}")
        if header.get("typ") not in LOCAL_TOKEN_TYPES:
            raise InvalidToken("invalid bearer token: typ must be at+jwt")
        keys = self._keys.current()
        if kid not in keys.token_kids() and self._keys.reload():
            keys = self._keys.current()
        if kid not in keys.token_kids():
            raise InvalidToken("invalid bearer token: unknown kid")

        claims = _verify(token, keys.token_key_set(), ALGORITHM, self._local_claims)
        if await self._is_revoked(claims.get("jti")):
            raise InvalidToken("invalid bearer token: revoked")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("invalid bearer token: scope must be a string")
        return _principal(claims, scope.split(), prefix="")

    async def _is_revoked(self, jti: object) -> bool:
        if self._revoked is None or not isinstance(jti, str):
            return False
        return await self._revoked.contains(jti)

    async def _validate_external(
        self, token: str, issuer: ExternalIssuer, algorithm: str, kid: str
    ) -> Principal:
        config = issuer.config
        if algorithm not in config.algorithms:
            raise InvalidToken(f"invalid bearer token: algorithm {algorithm!r}")
        try:
            key = await issuer.key(kid)
        except UnknownKey:
            raise InvalidToken("invalid bearer token: unknown kid") from None
        except IssuerUnavailable:
            raise InvalidToken(
                "cannot check the bearer token: its issuer is unreachable"
            ) from None

        claims = _verify(token, key, algorithm, self._external_claims[config.issuer])
        return _principal(
            claims, _scopes(claims.get(config.scope_claim)), config.prefix
        )


def _claims_registry(issuer: str, audience: str, leeway: int) -> JWTClaimsRegistry:
    return JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
    )


def _peek(token: str) -> tuple[dict[str, Any], object]:
    """Return the unverified header and "iss" claim, to choose the key."""
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = orjson.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError):
        raise InvalidToken("invalid bearer token: not a compact JWS") from None
    if not isinstance(claims, dict):
        raise InvalidToken("invalid bearer token: claims are not an object")
    return dict(compact.headers()), claims.get("iss")


def _verify(
    token: str, key: Key | Any, algorithm: str, registry: JWTClaimsRegistry
) -> dict[str, Any]:
    try:
        decoded = jwt.decode(token, key, algorithms=[algorithm])
        registry.validate(decoded.claims)
    except JoseError as error:
        reason = error.description or error.__class__.__name__
        raise InvalidToken(f"invalid bearer token: {reason}") from None
    except ValueError as error:
        raise InvalidToken(
            f"invalid bearer token: {error.__class__.__name__}"
        ) from None
    return dict(decoded.claims)


def _scopes(value: object) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return []


def _principal(claims: dict[str, Any], scopes: list[str], prefix: str) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("invalid bearer token: sub")
    subject = prefix + subject
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise InvalidToken("invalid bearer token: sub is too long")

    client_id = claims.get("client_id", claims.get("azp"))
    expires_at = claims.get("exp")
    return Principal(
        subject=subject,
        scopes=frozenset(scopes),
        client_id=client_id if isinstance(client_id, str) else None,
        expires_at=float(expires_at) if isinstance(expires_at, int | float) else None,
    )
