"""A private seatline stack for the Locust load test, on loopback ports.

It runs its own PostgreSQL cluster (initdb into a temporary directory), its
own redis-server, one or two `seatline serve` processes and, in front of two
processes, nginx rendered from ops/nginx. Each part can be stopped and
started again, so a load test can restart a dependency mid-run. Nothing here
touches the shared PostgreSQL and Redis servers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.live import (  # noqa: E402
    RATE_LIMIT_FIELDS,
    LiveServer,
    RedisServer,
    free_port,
    live_server_process,
)
from tests.ops.nginx_config import wait_for_nginx, write_nginx_config  # noqa: E402

from seatline.auth.keys import load_key_store  # noqa: E402
from seatline.config import Settings  # noqa: E402

STARTUP_TIMEOUT_SECONDS = 60
ISSUER = "seatline-loadtest"
AUDIENCE = "seatline-api"


def find_tool(name: str) -> str:
    """Return the path of a server program, or raise with what to install."""
    found = shutil.which(name, path="/usr/local/bin:/usr/bin:/usr/sbin")
    if found is None:
        # Debian keeps the PostgreSQL server programs off PATH.
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
        for directory in versions:
            if (directory / name).exists():
                return str(directory / name)
        raise RuntimeError(
            f"{name} is not installed; scripts/ci-install.sh installs nginx, and "
            "PostgreSQL and Redis come from the postgresql and redis-server packages"
        )
    return found


async def run_checked(*command: str, user: str | None = None) -> str:
    """Run a command; raise with its output when it fails."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        user=user,
    )
    output, _ = await asyncio.wait_for(process.communicate(), STARTUP_TIMEOUT_SECONDS)
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{text}")
    return text


class PostgresCluster:
    """A PostgreSQL cluster in a temporary directory, on a free port.

    PostgreSQL refuses to run as root, so under root its programs run as the
    postgres user, which then owns the directory.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/seatline"

    async def create(self) -> None:
        if self.user is not None:
            shutil.chown(self.directory, self.user, self.user)
        await run_checked(
            find_tool("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            user=self.user,
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.directory}'\n"
                # Two API processes with pools of up to 20 connections each,
                # plus the runner's checks.
                "max_connections = 100\n"
            )
        await self.start()
        connection = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database="postgres"
        )
        try:
            await connection.execute("CREATE DATABASE seatline")
        finally:
            await connection.close()

    async def start(self) -> None:
        await run_checked(
            find_tool("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "postgres.log"),
            "-w",
            "-t",
            str(STARTUP_TIMEOUT_SECONDS),
            "start",
            user=self.user,
        )

    async def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" skips the shutdown checkpoint."""
        if not (self.data / "postmaster.pid").exists():
            return
        await run_checked(
            find_tool("pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            mode,
            "stop",
            user=self.user,
        )


@dataclass
class Stack:
    """The running stack: where clients connect and what can be broken."""

    url: str
    database_url: str
    key_file: Path
    directory: Path
    postgres: PostgresCluster
    redis: RedisServer
    servers: list[LiveServer] = field(default_factory=list)
    # The CA that signed nginx's certificate; None without nginx.
    ca_file: Path | None = None


@asynccontextmanager
async def private_stack(
    processes: int,
    *,
    sweeper_interval_seconds: float,
    rate_limits: bool,
    keep: bool = False,
) -> AsyncIterator[Stack]:
    """Start PostgreSQL, Redis, `processes` API servers and, for two, nginx.

    The API servers run with rate limits off unless `rate_limits`, because
    every simulated buyer sends from 127.0.0.1. The directory with the logs
    is removed afterwards unless `keep`.
    """
    directory = _make_directory()
    postgres = PostgresCluster(directory / "postgres")
    redis = RedisServer()
    key_file = directory / "keys.json"
    try:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(redis.kill)
            stack.push_async_callback(postgres.stop, "immediate")
            await asyncio.gather(postgres.create(), redis.start())
            await _migrate(postgres.url)
            # Made once here, so that the servers do not race to create it.
            load_key_store(key_file, create=True)
            environment = _server_environment(
                redis.url, sweeper_interval_seconds, rate_limits
            )
            starting = [
                live_server_process(
                    postgres.url,
                    key_file,
                    issuer=ISSUER,
                    audience=AUDIENCE,
                    extra_env=environment,
                    log_level="WARNING",
                    log_file=directory / f"server-{index}.log",
                )
                for index in range(processes)
            ]
            servers = [await stack.enter_async_context(s) for s in starting]
            running = Stack(
                url=servers[0].url,
                database_url=postgres.url,
                key_file=key_file,
                directory=directory,
                postgres=postgres,
                redis=redis,
                servers=servers,
            )
            if processes > 1:
                await stack.enter_async_context(_nginx(running))
            yield running
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def _make_directory() -> Path:
    # The postgres user must be able to enter it.
    directory = Path(tempfile.mkdtemp(prefix="seatline-loadtest-"))
    directory.chmod(0o755)
    (directory / "postgres").mkdir()
    return directory


def _server_environment(
    redis_url: str, sweeper_interval_seconds: float, rate_limits: bool
) -> dict[str, str]:
    environment = {
        "SEATLINE_REDIS_URL": redis_url,
        "SEATLINE_SWEEPER_INTERVAL_SECONDS": str(sweeper_interval_seconds),
        "SEATLINE_RATE_LIMITS_ENABLED": "true" if rate_limits else "false",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    if rate_limits:
        # The Settings defaults, in place of the test helper's high limits.
        for name in RATE_LIMIT_FIELDS:
            default = Settings.model_fields[name].default
            environment[f"SEATLINE_{name.upper()}"] = str(default)
    return environment


async def _migrate(database_url: str) -> None:
    environment = {**os.environ, "SEATLINE_DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "seatline.cli",
        "migrate",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"seatline migrate failed:\n{output.decode()}")


@asynccontextmanager
async def _nginx(stack: Stack) -> AsyncIterator[None]:
    """Run nginx over TLS in front of the stack's servers; point stack.url at it."""
    nginx = find_tool("nginx")
    directory = stack.directory / "nginx"
    directory.mkdir()
    ports = (free_port(), free_port())
    # Each proxied request or websocket takes two connections, a client's and
    # an upstream one. The per-address limits are off because every simulated
    # buyer sends from 127.0.0.1.
    config, ca_file = write_nginx_config(
        directory,
        stack.servers,
        ports,
        worker_connections=8192,
        per_address_limits=False,
    )
    arguments = ["-p", str(directory), "-c", str(config), "-e", "stderr"]
    await run_checked(nginx, "-t", *arguments)
    with (directory / "nginx.stderr").open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            nginx, *arguments, "-g", "daemon off;", stderr=output
        )
    try:
        await wait_for_nginx(f"http://127.0.0.1:{ports[0]}", process)
        stack.url = f"https://127.0.0.1:{ports[1]}"
        stack.ca_file = ca_file
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
