"""Shared fixtures: migrated databases on SQLite and PostgreSQL, services, apps.

PostgreSQL and Redis come from SEATLINE_TEST_POSTGRES_URL and
SEATLINE_TEST_REDIS_URL (defaults: the local servers). Tests that need one
skip when it is unreachable, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from broadcaster import Broadcast
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from seatline import db, migrate
from seatline.app import create_app
from seatline.auth.keys import KeyStore, generate_key_store, write_key_store
from seatline.auth.tokens import mint_token
from seatline.booking.clock import ManualClock
from seatline.booking.events import EventDraft, change_event_status, create_event
from seatline.booking.payments import SandboxProvider
from seatline.booking.services import Services
from seatline.booking.venue_import import import_plan
from seatline.config import Settings
from seatline.models import Event, EventStatus, Venue
from seatline.runtime import build_services
from seatline.venues.generate import theatre
from tests.live import UNLIMITED_RATES

POSTGRES_URL = os.environ.get(
    "SEATLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SEATLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI") == "true"
# Real seating plans used as test input; they may not be copied into this
# repository, so they are read from beside the checkout by default.
SEATING_PLANS_DIR = Path(
    os.environ.get(
        "SEATLINE_TEST_SEATING_PLANS",
        Path(__file__).resolve().parents[2] / "shared/data/seating-plans",
    )
)
ISSUER = "seatline-test"
AUDIENCE = "seatline-api"


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI: CI must run every test."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires it)", pytrace=False)
    pytest.skip(reason)


async def _postgres_reachable() -> str | None:
    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}"
    await connection.close()
    return None


@pytest.fixture(scope="session")
async def postgres_admin_url() -> str:
    problem = await _postgres_reachable()
    if problem:
        unavailable(problem)
    return POSTGRES_URL


@pytest.fixture(scope="session")
async def redis_url() -> str:
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as error:
        unavailable(f"Redis at {REDIS_URL} is unreachable: {error}")
    finally:
        await client.aclose()
    return REDIS_URL


def _asyncpg_url(url: str, database: str) -> str:
    base = url.rsplit("/", 1)[0]
    return f"{base}/{database}".replace("postgresql://", "postgresql+asyncpg://", 1)


@dataclass
class DatabaseUnderTest:
    backend: str
    url: str
    engine: AsyncEngine


async def create_postgres_database(admin_url: str) -> tuple[str, str]:
    """Create an empty database; return its name and SQLAlchemy URL."""
    name = f"seatline_test_{os.getpid()}_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name, _asyncpg_url(admin_url, name)


async def drop_postgres_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def sqlite_database(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[DatabaseUnderTest]:
    path = tmp_path_factory.mktemp("sqlite") / "seatline.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = db.create_engine(Settings(database_url=url))
    yield DatabaseUnderTest("sqlite", url, engine)
    await engine.dispose()


@pytest.fixture(scope="session")
async def postgres_database(
    postgres_admin_url: str,
) -> AsyncIterator[DatabaseUnderTest]:
    name, url = await create_postgres_database(postgres_admin_url)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        engine = db.create_engine(Settings(database_url=url, db_pool_size=20))
        yield DatabaseUnderTest("postgres", url, engine)
        await engine.dispose()
    finally:
        await drop_postgres_database(postgres_admin_url, name)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> DatabaseUnderTest:
    fixture_name = f"{request.param}_database"
    result: DatabaseUnderTest = request.getfixturevalue(fixture_name)
    return result


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return generate_key_store()


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory, keys: KeyStore) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    write_key_store(path, keys)
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def payments() -> SandboxProvider:
    return SandboxProvider()


def settings_for(
    test_db: DatabaseUnderTest, key_file: Path, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": test_db.url,
        "key_file": key_file,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "db_pool_size": 20,
        **UNLIMITED_RATES,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def services(
    database: DatabaseUnderTest,
    keys: KeyStore,
    key_file: Path,
    clock: ManualClock,
    payments: SandboxProvider,
) -> AsyncIterator[Services]:
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    built = build_services(
        settings_for(database, key_file),
        database.engine,
        broadcast,
        keys,
        clock=clock,
        payments=payments,
    )
    yield built
    await broadcast.disconnect()


@pytest.fixture
def sessions(services: Services) -> Any:
    return services.sessions


@dataclass
class EventFixture:
    event: Event
    venue: Venue
    organizer_id: str

    @property
    def id(self) -> str:
        return str(self.event.id)


async def make_event(
    services: Services,
    *,
    rows: int = 6,
    seats_per_row: int = 12,
    status: EventStatus = EventStatus.ON_SALE,
    plan: dict[str, Any] | None = None,
    **draft_overrides: Any,
) -> EventFixture:
    """A small generated theatre and an event on it, on sale by default."""
    organizer = f"organizer-{secrets.token_hex(4)}"
    if plan is None:
        plan = theatre(rows=rows, seats_per_row=seats_per_row)
    venue = await import_plan(services, plan, organizer_id=organizer)
    now = services.clock.now()
    categories = [name for name, _ in venue.layout["categories"]]
    values: dict[str, Any] = {
        "venue_id": venue.id,
        "name": "Test concert",
        "starts_at": now + timedelta(days=10),
        "time_zone": "Europe/Vienna",
        "sale_starts_at": now - timedelta(hours=1),
        "sale_ends_at": now + timedelta(days=9),
        "currency": "EUR",
        "prices": {name: 1000 * (index + 1) for index, name in enumerate(categories)},
        "hold_duration_seconds": 300,
        "max_seats_per_order": 6,
        "max_seats_per_buyer": 10,
    }
    values.update(draft_overrides)
    event = await create_event(services, EventDraft(**values), organizer_id=organizer)
    steps = [] if status is EventStatus.DRAFT else [EventStatus.ON_SALE, status]
    for step in steps:
        event = await change_event_status(
            services, event.id, step, organizer_id=organizer
        )
    return EventFixture(event, venue, organizer)


@pytest.fixture
async def on_sale(services: Services) -> EventFixture:
    return await make_event(services)


def seat_ids(fixture: EventFixture) -> list[str]:
    """Public seat ids of the fixture's venue, in layout order."""
    return [
        seat[0]
        for section in fixture.venue.layout["sections"]
        for row in section["rows"]
        for seat in row["seats"]
    ]


class ApiClient:
    """An HTTP GraphQL client for the app under test."""

    def __init__(self, client: httpx.AsyncClient, keys: KeyStore) -> None:
        self.client = client
        self.keys = keys

    def token(self, subject: str, *scopes: str) -> str:
        return mint_token(
            self.keys,
            subject=subject,
            scopes=list(scopes),
            issuer=ISSUER,
            audience=AUDIENCE,
        )

    async def post(self, body: Any, *, token: str | None = None) -> httpx.Response:
        """Post any JSON body to /graphql and return the raw response."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return await self.client.post("/graphql", json=body, headers=headers)

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        expect_status: int = 200,
    ) -> dict[str, Any]:
        response = await self.post(
            {"query": query, "variables": variables or {}}, token=token
        )
        assert response.status_code == expect_status, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def api(
    database: DatabaseUnderTest,
    services: Services,
    keys: KeyStore,
    key_file: Path,
) -> AsyncIterator[ApiClient]:
    app = create_app(
        settings_for(database, key_file),
        clock=services.clock,
        payments=services.payments,
        run_background_tasks=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://seatline.test"
        ) as client:
            yield ApiClient(client, keys)
    await app.state.engine.dispose()


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    return "asyncio"


@asynccontextmanager
async def app_with_settings(
    database: DatabaseUnderTest,
    key_file: Path,
    keys: KeyStore,
    services: Services,
    **overrides: Any,
) -> AsyncIterator[tuple[ApiClient, Callable[[], int]]]:
    """An app with `overrides` in its settings, and its SQL statement count."""
    app = create_app(
        settings_for(database, key_file, **overrides),
        clock=services.clock,
        payments=services.payments,
        run_background_tasks=False,
    )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    async with app.router.lifespan_context(app):
        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://seatline.test"
        ) as client:
            statements.clear()
            yield ApiClient(client, keys), lambda: len(statements)
    await app.state.engine.dispose()


@pytest.fixture
def api_with(
    database: DatabaseUnderTest, key_file: Path, keys: KeyStore, services: Services
) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        return app_with_settings(database, key_file, keys, services, **overrides)

    return make
