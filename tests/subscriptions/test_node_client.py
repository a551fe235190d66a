"""Live seat maps seen by the Node.js graphql-ws client in tests/js."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ApiClient,
    DatabaseUnderTest,
    EventFixture,
    seat_ids,
    unavailable,
)
from tests.live import live_server
from tests.subscriptions.test_seat_map_stream import hold

pytestmark = pytest.mark.slow

JS_DIR = Path(__file__).resolve().parents[1] / "js"
WATCH_SCRIPT = JS_DIR / "watch-seat-map.mjs"
MIN_NODE_MAJOR = 20
NPM_CI_TIMEOUT_SECONDS = 300
RESULT_TIMEOUT_SECONDS = 20


@pytest.fixture(scope="session")
def node() -> str:
    """Path of `node`, with tests/js dependencies installed by `npm ci`."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        unavailable(
            "node or npm not found on PATH: install Node.js 20 or newer "
            "(scripts/ci-install.sh checks it)"
        )
    assert node is not None
    assert npm is not None
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        unavailable(f"Node.js {version} is too old: graphql-ws needs 20 or newer")
    if not (JS_DIR / "node_modules").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            check=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
        )
    return node


@pytest.fixture
async def server(database: DatabaseUnderTest, key_file: Path) -> AsyncIterator[str]:
    # No heartbeat during the test, so the second result is the delta.
    extra = {"SEATLINE_LIVE_HEARTBEAT_SECONDS": "300"}
    async with live_server(
        database.url, key_file, issuer=ISSUER, audience=AUDIENCE, extra_env=extra
    ) as url:
        yield url


async def read_result(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), RESULT_TIMEOUT_SECONDS)
    if not line:
        assert process.stderr is not None
        error = (await process.stderr.read()).decode()
        pytest.fail(f"watch-seat-map.mjs ended without a result: {error}")
    result: dict[str, Any] = orjson.loads(line)
    return result


async def test_node_client_sees_held_seat(
    node: str, server: str, api: ApiClient, on_sale: EventFixture
) -> None:
    seat = seat_ids(on_sale)[0]
    command = [
        node,
        str(WATCH_SCRIPT),
        "--url",
        server.replace("http://", "ws://") + "/graphql",
        "--event-id",
        on_sale.id,
        "--count",
        "2",
        "--timeout-ms",
        str(RESULT_TIMEOUT_SECONDS * 1000),
    ]
    # The token goes through the environment so it stays out of `ps` output.
    env = {**os.environ, "SEATLINE_TOKEN": api.token("node-watcher")}
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        snapshot = (await read_result(process))["data"]["seatMapUpdates"]
        await hold(server, api.token("node-buyer", "bookings:write"), on_sale, [seat])
        delta = (await read_result(process))["data"]["seatMapUpdates"]
        returncode = await asyncio.wait_for(process.wait(), RESULT_TIMEOUT_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert snapshot["kind"] == "SNAPSHOT"
    assert snapshot["version"] == 0
    assert delta["kind"] == "DELTA"
    assert delta["fromVersion"] == 1
    assert delta["version"] == 1
    changes = [(change["seatId"], change["status"]) for change in delta["changes"]]
    assert changes == [(seat, "HELD")]
    assert returncode == 0
