"""Settings read from SEATLINE_* environment variables, with safe defaults."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Runtime configuration; every field maps to SEATLINE_<FIELD_NAME>."""

    model_config = SettingsConfigDict(env_prefix="SEATLINE_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    # Python log level for seatline's own loggers in server processes.
    log_level: str = "INFO"
    # "json" (one object per line) or "text"; unset means json in
    # production and text in development.
    log_format: Literal["json", "text"] | None = None
    database_url: str = "sqlite+aiosqlite:///seatline.db"
    # memory:// keeps seat-change events inside one process; use redis://
    # as soon as more than one API process runs.
    redis_url: str = "memory://"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # How long a request waits for a free connection before it fails with
    # BUSY, in seconds.
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # A lock wait longer than this ends the transaction with a BUSY error
    # instead of queueing buyers behind a hot row.
    db_lock_timeout_ms: int = Field(default=3000, ge=100, le=60000)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # On SIGTERM, /readyz fails for this many seconds while requests are still
    # served, so that load balancers stop routing here; then websockets are
    # closed with code 1012 and the server stops accepting connections.
    shutdown_drain_seconds: float = Field(default=0.0, ge=0, le=300)
    # In-flight requests get this long after draining before they are
    # cancelled, in seconds.
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # How often each process checks the database and Redis for the
    # seatline_dependency_up metric, in seconds.
    dependency_check_interval_seconds: float = Field(default=15.0, gt=0, le=3600)

    key_file: Path = Path(".seatline/keys.json")
    jwt_issuer: str = "seatline-local"
    jwt_audience: str = "seatline-api"
    # Accepted difference between our clock and a token issuer's, in seconds.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)

    sweeper_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    sweeper_batch_size: int = Field(default=200, ge=1, le=10000)
    # A hold can be extended, but never past this many seconds after creation.
    hold_max_lifetime_seconds: int = Field(default=1800, ge=60, le=86400)
    # An order awaiting payment keeps its seats this long after checkout.
    payment_window_seconds: int = Field(default=600, ge=60, le=86400)
    idempotency_key_ttl_hours: int = Field(default=24, ge=1, le=720)

    max_page_size: int = Field(default=100, ge=1, le=1000)

    # Live seat maps. Changes to one event within this window go out as one
    # delta, in seconds.
    live_batch_window_seconds: float = Field(default=0.05, ge=0, le=5)
    # An idle stream gets a heartbeat with the event's version this often.
    live_heartbeat_seconds: float = Field(default=5.0, gt=0, le=300)
    # A subscriber with more pending seat changes than this gets a snapshot
    # instead, so a stalled client costs bounded memory.
    live_max_pending_changes: int = Field(default=2000, ge=10, le=1_000_000)
    # Accept the legacy graphql-ws (subscriptions-transport-ws) protocol too.
    live_legacy_protocol: bool = False
    live_max_sockets_per_principal: int = Field(default=10, ge=1, le=10_000)
    live_max_operations_per_socket: int = Field(default=20, ge=1, le=1000)

    # Waiting rooms keep their queues here; unset means redis_url. With
    # memory:// they live in this process only.
    waiting_room_redis_url: str | None = None
    # Prefix of every waiting-room key in Redis, so that deployments (and
    # test runs) can share one server.
    waiting_room_key_prefix: str = "seatline:"
    # How often a waitingRoomUpdates subscription reads its buyer's place,
    # in seconds.
    waiting_room_poll_seconds: float = Field(default=2.0, ge=0.05, le=60)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
