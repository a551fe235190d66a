"""The `seatline` command line, run as a real subprocess on a SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from seatline.auth.keys import KeySource, load_key_store
from seatline.auth.tokens import Principal
from seatline.auth.validation import TokenValidator
from seatline.migrate import head_revision
from seatline.venues.generate import theatre
from tests.live import free_port

COMMAND_TIMEOUT_SECONDS = 120
SERVER_START_TIMEOUT_SECONDS = 30
# The CLI's defaults, from seatline.config.Settings.
DEFAULT_ISSUER = "seatline-local"
DEFAULT_AUDIENCE = "seatline-api"
JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
# theatre(rows=4, seats_per_row=10): 40 stalls seats and 2 circle rows of 14.
SMALL_PLAN_SEATS = 68

EVENTS = "{ events { edges { node { id name status } } } }"


@dataclass
class Cli:
    """A `seatline` runner with its own SQLite database and key file."""

    directory: Path
    database: Path
    key_file: Path

    @property
    def env(self) -> dict[str, str]:
        # Settings from the caller's environment must not leak in.
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("SEATLINE_")
        }
        return {
            **inherited,
            "SEATLINE_DATABASE_URL": f"sqlite+aiosqlite:///{self.database}",
            "SEATLINE_KEY_FILE": str(self.key_file),
        }

    def command(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "seatline.cli", *arguments]

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*arguments),
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )

    def query(self, sql: str, *parameters: object) -> list[tuple[object, ...]]:
        connection = sqlite3.connect(self.database)
        try:
            return connection.execute(sql, parameters).fetchall()
        finally:
            connection.close()

    def validate(self, token: str) -> Principal:
        keys = load_key_store(self.key_file, create=False)
        validator = TokenValidator(
            KeySource(self.key_file, keys),
            issuer=DEFAULT_ISSUER,
            audience=DEFAULT_AUDIENCE,
            leeway_seconds=0,
        )
        return asyncio.run(validator.validate(token))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path, tmp_path / "seatline.db", tmp_path / "keys" / "keys.json")


@pytest.fixture
def migrated(cli: Cli) -> Cli:
    result = cli.run("migrate")
    assert result.returncode == 0, result.stderr
    return cli


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def write_plan(directory: Path, plan: object, name: str = "plan.json") -> Path:
    path = directory / name
    path.write_bytes(orjson.dumps(plan))
    return path


def demo_output(stdout: str) -> tuple[str, str, str]:
    """Parse the event id, GraphiQL URL and token from `seatline demo` output."""
    event = re.search(r"event ([0-9a-f-]{36}) \((\d+) seats\) is on sale", stdout)
    url = re.search(r"GraphiQL: (\S+)", stdout)
    token = re.search(r'"Authorization": "Bearer ([^"]+)"', stdout)
    assert event, stdout
    assert url, stdout
    assert token, stdout
    return event.group(1), url.group(1), token.group(1)


# migrate


def test_cli_migrate_to_head(cli: Cli) -> None:
    first = succeeded(cli.run("migrate"))
    again = succeeded(cli.run("migrate"))

    assert first.strip() == "database migrated to head"
    assert again.strip() == "database migrated to head"
    assert cli.query("SELECT version_num FROM alembic_version") == [(head_revision(),)]
    tables = {row[0] for row in cli.query("SELECT name FROM sqlite_master")}
    assert {"venues", "seats", "events", "event_seats", "holds", "orders"} <= tables


# import-venue


def test_cli_migrate_down_to_base(migrated: Cli) -> None:
    result = succeeded(migrated.run("migrate", "--revision", "base"))

    assert result.strip() == "database downgraded to base"
    assert migrated.query("SELECT version_num FROM alembic_version") == []


def test_cli_migrate_unknown_revision(cli: Cli) -> None:
    result = cli.run("migrate", "--revision", "no-such-revision")

    assert result.returncode == 1
    assert "migration failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_import_venue_needs_migrations(cli: Cli) -> None:
    plan = write_plan(cli.directory, theatre(rows=2, seats_per_row=4))

    result = cli.run("import-venue", str(plan), "--organizer", "org-1")

    assert result.returncode == 1
    assert "run `seatline migrate` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_import_venue_generated_plan(migrated: Cli) -> None:
    plan = write_plan(migrated.directory, theatre(rows=4, seats_per_row=10))

    stdout = succeeded(migrated.run("import-venue", str(plan), "--organizer", "org-1"))
    named = succeeded(
        migrated.run(
            "import-venue", str(plan), "--organizer", "org-2", "--name", "Kleiner Saal"
        )
    )

    match = re.fullmatch(
        r"imported venue ([0-9a-f-]{36}) \(Generated Theatre\) with (\d+) seats\n",
        stdout,
    )
    assert match, stdout
    assert int(match.group(2)) == SMALL_PLAN_SEATS
    assert "(Kleiner Saal)" in named
    venue_id = uuid.UUID(match.group(1)).hex
    venues = migrated.query(
        "SELECT organizer_id, seat_count FROM venues WHERE id = ?", venue_id
    )
    assert venues == [("org-1", SMALL_PLAN_SEATS)]
    seats = migrated.query("SELECT count(*) FROM seats WHERE venue_id = ?", venue_id)
    assert seats == [(SMALL_PLAN_SEATS,)]


def test_cli_import_venue_invalid_plan(migrated: Cli) -> None:
    broken = theatre(rows=2, seats_per_row=4)
    del broken["zones"][1]["rows"][1]["seats"][0]["seat_guid"]
    broken["zones"][1]["rows"][0]["seats"][0]["position"] = "left"
    plan = write_plan(migrated.directory, broken)

    result = migrated.run("import-venue", str(plan), "--organizer", "org-1")

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    problems = [line for line in lines if line.startswith("$.")]
    assert [line.split(":")[0] for line in problems] == [
        "$.zones[1].rows[0].seats[0].position",
        "$.zones[1].rows[1].seats[0].seat_guid",
    ]
    assert lines[-1] == f"Error: {plan} is not a valid seating plan"
    assert migrated.query("SELECT count(*) FROM venues") == [(0,)]


def test_cli_import_venue_not_json(migrated: Cli) -> None:
    plan = migrated.directory / "plan.json"
    plan.write_text("{not json", encoding="utf-8")

    result = migrated.run("import-venue", str(plan), "--organizer", "org-1")

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"Error: {plan} is not valid JSON" in result.stderr
    assert migrated.query("SELECT count(*) FROM venues") == [(0,)]


def test_cli_import_venue_missing_file(migrated: Cli) -> None:
    missing = migrated.directory / "missing.json"

    result = migrated.run("import-venue", str(missing), "--organizer", "org-1")

    assert result.returncode == 2
    assert "does not exist" in result.stderr


# token


def test_cli_token_accepted_by_validator(cli: Cli) -> None:
    stdout = succeeded(cli.run("token", "--sub", "x", "--scope", "bookings:write"))

    token = stdout.strip()
    assert JWT.match(token), stdout
    principal = cli.validate(token)
    assert principal.subject == "x"
    assert principal.scopes == frozenset({"bookings:write"})
    assert principal.client_id == "seatline-cli"
    assert principal.expires_at is not None
    assert 3500 < principal.expires_at - time.time() <= 3600
    # The key file contains private keys, so only its owner may read it.
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600


def test_cli_token_several_scopes(cli: Cli) -> None:
    stdout = succeeded(
        cli.run(
            "token",
            "--sub",
            "partner-7",
            "--scope",
            "bookings:write orders:read",
            "--scope",
            "organizer",
        )
    )

    principal = cli.validate(stdout.strip())
    assert principal.subject == "partner-7"
    assert principal.scopes == {"bookings:write", "orders:read", "organizer"}


def test_cli_token_rejects_bad_lifetime(cli: Cli) -> None:
    for ttl in ("0", "-5", "86401"):
        result = cli.run(
            "token", "--sub", "x", "--scope", "bookings:write", "--ttl", ttl
        )
        assert result.returncode == 2, ttl


def test_cli_token_unknown_scope(cli: Cli) -> None:
    result = cli.run("token", "--sub", "x", "--scope", "bookings:write tickets:print")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown scopes ['tickets:print']" in result.stderr


# demo


def test_cli_demo_prepares_once(cli: Cli) -> None:
    first = succeeded(cli.run("demo", "--no-serve"))
    second = succeeded(cli.run("demo", "--no-serve", "--port", "8123"))

    event_id, url, token = demo_output(first)
    second_event_id, second_url, _ = demo_output(second)
    assert url == "http://127.0.0.1:8000/graphql"
    assert second_url == "http://127.0.0.1:8123/graphql"
    assert second_event_id == event_id
    principal = cli.validate(token)
    assert principal.subject == "demo-organizer"
    assert {"organizer", "bookings:write"} <= principal.scopes
    assert cli.query("SELECT count(*) FROM events") == [(1,)]
    assert cli.query("SELECT count(*) FROM venues") == [(1,)]
    statuses = cli.query(
        "SELECT status FROM events WHERE id = ?", uuid.UUID(event_id).hex
    )
    assert statuses == [("on_sale",)]
    # Each run prints a new secret for the demo client; only a hash is stored.
    pattern = re.compile(r"curl -s -u (seatline-demo):(\S+) -d grant_type")
    first_credentials = pattern.search(first)
    second_credentials = pattern.search(second)
    assert first_credentials, first
    assert second_credentials, second
    assert first_credentials.group(2) != second_credentials.group(2)
    stored = cli.query(
        "SELECT secret_hash FROM oauth_clients WHERE client_id = 'seatline-demo'"
    )
    secret = second_credentials.group(2).encode()
    assert stored == [(hashlib.sha256(secret).hexdigest(),)]


def test_cli_demo_refused_in_production(cli: Cli) -> None:
    env = {**cli.env, "SEATLINE_ENV": "production"}
    result = subprocess.run(
        cli.command("demo", "--no-serve"),
        cwd=cli.directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 1
    assert "development only" in result.stderr


# client, account and keys


def test_cli_client_create_confidential(migrated: Cli) -> None:
    stdout = succeeded(
        migrated.run(
            "client",
            "create",
            "--name",
            "Partner feed",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "partner:stream events:read",
        )
    )

    client_id = re.search(r"client_id: (\S+)", stdout)
    secret = re.search(r"client_secret: (\S+)", stdout)
    assert client_id, stdout
    assert secret, stdout
    [(client_type, secret_hash, scopes)] = migrated.query(
        "SELECT client_type, secret_hash, scopes FROM oauth_clients "
        "WHERE client_id = ?",
        client_id.group(1),
    )
    assert client_type == "confidential"
    assert secret_hash == hashlib.sha256(secret.group(1).encode()).hexdigest()
    assert orjson.loads(str(scopes)) == ["events:read", "partner:stream"]


def test_cli_client_create_public_has_no_secret(migrated: Cli) -> None:
    stdout = succeeded(
        migrated.run(
            "client",
            "create",
            "--name",
            "Web shop",
            "--type",
            "public",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            "https://shop.example/callback",
            "--scope",
            "bookings:write",
        )
    )

    assert "client_id: sl-" in stdout
    assert "client_secret" not in stdout


def test_cli_client_create_rejects_http_redirect(migrated: Cli) -> None:
    result = migrated.run(
        "client",
        "create",
        "--name",
        "Web shop",
        "--type",
        "public",
        "--grant",
        "authorization_code",
        "--redirect-uri",
        "http://shop.example/callback",
        "--scope",
        "bookings:write",
    )

    assert result.returncode == 2
    assert "uses http on a host other than loopback" in result.stderr
    assert migrated.query("SELECT count(*) FROM oauth_clients") == [(0,)]


def test_cli_account_create(migrated: Cli) -> None:
    env = {**migrated.env, "SEATLINE_ACCOUNT_PASSWORD": "organizer password"}
    result = subprocess.run(
        migrated.command(
            "account", "create", "--email", "Org@Example.com", "--scope", "organizer"
        ),
        cwd=migrated.directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    [(email, scopes)] = migrated.query("SELECT email, scopes FROM buyer_accounts")
    assert email == "org@example.com"
    assert orjson.loads(str(scopes)) == ["organizer"]
    assert "organizer password" not in result.stdout


def test_cli_keys_rotate(cli: Cli) -> None:
    succeeded(cli.run("keys", "generate"))
    before = load_key_store(cli.key_file, create=False)

    stdout = succeeded(cli.run("keys", "rotate"))

    after = load_key_store(cli.key_file, create=False)
    old_kid = before.token_signing_key.kid
    assert after.token_signing_key.kid != old_kid
    assert [key.kid for key in after.token_keys[1:]] == [old_kid]
    assert old_kid in after.retired
    assert "1 older key(s) still verify, 0 dropped" in stdout
    published = {key["kid"] for key in after.public_jwks()["keys"]}
    assert {after.token_signing_key.kid, old_kid} <= published
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600


def test_cli_keys_rotate_without_file(cli: Cli) -> None:
    result = cli.run("keys", "rotate")

    assert result.returncode == 1
    assert "keys generate" in result.stderr


# serve


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def server(cli: Cli) -> Iterator[Server]:
    """`seatline serve` on a free loopback port, over the demo data."""
    succeeded(cli.run("demo", "--no-serve"))
    port = free_port()
    log = cli.directory / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            cli.command("serve", "--port", str(port)),
            cwd=cli.directory,
            env=cli.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Server(f"http://127.0.0.1:{port}", process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    with httpx.Client(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"server exited with {process.returncode}"
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"seatline serve at {base_url} not healthy in time")


@pytest.mark.slow
def test_cli_serve_answers_events(server: Server) -> None:
    wait_healthy(server.base_url, server.process)

    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        health = client.get("/healthz")
        response = client.post("/graphql", json={"query": EVENTS})

    assert health.json() == {"status": "ok"}
    assert response.status_code == 200
    edges = response.json()["data"]["events"]["edges"]
    assert [(edge["node"]["name"], edge["node"]["status"]) for edge in edges] == [
        ("Opening night (demo)", "ON_SALE")
    ]

    server.process.terminate()
    returncode = server.process.wait(timeout=15)
    # uvicorn (0.55) shuts down gracefully, then re-raises the SIGTERM it caught.
    assert returncode in (0, -signal.SIGTERM)
    assert "seatline stopped" in server.log.read_text(encoding="utf-8")
