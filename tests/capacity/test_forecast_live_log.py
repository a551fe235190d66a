"""The forecast's access-log reader on the log of a real `seatline serve`."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import websockets

from seatline.capacity.inputs import read_access_logs
from tests.conftest import AUDIENCE, ISSUER, DatabaseUnderTest
from tests.live import live_server_process

GRAPHQL_REQUESTS = 7
PROBES = 3
TYPENAME = {"query": "{ __typename }"}


@pytest.mark.slow
async def test_access_log_of_live_server(
    sqlite_database: DatabaseUnderTest, key_file: Path, tmp_path: Path
) -> None:
    log_file = tmp_path / "server.log"
    started = time.time()
    async with live_server_process(
        sqlite_database.url,
        key_file,
        issuer=ISSUER,
        audience=AUDIENCE,
        # Production mode writes JSON logs; DEBUG keeps the probe lines.
        extra_env={"SEATLINE_ENV": "production"},
        log_level="DEBUG",
        log_file=log_file,
    ) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(GRAPHQL_REQUESTS):
                await client.post("/graphql", json=TYPENAME)
            for _ in range(PROBES):
                await client.get("/healthz")
        socket_url = server.url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(socket_url, subprotocols=None):
            pass
    finished = time.time()

    history = read_access_logs([log_file])

    assert len(history.request_times) == GRAPHQL_REQUESTS
    assert all(started <= t <= finished for t in history.request_times)
    # live_server_process also polls a probe route until the server is up.
    assert history.probes >= PROBES
    assert history.websockets == 1
    assert history.other_loggers > 0
    assert history.not_json == 0
