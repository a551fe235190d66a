"""Settings read from SEATLINE_* environment variables, with safe defaults."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from limits import parse
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Signature algorithms accepted on access tokens. Symmetric (HS*) and "none"
# are never accepted: a verifier that holds only public keys cannot tell an
# HMAC forged with a public key from a real one.
ALLOWED_ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class TrustedIssuer(BaseModel):
    """An external OpenID Connect issuer whose access tokens are accepted."""

    # The exact "iss" value; discovery is read from
    # <issuer>/.well-known/openid-configuration.
    issuer: str = Field(min_length=1, max_length=500)
    audience: str = Field(min_length=1, max_length=500)
    # Claim that carries the granted scopes, as a space-separated string or a
    # list ("scope" for Keycloak and Auth0, "scp" for Entra ID).
    scope_claim: str = "scope"
    # Prepended to "sub", so a subject of this issuer can never own what a
    # local buyer or another issuer's subject owns. Defaults to "<issuer>|".
    subject_prefix: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])

    @field_validator("algorithms")
    @classmethod
    def _only_asymmetric(cls, value: list[str]) -> list[str]:
        rejected = sorted(set(value) - set(ALLOWED_ALGORITHMS))
        if rejected:
            raise ValueError(
                f"algorithms {rejected} are not allowed; use {list(ALLOWED_ALGORITHMS)}"
            )
        return value

    @property
    def prefix(self) -> str:
        return f"{self.issuer}|" if self.subject_prefix is None else self.subject_prefix


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
    # Lifetime of access tokens issued by the built-in authorization server.
    access_token_lifetime_seconds: int = Field(default=600, ge=60, le=86400)
    refresh_token_lifetime_seconds: int = Field(
        default=30 * 86400, ge=3600, le=365 * 86400
    )
    authorization_code_lifetime_seconds: int = Field(default=120, ge=10, le=600)
    # Each process reloads the list of revoked access tokens at most this
    # often, so a revocation through another process applies within it.
    revocation_reload_seconds: float = Field(default=5.0, gt=0, le=300)
    # Base URL that browsers and clients use to reach this server, such as
    # https://tickets.example.com; endpoint URLs in the server metadata are
    # built from it. Unset, they are built from each request's own URL.
    public_url: str | None = None
    # External OpenID Connect issuers, as a JSON list of objects with
    # issuer, audience and optionally scope_claim, subject_prefix, algorithms.
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)
    # Discovery documents and JWKS of trusted issuers are cached this long.
    issuer_cache_seconds: float = Field(default=300, ge=1, le=86400)
    # A token with an unknown kid refetches the issuer's JWKS at most this
    # often, so a flood of made-up kids cannot flood the issuer.
    issuer_refetch_interval_seconds: float = Field(default=30, ge=0, le=3600)
    issuer_fetch_timeout_seconds: float = Field(default=5, gt=0, le=60)
    # Without a token, events and seat maps are public. Set to false to
    # require the events:read scope for them.
    public_event_reads: bool = True

    # Failed sign-ins allowed per account and per client address, and
    # registrations per address, in the `limits` notation ("5/15minutes").
    signin_account_limit: str = "5/15minutes"
    signin_address_limit: str = "30/15minutes"
    registration_address_limit: str = "20/hour"
    # Prefix of rate-limit keys in Redis, so deployments can share one.
    rate_limit_prefix: str = "seatline"

    sweeper_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    sweeper_batch_size: int = Field(default=200, ge=1, le=10000)
    # A hold can be extended, but never past this many seconds after creation.
    hold_max_lifetime_seconds: int = Field(default=1800, ge=60, le=86400)
    # An order awaiting payment keeps its seats this long after checkout.
    payment_window_seconds: int = Field(default=600, ge=60, le=86400)
    idempotency_key_ttl_hours: int = Field(default=24, ge=1, le=720)

    max_page_size: int = Field(default=100, ge=1, le=1000)

    # Limits on GraphQL documents, checked before execution.
    graphql_max_depth: int = Field(default=12, ge=2, le=100)
    graphql_max_aliases: int = Field(default=20, ge=0, le=1000)
    graphql_max_operations: int = Field(default=5, ge=1, le=100)
    graphql_max_tokens: int = Field(default=2000, ge=100, le=100_000)
    # Cost: 1 per field, multiplied by list sizes (see schema/limits.py).
    graphql_max_cost_anonymous: int = Field(default=2000, ge=10, le=10_000_000)
    graphql_max_cost_authenticated: int = Field(default=5000, ge=10, le=10_000_000)
    # JSON objects: a larger maximum cost per scope, such as
    # {"partner:stream": 20000}, and weights of "Type.field" over the
    # defaults in schema/limits.py, such as {"Event.seatMap": 80}.
    graphql_max_cost_by_scope: dict[str, int] = Field(default_factory=dict)
    graphql_field_weights: dict[str, int] = Field(default_factory=dict)
    # Persisted queries: a JSON file of registered operations (hash ->
    # document), how many automatic ones each process keeps, and whether
    # callers without a token may run registered operations only.
    persisted_queries_file: Path | None = None
    automatic_persisted_queries: int = Field(default=1000, ge=0, le=100_000)
    anonymous_registered_only: bool = False
    # Rate limits in the `limits` notation ("600/minute"). Every operation
    # counts against its address, subject and client; holdSeats, checkout
    # and payOrder also against the booking limits.
    rate_limits_enabled: bool = True
    rate_limit_per_address: str = "600/minute"
    rate_limit_per_subject: str = "300/minute"
    rate_limit_per_client: str = "6000/minute"
    rate_limit_bookings_per_subject: str = "30/minute"
    rate_limit_bookings_per_address: str = "300/minute"
    # Request bodies; organizers and admins import seating plans of a few MB.
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    max_body_bytes_organizer: int = Field(default=16 << 20, ge=1024, le=1 << 30)

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
    live_max_sockets_per_address: int = Field(default=200, ge=1, le=1_000_000)
    # New websockets per second and process; more are turned away with 429.
    live_max_new_sockets_per_second: float = Field(default=200, gt=0, le=100_000)
    live_max_operations_per_socket: int = Field(default=20, ge=1, le=1000)

    @field_validator(
        "signin_account_limit", "signin_address_limit", "registration_address_limit"
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse(value)
        return value

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
