"""Database operations behind the authorization server's hooks.

Codes and refresh tokens are single-use. Each is spent with a conditional
UPDATE (`used_at IS NULL`), so of two concurrent requests with the same value
exactly one wins. A value presented again, then or later, revokes the whole
token family it belongs to (RFC 9700, refresh token rotation).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, Update, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from seatline.booking.services import Services
from seatline.models import (
    AuthorizationCode,
    BuyerAccount,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
)

logger = logging.getLogger(__name__)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def get_client(services: Services, client_id: str) -> OAuthClient | None:
    if not client_id or len(client_id) > 64:
        return None
    async with services.sessions() as session:
        return await session.get(OAuthClient, client_id)


async def get_account(services: Services, subject: str) -> BuyerAccount | None:
    try:
        account_id = uuid.UUID(subject)
    except ValueError:
        return None
    async with services.sessions() as session:
        return await session.get(BuyerAccount, account_id)


async def save_authorization_code(
    services: Services, code: str, **values: object
) -> None:
    lifetime = services.settings.authorization_code_lifetime_seconds
    record = AuthorizationCode(
        code_hash=digest(code),
        expires_at=services.clock.now() + timedelta(seconds=lifetime),
        used_at=None,
        **values,
    )
    async with services.transaction() as session:
        session.add(record)


async def find_authorization_code(
    services: Services, code: str, client_id: str
) -> AuthorizationCode | None:
    """Return the unused, unexpired code issued to the client.

    A code that was exchanged before revokes the tokens issued for it.
    """
    async with services.sessions() as session:
        record = await session.get(AuthorizationCode, digest(code))
    if record is None or record.client_id != client_id:
        return None
    if record.used_at is not None:
        logger.warning(
            "authorization code reused; revoking its tokens",
            extra={"client_id": client_id, "family_id": str(record.family_id)},
        )
        await revoke_family(services, record.family_id)
        return None
    if record.expires_at <= services.clock.now():
        return None
    return record


async def spend_authorization_code(services: Services, code_hash: str) -> bool:
    """Mark the code used; return False when another request used it first."""
    return await _spend(
        services,
        update(AuthorizationCode).where(
            AuthorizationCode.code_hash == code_hash,
            AuthorizationCode.used_at.is_(None),
        ),
    )


async def save_refresh_token(
    services: Services,
    token: str,
    *,
    family_id: uuid.UUID,
    client_id: str,
    subject: str,
    scope: str,
) -> None:
    now = services.clock.now()
    lifetime = timedelta(seconds=services.settings.refresh_token_lifetime_seconds)
    record = RefreshToken(
        token_hash=digest(token),
        family_id=family_id,
        client_id=client_id,
        subject=subject,
        scope=scope,
        issued_at=now,
        expires_at=now + lifetime,
        used_at=None,
        revoked_at=None,
    )
    async with services.transaction() as session:
        session.add(record)


async def find_refresh_token(services: Services, token: str) -> RefreshToken | None:
    """Return the refresh token if it can still be used.

    Presenting one that was already rotated means two parties hold it, so
    the whole family is revoked (the legitimate client signs in again).
    """
    async with services.sessions() as session:
        record = await session.get(RefreshToken, digest(token))
    if record is None or record.revoked_at is not None:
        return None
    if record.used_at is not None:
        logger.warning(
            "refresh token reused; revoking its family",
            extra={"client_id": record.client_id, "family_id": str(record.family_id)},
        )
        await revoke_family(services, record.family_id)
        return None
    if record.expires_at <= services.clock.now():
        return None
    return record


async def load_refresh_token(services: Services, token: str) -> RefreshToken | None:
    """Return the refresh token as stored, for introspection and revocation."""
    async with services.sessions() as session:
        return await session.get(RefreshToken, digest(token))


async def spend_refresh_token(services: Services, token_hash: str) -> bool:
    return await _spend(
        services,
        update(RefreshToken).where(
            RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None)
        ),
    )


async def _spend(services: Services, statement: Update) -> bool:
    async with services.transaction() as session:
        result = await session.execute(statement.values(used_at=services.clock.now()))
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


async def revoke_family(services: Services, family_id: uuid.UUID) -> None:
    statement = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=services.clock.now())
    )
    async with services.transaction() as session:
        await session.execute(statement)


async def revoke_access_token(
    services: Services, jti: str, expires_at: datetime
) -> None:
    values = {"jti": jti, "expires_at": expires_at}
    insert = sqlite_insert if services.settings.is_sqlite else pg_insert
    statement = insert(RevokedAccessToken).values(**values).on_conflict_do_nothing()
    async with services.transaction() as session:
        await session.execute(statement)


async def is_access_token_revoked(services: Services, jti: str) -> bool:
    async with services.sessions() as session:
        found = await session.scalar(
            select(RevokedAccessToken.jti).where(RevokedAccessToken.jti == jti)
        )
    return found is not None


async def unexpired_revocations(services: Services) -> set[str]:
    """Return the jti of every revoked access token that has not expired."""
    statement = select(RevokedAccessToken.jti).where(
        RevokedAccessToken.expires_at >= services.clock.now()
    )
    async with services.sessions() as session:
        return set(await session.scalars(statement))


async def purge_expired_grants(services: Services) -> int:
    """Delete expired codes, refresh tokens and revoked-token entries.

    A refresh token is kept until it expires even after use or revocation,
    so that presenting it again is still recognised as reuse.
    """
    now = services.clock.now()
    deleted = 0
    async with services.transaction() as session:
        for model in (AuthorizationCode, RefreshToken, RevokedAccessToken):
            result = await session.execute(delete(model).where(model.expires_at < now))
            assert isinstance(result, CursorResult)
            deleted += result.rowcount
    return deleted
