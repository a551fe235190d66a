"""Run Alembic migrations programmatically."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at `database_url` to `revision`.

    Blocking: it runs its own event loop, so call it outside one.
    """
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


class NotMigrated(RuntimeError):
    """The database schema is not at the head revision."""


async def ensure_migrated(engine: AsyncEngine) -> None:
    """Raise `NotMigrated` with the fix unless the schema is current."""
    current = await current_revision(engine)
    head = head_revision()
    if current != head:
        raise NotMigrated(
            f"the database is at revision {current or 'none (empty)'} but seatline "
            f"needs {head}; run `seatline migrate` first"
        )


def is_downgrade(database_url: str, revision: str) -> bool:
    """True when `revision` lies below the database's current revision."""
    if revision == "base" or revision.startswith("-"):
        return True
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    target = script.get_revision(revision)
    if target is None:
        return False
    current = _current_revision_sync(database_url)
    if current is None or current == target.revision:
        return False
    return any(
        item.revision == target.revision
        for item in script.walk_revisions("base", current)
    )


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def _current_revision_sync(database_url: str) -> str | None:
    import asyncio

    from seatline.config import Settings
    from seatline.db import create_engine

    async def read() -> str | None:
        engine = create_engine(Settings(database_url=database_url))
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())
