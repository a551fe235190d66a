"""Database engine and transactions for PostgreSQL (asyncpg) and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from seatline.config import Settings


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    """Create the engine for `settings.database_url`.

    `pool_size` replaces the configured pool, with no overflow, for a
    background task that must not compete with requests for connections.
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(settings.database_url)

    return create_async_engine(
        url,
        pool_size=settings.db_pool_size if pool_size is None else pool_size,
        max_overflow=settings.db_max_overflow if pool_size is None else 0,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=True,
        # A lock wait that outlives the timeout raises instead of piling up
        # buyers behind one hot row; services map it to a BUSY error.
        connect_args={
            "server_settings": {
                "lock_timeout": str(settings.db_lock_timeout_ms),
                "application_name": "seatline",
            }
        },
    )


def _create_sqlite_engine(database_url: str) -> AsyncEngine:
    engine = create_async_engine(database_url, connect_args={"timeout": 30})

    # pysqlite's own transaction handling defers BEGIN and upgrades read
    # locks to write locks late, which deadlocks concurrent writers. Emit
    # BEGIN IMMEDIATE ourselves so every transaction takes the write lock
    # up front and writers queue instead of failing.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: services return ORM objects after commit, and
    # reloading them lazily would need I/O that async sessions forbid.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Open a session, begin a transaction, commit on success."""
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Run a trivial query; raises if the database is unreachable."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
