"""Command line: seatline serve | migrate | import-venue | demo | token | keys |
client | account | forecast."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import orjson
import uvicorn

from seatline import db, migrate
from seatline.auth.keys import generate_key_store, load_key_store, write_key_store
from seatline.auth.tokens import KNOWN_SCOPES, mint_token
from seatline.capacity.command import forecast_command
from seatline.config import Environment, Settings
from seatline.observability.logs import configure_logging, log_format_from_environment
from seatline.server import run_server

logger = logging.getLogger("seatline")


def _log_level_name() -> str:
    """Return the root logger's level name, for uvicorn's own loggers."""
    return logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()


def _settings() -> Settings:
    return Settings()


@click.group()
@click.option(
    "--log-level", default="INFO", show_default=True, help="Python log level."
)
def main(log_level: str) -> None:
    """seatline: ticket booking with live seat maps."""
    # Worker processes that uvicorn starts configure logging from this.
    os.environ["SEATLINE_LOG_LEVEL"] = log_level.upper()
    configure_logging(log_level, log_format_from_environment())


@main.command()
@click.option("--host", envvar="SEATLINE_HOST", default="127.0.0.1", show_default=True)
@click.option(
    "--port", envvar="SEATLINE_PORT", default=8000, show_default=True, type=int
)
@click.option(
    "--workers",
    envvar="SEATLINE_WORKERS",
    default=1,
    show_default=True,
    type=int,
    help="Number of worker processes.",
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the API server (uvicorn)."""
    if workers > 1 and _settings().redis_url.startswith("memory://"):
        click.echo(
            "warning: with SEATLINE_REDIS_URL=memory:// each worker sees only its "
            "own seat changes; set a redis:// URL for live updates across workers",
            err=True,
        )
    run_server(host, port, workers, log_level=_log_level_name())


@main.command(name="migrate")
@click.option(
    "--revision",
    default="head",
    show_default=True,
    help="Target revision; an older one (or base) downgrades.",
)
def migrate_command(revision: str) -> None:
    """Apply database migrations up (or down) to REVISION."""
    from alembic.util import CommandError

    settings = _settings()
    try:
        if migrate.is_downgrade(settings.database_url, revision):
            migrate.downgrade(settings.database_url, revision)
            click.echo(f"database downgraded to {revision}")
            return
        migrate.upgrade(settings.database_url, revision)
    except CommandError as error:
        raise click.ClickException(f"migration failed: {error}") from None
    click.echo(f"database migrated to {revision}")


@main.command(name="import-venue")
@click.argument(
    "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--organizer", required=True, help="Subject (sub) of the organizer who owns it."
)
@click.option("--name", default=None, help="Venue name; defaults to the plan's name.")
def import_venue_command(plan_file: Path, organizer: str, name: str | None) -> None:
    """Import a seating plan (pretix JSON format) as a venue."""
    from seatline.venues.plan import PlanInvalid

    try:
        data = orjson.loads(plan_file.read_bytes())
    except orjson.JSONDecodeError as error:
        raise click.ClickException(f"{plan_file} is not valid JSON: {error}") from None
    try:
        venue = asyncio.run(_import_venue(_settings(), data, organizer, name))
    except migrate.NotMigrated as error:
        raise click.ClickException(str(error)) from None
    except PlanInvalid as error:
        for problem in error.errors:
            click.echo(f"{problem.path}: {problem.message}", err=True)
        raise click.ClickException(f"{plan_file} is not a valid seating plan") from None
    click.echo(
        f"imported venue {venue.id} ({venue.name}) with {venue.seat_count} seats"
    )


async def _import_venue(
    settings: Settings, data: Any, organizer: str, name: str | None
) -> Any:
    from seatline.booking.clock import SystemClock
    from seatline.booking.venues import import_venue
    from seatline.venues.plan import parse_plan

    plan = parse_plan(data)
    engine = db.create_engine(settings)
    try:
        await migrate.ensure_migrated(engine)
        async with db.transaction(db.create_sessionmaker(engine)) as session:
            return await import_venue(
                session,
                plan,
                organizer_id=organizer,
                now=SystemClock().now(),
                name=name,
            )
    finally:
        await engine.dispose()


@main.command()
@click.option(
    "--sub", "subject", required=True, help="Token subject (user or client id)."
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="Granted scope; repeat or separate with spaces. "
    f"Known: {' '.join(sorted(KNOWN_SCOPES))}",
)
@click.option(
    "--ttl",
    default=3600,
    show_default=True,
    type=click.IntRange(60, 86400),
    help="Lifetime in seconds, 60 to 86400.",
)
def token(subject: str, scopes: tuple[str, ...], ttl: int) -> None:
    """Mint an access token signed by the local key, for operators and tests.

    It bypasses the authorization server: clients get tokens from
    /oauth/token instead.
    """
    settings = _settings()
    if not settings.key_file.exists():
        click.echo(
            f"note: creating new signing keys in {settings.key_file}; a server that "
            "uses another key file will reject this token",
            err=True,
        )
    keys = load_key_store(
        settings.key_file, create=settings.env is Environment.DEVELOPMENT
    )
    flat = [scope for given in scopes for scope in given.split()]
    try:
        minted = mint_token(
            keys,
            subject=subject,
            scopes=flat,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            lifetime_seconds=ttl,
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    click.echo(minted)


@main.group()
def keys() -> None:
    """Manage the signing keys in SEATLINE_KEY_FILE."""


@keys.command(name="generate")
@click.option("--force", is_flag=True, help="Replace an existing key file.")
def keys_generate(force: bool) -> None:
    """Write a new key file with one token key and one ticket key."""
    settings = _settings()
    if settings.key_file.exists() and not force:
        raise click.ClickException(
            f"{settings.key_file} exists; pass --force to replace it"
        )
    write_key_store(settings.key_file, generate_key_store())
    click.echo(f"wrote {settings.key_file}")


@keys.command(name="rotate")
def keys_rotate() -> None:
    """Sign new tokens with a new key; keep old keys until their tokens expire.

    The old token keys stay published in the JWKS and keep verifying.
    Keys retired longer ago than the access-token lifetime plus the leeway
    are dropped. Running servers pick the new key up within seconds.
    """
    settings = _settings()
    if not settings.key_file.exists():
        raise click.ClickException(
            f"{settings.key_file} not found; run `seatline keys generate` first"
        )
    store = load_key_store(settings.key_file, create=False)
    keep = settings.access_token_lifetime_seconds + settings.jwt_leeway_seconds
    rotated = store.rotate().prune(keep)
    write_key_store(settings.key_file, rotated)
    dropped = len(store.token_keys) + 1 - len(rotated.token_keys)
    click.echo(
        f"new signing key {rotated.token_signing_key.kid}; "
        f"{len(rotated.token_keys) - 1} older key(s) still verify, {dropped} dropped"
    )


@main.group()
def client() -> None:
    """Manage OAuth2 clients."""


@client.command(name="create")
@click.option("--name", required=True, help="Name shown on the sign-in page.")
@click.option(
    "--type",
    "client_type",
    type=click.Choice(["public", "confidential"]),
    required=True,
    help="public: browser or mobile app without a secret; confidential: "
    "a server that keeps a secret.",
)
@click.option(
    "--grant",
    "grants",
    multiple=True,
    required=True,
    type=click.Choice(["authorization_code", "client_credentials", "refresh_token"]),
    help="Allowed grant type; repeat for several.",
)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    help="Exact redirect URI for authorization_code; repeat for several.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="Most a token of this client may carry; repeat or separate with spaces.",
)
def client_create(
    name: str,
    client_type: str,
    grants: tuple[str, ...],
    redirect_uris: tuple[str, ...],
    scopes: tuple[str, ...],
) -> None:
    """Register a client and print its id (and secret, shown only now)."""
    from seatline.auth.clients import ClientRequest
    from seatline.booking.errors import InvalidInput
    from seatline.models import ClientType

    request = ClientRequest(
        name=name,
        client_type=ClientType(client_type),
        grant_types=list(grants),
        redirect_uris=list(redirect_uris),
        scopes=[scope for given in scopes for scope in given.split()],
    )
    try:
        created = asyncio.run(_create_client(_settings(), request))
    except InvalidInput as error:
        raise click.BadParameter(error.message, param_hint=error.field) from None
    except migrate.NotMigrated as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"client_id: {created.client.client_id}")
    if created.secret is not None:
        click.echo(f"client_secret: {created.secret}")
        click.echo("Store the secret now: it is not shown again.", err=True)


async def _create_client(settings: Settings, request: Any) -> Any:
    from seatline.auth.clients import create_client

    async with _services(settings) as services:
        return await create_client(services, request, created_by="cli")


@main.group()
def account() -> None:
    """Manage buyer, organizer and admin accounts."""


@account.command(name="create")
@click.option("--email", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="SEATLINE_ACCOUNT_PASSWORD",
    help="Prompted for when not given (or set SEATLINE_ACCOUNT_PASSWORD).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Scope the account may grant; repeat or separate with spaces. "
    "Default: the buyer scopes.",
)
def account_create(email: str, password: str, scopes: tuple[str, ...]) -> None:
    """Create an account, for example an organizer or an administrator."""
    from seatline.auth.tokens import BUYER_SCOPES
    from seatline.booking.errors import BookingError

    flat = [scope for given in scopes for scope in given.split()]
    chosen = tuple(flat) if flat else tuple(BUYER_SCOPES)
    try:
        created = asyncio.run(_create_account(_settings(), email, password, chosen))
    except BookingError as error:
        raise click.BadParameter(error.message, param_hint=error.field) from None
    except migrate.NotMigrated as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"account {created.subject} ({created.email}): {' '.join(chosen)}")


async def _create_account(
    settings: Settings, email: str, password: str, scopes: tuple[str, ...]
) -> Any:
    from seatline.auth.accounts import register_account

    async with _services(settings) as services:
        return await register_account(
            services, email, password, address="cli", scopes=scopes
        )


@contextlib.asynccontextmanager
async def _services(settings: Settings) -> AsyncIterator[Any]:
    from broadcaster import Broadcast

    from seatline.runtime import build_services

    engine = db.create_engine(settings)
    try:
        await migrate.ensure_migrated(engine)
        keys = load_key_store(
            settings.key_file, create=settings.env is Environment.DEVELOPMENT
        )
        # Memory rate limits: the CLI is an operator tool, not throttled.
        yield build_services(
            settings.model_copy(update={"redis_url": "memory://"}),
            engine,
            Broadcast("memory://"),
            keys,
        )
    finally:
        await engine.dispose()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the demo data and exit.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Create a SQLite demo (venue, on-sale event, OAuth client) and serve it."""
    from seatline.demo import prepare_demo

    settings = _settings()
    if settings.env is not Environment.DEVELOPMENT:
        raise click.ClickException(
            "the demo seeds a client with a printed secret; run it with "
            "SEATLINE_ENV=development only"
        )
    migrate.upgrade(settings.database_url)
    result = asyncio.run(prepare_demo(settings))
    keys = load_key_store(settings.key_file, create=True)
    # A development shortcut: real clients get tokens from /oauth/token.
    minted = mint_token(
        keys,
        subject=result.organizer_id,
        scopes=["bookings:write", "orders:read", "organizer", "events:read"],
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime_seconds=int(timedelta(hours=12).total_seconds()),
    )
    base = f"http://{host}:{port}"
    click.echo(
        f"\nseatline demo: event {result.event_id} "
        f"({result.seat_count} seats) is on sale.\n"
        f"GraphiQL: {base}/graphql\n"
        f"GraphiQL signed in as the organizer: {base}/graphql#token={minted}\n"
        "Or paste this into GraphiQL's headers tab:\n"
        f'{{"Authorization": "Bearer {minted}"}}\n'
        "\nOAuth2 client credentials of the demo client (development only; "
        "a new secret on every run):\n"
        f"curl -s -u {result.client_id}:{result.client_secret} "
        f"-d grant_type=client_credentials {base}/oauth/token\n"
    )
    sys.stdout.flush()
    if no_serve:
        return
    uvicorn.run(
        "seatline.app:create_app", factory=True, host=host, port=port, log_level="info"
    )


main.add_command(forecast_command)

if __name__ == "__main__":
    main()
