"""OAuth2 client registration: validation, ids and hashed secrets."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from seatline.auth.tokens import KNOWN_SCOPES
from seatline.booking.errors import InvalidInput
from seatline.booking.services import Services
from seatline.models import ClientType, OAuthClient

logger = logging.getLogger(__name__)

# No implicit and no password grant (OAuth 2.0 Security BCP, RFC 9700).
GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")
MAX_REDIRECT_URIS = 10


@dataclass(frozen=True)
class ClientRequest:
    name: str
    client_type: ClientType
    grant_types: list[str]
    redirect_uris: list[str]
    scopes: list[str]


@dataclass(frozen=True)
class CreatedClient:
    client: OAuthClient
    # Shown once at creation; only its hash is stored.
    secret: str | None


def hash_secret(secret: str) -> str:
    # Client secrets are 256-bit random values, so a fast hash is enough;
    # Argon2 is for passwords that people choose.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(client: OAuthClient, secret: str) -> bool:
    if client.secret_hash is None:
        return False
    return hmac.compare_digest(client.secret_hash, hash_secret(secret))


def validate_client_request(request: ClientRequest) -> None:
    """Raise InvalidInput for the first field that is wrong."""
    if not 1 <= len(request.name.strip()) <= 200:
        raise InvalidInput("the name must have 1 to 200 characters", field="name")
    grants = set(request.grant_types)
    if not grants or not grants <= set(GRANT_TYPES):
        raise InvalidInput(
            f"grant types must be a non-empty subset of {list(GRANT_TYPES)}",
            field="grantTypes",
        )
    if request.client_type is ClientType.PUBLIC and "client_credentials" in grants:
        raise InvalidInput(
            "a public client has no secret, so it cannot use client_credentials",
            field="grantTypes",
        )
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise InvalidInput(
            "refresh_token needs authorization_code: client credentials "
            "get no refresh tokens",
            field="grantTypes",
        )
    if "authorization_code" in grants and not request.redirect_uris:
        raise InvalidInput(
            "authorization_code needs at least one redirect URI",
            field="redirectUris",
        )
    if len(request.redirect_uris) > MAX_REDIRECT_URIS:
        raise InvalidInput(
            f"at most {MAX_REDIRECT_URIS} redirect URIs", field="redirectUris"
        )
    for uri in request.redirect_uris:
        _check_redirect_uri(uri)
    unknown = sorted(set(request.scopes) - KNOWN_SCOPES)
    if unknown or not request.scopes:
        raise InvalidInput(
            f"scopes must be a non-empty subset of {sorted(KNOWN_SCOPES)}",
            field="scopes",
        )


def _check_redirect_uri(uri: str) -> None:
    """Accept https URIs, and http only on loopback (RFC 8252 native apps)."""
    parts = urlsplit(uri)
    problem = None
    if len(uri) > 2000:
        problem = "is longer than 2000 characters"
    elif parts.fragment or "#" in uri:
        problem = "has a fragment"
    elif not parts.hostname:
        problem = "is not an absolute URI"
    elif parts.scheme == "http" and not _is_loopback(parts.hostname):
        problem = "uses http on a host other than loopback"
    elif parts.scheme not in ("https", "http"):
        problem = "must use https"
    if problem is not None:
        raise InvalidInput(f"redirect URI {uri!r} {problem}", field="redirectUris")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def create_client(
    services: Services, request: ClientRequest, *, created_by: str
) -> CreatedClient:
    validate_client_request(request)
    secret = None
    if request.client_type is ClientType.CONFIDENTIAL:
        secret = secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=f"sl-{secrets.token_urlsafe(12)}",
        name=request.name.strip(),
        client_type=request.client_type,
        secret_hash=None if secret is None else hash_secret(secret),
        grant_types=sorted(set(request.grant_types)),
        redirect_uris=list(dict.fromkeys(request.redirect_uris)),
        scopes=sorted(set(request.scopes)),
        created_by=created_by,
        created_at=services.clock.now(),
    )
    async with services.transaction() as session:
        session.add(client)
    logger.info(
        "created OAuth client",
        extra={"client_id": client.client_id, "created_by": created_by},
    )
    return CreatedClient(client, secret)
