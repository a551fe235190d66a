"""Run `seatline serve` in a subprocess for tests that need real HTTP."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL

import httpx

STARTUP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Settings fields of the request rate limits.
RATE_LIMIT_FIELDS = tuple(
    f"rate_limit_{name}"
    for name in (
        "per_address",
        "per_subject",
        "per_client",
        "bookings_per_subject",
        "bookings_per_address",
    )
)
# Tests send many requests from one address in a few seconds; the rate
# limits' own tests set real limits.
UNLIMITED_RATES = dict.fromkeys(RATE_LIMIT_FIELDS, "1000000/minute")


@dataclass(frozen=True)
class LiveServer:
    url: str
    process: asyncio.subprocess.Process


@asynccontextmanager
async def live_server(
    database_url: str,
    key_file: Path,
    *,
    issuer: str,
    audience: str,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> AsyncIterator[str]:
    """Start a server on a free loopback port; yield its base URL."""
    async with live_server_process(
        database_url,
        key_file,
        issuer=issuer,
        audience=audience,
        extra_env=extra_env,
        workers=workers,
    ) as server:
        yield server.url


@asynccontextmanager
async def live_server_process(
    database_url: str,
    key_file: Path,
    *,
    issuer: str,
    audience: str,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
    log_level: str = "WARNING",
    log_file: Path | None = None,
) -> AsyncIterator[LiveServer]:
    """Start a server on a free loopback port; yield its URL and process.

    The server's output goes to `log_file` when given, else to the test's.
    """
    port = free_port()
    env = {
        **os.environ,
        "SEATLINE_DATABASE_URL": database_url,
        "SEATLINE_KEY_FILE": str(key_file),
        "SEATLINE_JWT_ISSUER": issuer,
        "SEATLINE_JWT_AUDIENCE": audience,
        **{
            f"SEATLINE_{name.upper()}": value for name, value in UNLIMITED_RATES.items()
        },
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "seatline.cli",
        "--log-level",
        log_level,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    output = None if log_file is None else log_file.open("ab")
    try:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=output, stderr=output
        )
    finally:
        if output is not None:
            output.close()
    base_url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(base_url, process)
        yield LiveServer(base_url, process)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_ready(base_url: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(STARTUP_TIMEOUT_SECONDS * 10):
            if process.returncode is not None:
                raise RuntimeError(f"seatline serve exited with {process.returncode}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"seatline serve at {base_url} not ready in time")


class RedisServer:
    """A redis-server child process on a free loopback port, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            stdout=DEVNULL,
            stderr=DEVNULL,
        )
        for _ in range(100):
            if await self.ping():
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    async def kill(self) -> None:
        """Kill the server without a shutdown, as a crash would."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.kill()
        await self.process.wait()

    async def ping(self) -> bool:
        # A raw socket, so that no client library retries behind our back.
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            return await asyncio.wait_for(reader.readline(), 2) == b"+PONG\r\n"
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    async def command(self, *words: str) -> list[bytes]:
        """Send one command and return the lines of the reply."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            encoded = b"".join(
                b"$%d\r\n%s\r\n" % (len(word), word.encode()) for word in words
            )
            writer.write(b"*%d\r\n" % len(words) + encoded)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(65536), 2)
        finally:
            writer.close()
        return data.split(b"\r\n")
