"""Buyer accounts: registration and password sign-in, throttled.

Passwords are hashed with Argon2id (argon2-cffi's default RFC 9106 low-memory
profile), in a worker thread, because one hash costs tens of milliseconds of
CPU and must not stall the event loop.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from seatline.auth.tokens import BUYER_SCOPES, KNOWN_SCOPES
from seatline.booking.errors import InvalidInput, LimitExceeded
from seatline.booking.services import Services
from seatline.models import BuyerAccount

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MAX_EMAIL_LENGTH = 254

_hasher = PasswordHasher()
# Verified when no account has the email, so a sign-in for an unknown
# address costs as much time as one for a known address.
_UNKNOWN_ACCOUNT_HASH = _hasher.hash("no account has this password")


class SignInFailed(Exception):
    """Wrong email or password; the message does not say which."""


@dataclass(frozen=True)
class SignInThrottled(Exception):
    """Too many failed sign-ins for the account or the client address."""

    retry_after_seconds: int


def normalize_email(email: str) -> str:
    """Return the email trimmed, NFKC-normalised and lower-cased, or raise."""
    normalized = unicodedata.normalize("NFKC", email).strip().lower()
    local, at, domain = normalized.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or any(character.isspace() for character in normalized)
        or len(normalized) > MAX_EMAIL_LENGTH
    ):
        raise InvalidInput(
            f"invalid email address; expected name@domain, at most "
            f"{MAX_EMAIL_LENGTH} characters",
            field="email",
        )
    return normalized


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password must have {MIN_PASSWORD_LENGTH} to "
            f"{MAX_PASSWORD_LENGTH} characters",
            field="password",
        )


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def register_account(
    services: Services,
    email: str,
    password: str,
    *,
    address: str,
    scopes: tuple[str, ...] = tuple(BUYER_SCOPES),
) -> BuyerAccount:
    """Create an account; one address may register a limited number per hour."""
    normalized = normalize_email(email)
    check_password(password)
    unknown = sorted(set(scopes) - KNOWN_SCOPES)
    if unknown:
        raise InvalidInput(f"unknown scopes {unknown}", field="scopes")

    limit = services.settings.registration_address_limit
    if not await services.limiter.hit(limit, "register", address):
        raise LimitExceeded(
            "too many registrations from this address; try again later",
            limit=0,
            field=None,
        )

    account = BuyerAccount(
        email=normalized,
        password_hash=await hash_password(password),
        scopes=sorted(set(scopes)),
        created_at=services.clock.now(),
    )
    try:
        async with services.transaction() as session:
            session.add(account)
    except IntegrityError:
        raise InvalidInput(
            "an account with this email exists; sign in instead", field="email"
        ) from None
    logger.info("registered buyer account", extra={"account_id": account.subject})
    return account


async def authenticate(
    services: Services, email: str, password: str, *, address: str
) -> BuyerAccount:
    """Check the email and password; throttle failures per account and address."""
    settings = services.settings
    limiter = services.limiter
    normalized = unicodedata.normalize("NFKC", email).strip().lower()
    counters = [
        (settings.signin_account_limit, "signin-account", normalized),
        (settings.signin_address_limit, "signin-address", address),
    ]
    for limit, *key in counters:
        if not await limiter.allows(limit, *key):
            logger.warning("sign-in throttled", extra={"counter": key[0]})
            raise SignInThrottled(await limiter.retry_after(limit, *key))

    async with services.sessions() as session:
        account = await session.scalar(
            select(BuyerAccount).where(BuyerAccount.email == normalized)
        )
    stored = _UNKNOWN_ACCOUNT_HASH if account is None else account.password_hash
    verified = await anyio.to_thread.run_sync(_verify, stored, password)
    if account is None or not verified:
        for limit, *key in counters:
            await limiter.hit(limit, *key)
        raise SignInFailed("wrong email or password")

    if _hasher.check_needs_rehash(account.password_hash):
        await _rehash(services, account, password)
    return account


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def _rehash(services: Services, account: BuyerAccount, password: str) -> None:
    """Store the hash again with the current Argon2 parameters."""
    new_hash = await hash_password(password)
    async with services.transaction() as session:
        stored = await session.get(BuyerAccount, account.id)
        if stored is not None:
            stored.password_hash = new_hash
