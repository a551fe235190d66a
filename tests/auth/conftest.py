"""Fixtures for the OAuth2 tests: one database per backend for a module."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from seatline.auth import accounts
from tests.conftest import DatabaseUnderTest

# Argon2id with the smallest cost argon2-cffi accepts: the tests check what is
# hashed and when, not how expensive a hash is. A server subprocess verifies
# these hashes cheaply too, because the cost is part of each hash.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def oauth_database(request: pytest.FixtureRequest) -> DatabaseUnderTest:
    """The shared test database of one backend, for module-scoped servers."""
    database: DatabaseUnderTest = request.getfixturevalue(f"{request.param}_database")
    return database


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "_hasher", FAST_HASHER)
    monkeypatch.setattr(
        accounts, "_UNKNOWN_ACCOUNT_HASH", FAST_HASHER.hash("no such account")
    )
