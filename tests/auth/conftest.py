"""Fixtures for the OAuth2 tests: one database per backend for a module."""

from __future__ import annotations

import pytest

from tests.conftest import DatabaseUnderTest


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def oauth_database(request: pytest.FixtureRequest) -> DatabaseUnderTest:
    """The shared test database of one backend, for module-scoped servers."""
    database: DatabaseUnderTest = request.getfixturevalue(f"{request.param}_database")
    return database
