"""Buyer accounts: registration, Argon2 sign-in and throttled failures."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from seatline.auth.accounts import (
    SignInFailed,
    SignInThrottled,
    authenticate,
    normalize_email,
    register_account,
)
from seatline.booking.errors import InvalidInput, LimitExceeded
from seatline.booking.services import Services
from seatline.ratelimit import RateLimiter

PASSWORD = "correct horse battery"


@pytest.fixture
def throttled(services: Services) -> Services:
    """Services with small sign-in limits and a fresh in-memory limiter."""
    settings = services.settings.model_copy(
        update={
            "signin_account_limit": "2/15minutes",
            "signin_address_limit": "3/15minutes",
            "registration_address_limit": "2/hour",
        }
    )
    return dataclasses.replace(
        services, settings=settings, limiter=RateLimiter("memory://")
    )


def email() -> str:
    return f"buyer-{secrets.token_hex(4)}@example.com"


async def test_register_normalises_email(services: Services) -> None:
    address = email()

    account = await register_account(
        services, f"  {address.upper()} ", PASSWORD, address="a"
    )

    assert account.email == address
    assert account.scopes == ["bookings:write", "events:read", "orders:read"]
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash


async def test_register_same_email_twice(services: Services) -> None:
    address = email()
    await register_account(services, address, PASSWORD, address="a")

    with pytest.raises(InvalidInput) as raised:
        await register_account(services, address.upper(), PASSWORD, address="a")

    assert raised.value.field == "email"


@pytest.mark.parametrize("bad", ["no-at-sign", "a@b", "two words@example.com", "@x.y"])
async def test_register_invalid_email(services: Services, bad: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        await register_account(services, bad, PASSWORD, address="a")

    assert raised.value.field == "email"


async def test_register_short_password(services: Services) -> None:
    with pytest.raises(InvalidInput) as raised:
        await register_account(services, email(), "short", address="a")

    assert raised.value.field == "password"


async def test_registrations_per_address_limited(throttled: Services) -> None:
    await register_account(throttled, email(), PASSWORD, address="10.0.0.1")
    await register_account(throttled, email(), PASSWORD, address="10.0.0.1")

    with pytest.raises(LimitExceeded):
        await register_account(throttled, email(), PASSWORD, address="10.0.0.1")
    await register_account(throttled, email(), PASSWORD, address="10.0.0.2")


async def test_sign_in(services: Services) -> None:
    address = email()
    account = await register_account(services, address, PASSWORD, address="a")

    signed_in = await authenticate(services, address.upper(), PASSWORD, address="a")

    assert signed_in.id == account.id


async def test_sign_in_wrong_password(services: Services) -> None:
    address = email()
    await register_account(services, address, PASSWORD, address="a")

    with pytest.raises(SignInFailed):
        await authenticate(services, address, "wrong password", address="a")


async def test_sign_in_unknown_account(services: Services) -> None:
    with pytest.raises(SignInFailed):
        await authenticate(services, email(), PASSWORD, address="a")


async def test_failures_throttled_per_account(throttled: Services) -> None:
    address = email()
    await register_account(throttled, address, PASSWORD, address="a")
    for client_address in ("b", "c"):
        with pytest.raises(SignInFailed):
            await authenticate(
                throttled, address, "wrong password", address=client_address
            )

    # Even the right password waits: it may be the attacker's next guess.
    with pytest.raises(SignInThrottled) as raised:
        await authenticate(throttled, address, PASSWORD, address="d")

    assert 0 < raised.value.retry_after_seconds <= 15 * 60 + 1


async def test_failures_throttled_per_address(throttled: Services) -> None:
    victim = email()
    await register_account(throttled, victim, PASSWORD, address="a")
    for _ in range(3):
        with pytest.raises(SignInFailed):
            await authenticate(throttled, email(), PASSWORD, address="192.0.2.7")

    with pytest.raises(SignInThrottled):
        await authenticate(throttled, victim, PASSWORD, address="192.0.2.7")
    assert (await authenticate(throttled, victim, PASSWORD, address="192.0.2.8")).email


def test_normalize_email_keeps_one_spelling() -> None:
    assert normalize_email(" Ann@Example.COM ") == "ann@example.com"
