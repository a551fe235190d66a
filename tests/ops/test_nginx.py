"""nginx from ops/nginx in front of two `seatline serve` processes.

The module renders the template as the nginx image would, with a CA and a
server certificate it makes itself, and runs Debian's nginx on loopback
ports with its own pid, log and temporary files. Both servers share the
PostgreSQL test database and the Redis test server. The test that kills a
server runs last.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from seatline.auth.keys import KeyStore
from tests.conftest import AUDIENCE, ISSUER, DatabaseUnderTest, EventFixture, seat_ids
from tests.live import LiveServer, free_port, live_server_process
from tests.observability.support import HOLD_SEATS, event_and_buyer
from tests.ops.nginx_config import wait_for_nginx, write_nginx_config
from tests.ops.support import require_tool

pytestmark = pytest.mark.slow

WATCH = """
subscription Watch($eventId: ID!) {
  seatMapUpdates(eventId: $eventId) { kind version changes { seatId status } }
}
"""


@dataclass
class Proxy:
    https_url: str
    http_url: str
    ca_file: Path
    servers: list[LiveServer]
    event: EventFixture
    buyer_token: str
    access_log: Path

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.https_url, verify=self.tls_context(), timeout=10, **kwargs
        )

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@pytest.fixture(scope="module")
async def proxy(
    postgres_database: DatabaseUnderTest,
    redis_url: str,
    keys: KeyStore,
    key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Proxy]:
    nginx = require_tool("nginx")
    directory = tmp_path_factory.mktemp("nginx")
    event, buyer_token = await event_and_buyer(
        postgres_database, keys, key_file, "nginx-buyer"
    )
    starting = [
        live_server_process(
            postgres_database.url,
            key_file,
            issuer=ISSUER,
            audience=AUDIENCE,
            extra_env={
                "SEATLINE_REDIS_URL": redis_url,
                "SEATLINE_LIVE_HEARTBEAT_SECONDS": "1",
                "FORWARDED_ALLOW_IPS": "127.0.0.1",
            },
        )
        for _ in range(2)
    ]
    async with AsyncExitStack() as stack:
        servers = list(
            await asyncio.gather(*(stack.enter_async_context(s) for s in starting))
        )
        ports = (free_port(), free_port())
        config, ca_file = write_nginx_config(directory, servers, ports)
        arguments = ["-p", str(directory), "-c", str(config), "-e", "stderr"]
        check = await asyncio.create_subprocess_exec(
            nginx, "-t", *arguments, stderr=asyncio.subprocess.PIPE
        )
        _, check_errors = await check.communicate()
        assert check.returncode == 0, check_errors.decode()
        with (directory / "nginx.stderr").open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                nginx, *arguments, "-g", "daemon off;", stderr=output
            )
        try:
            await wait_for_nginx(f"http://127.0.0.1:{ports[0]}", process)
            yield Proxy(
                https_url=f"https://127.0.0.1:{ports[1]}",
                http_url=f"http://127.0.0.1:{ports[0]}",
                ca_file=ca_file,
                servers=servers,
                event=event,
                buyer_token=buyer_token,
                access_log=directory / "access.log",
            )
        finally:
            process.send_signal(signal.SIGQUIT)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


EVENTS = "{ events(first: 5) { edges { node { id } } } }"


async def hold_through(proxy: Proxy, client: httpx.AsyncClient, seat: str) -> str:
    response = await client.post(
        "/graphql",
        json={
            "query": HOLD_SEATS,
            "variables": {
                "input": {
                    "eventId": proxy.event.id,
                    "seatIds": [seat],
                    "idempotencyKey": str(uuid.uuid4()),
                }
            },
        },
        headers={"Authorization": f"Bearer {proxy.buyer_token}"},
    )
    assert response.status_code == 200, response.text
    result = response.json()["data"]["holdSeats"]
    assert result["__typename"] == "Hold", result
    return str(result["id"])


def ws_client(proxy: Proxy, headers: dict[str, str] | None = None) -> Client:
    transport = WebsocketsTransport(
        url=proxy.https_url.replace("https://", "wss://") + "/graphql",
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        ssl=proxy.tls_context(),
        close_timeout=1,
        headers=headers,
    )
    return Client(transport=transport)


async def watch_until_held(proxy: Proxy, client: httpx.AsyncClient, seat: str) -> None:
    """Subscribe through nginx, hold `seat`, and wait for its delta."""
    async with ws_client(proxy) as session:
        stream = session.subscribe(
            GraphQLRequest(WATCH, variable_values={"eventId": proxy.event.id})
        )
        first = (await anext(stream))["seatMapUpdates"]
        assert first["kind"] == "SNAPSHOT"
        await hold_through(proxy, client, seat)
        async with asyncio.timeout(10):
            async for message in stream:
                update = message["seatMapUpdates"]
                changed = {
                    change["seatId"]: change["status"]
                    for change in update["changes"] or []
                }
                if update["kind"] == "DELTA" and changed.get(seat) == "HELD":
                    return


async def test_nginx_accepts_browser_origin_with_port(proxy: Proxy) -> None:
    # A browser on https://host:port sends that origin; the process must
    # see the same host and port in Host, or it rejects the socket.
    async with ws_client(proxy, {"Origin": proxy.https_url}) as session:
        stream = session.subscribe(
            GraphQLRequest(WATCH, variable_values={"eventId": proxy.event.id})
        )
        first = (await anext(stream))["seatMapUpdates"]

    assert first["kind"] == "SNAPSHOT"


async def test_nginx_serves_queries_over_tls(proxy: Proxy) -> None:
    async with proxy.client() as client:
        response = await client.post(
            "/graphql", json={"query": EVENTS}, headers={"X-Request-ID": "via-nginx-1"}
        )

    assert response.status_code == 200
    assert response.http_version in ("HTTP/1.1", "HTTP/2")
    assert "events" in response.json()["data"]
    assert response.headers["X-Request-ID"] == "via-nginx-1"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # nginx writes the line after it sent the response.
    for _ in range(40):
        if '"request_id":"via-nginx-1"' in proxy.access_log.read_text():
            break
        await asyncio.sleep(0.05)
    assert '"request_id":"via-nginx-1"' in proxy.access_log.read_text()


async def test_nginx_redirects_plain_http(proxy: Proxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.http_url) as client:
        response = await client.get("/graphql")

    assert response.status_code == 308
    assert response.headers["Location"].startswith("https://")


async def test_nginx_hides_metrics(proxy: Proxy) -> None:
    async with proxy.client() as client:
        response = await client.get("/metrics")

    assert response.status_code == 404


async def test_nginx_rejects_oversized_body(proxy: Proxy) -> None:
    body = b'{"query": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    async with proxy.client() as client:
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )

    assert response.status_code == 413


async def test_nginx_rate_limits_one_client(proxy: Proxy) -> None:
    # Its own loopback address, so that no other test shares its budget.
    transport = httpx.AsyncHTTPTransport(
        local_address="127.0.0.9", verify=proxy.tls_context()
    )
    statuses: list[int] = []
    async with proxy.client(transport=transport) as client:
        # Bursts of 150 until one is refused: on a loaded machine a burst
        # can arrive slower than 30 per second plus the 60 of the burst.
        for _ in range(10):
            responses = await asyncio.gather(
                *(client.get("/healthz") for _ in range(150))
            )
            statuses += [response.status_code for response in responses]
            if 429 in statuses:
                break

    assert statuses.count(429) > 0
    assert statuses.count(200) >= 60
    assert set(statuses) <= {200, 429}


async def test_nginx_subscription_and_failover(proxy: Proxy) -> None:
    seats = seat_ids(proxy.event)
    async with proxy.client() as client:
        await watch_until_held(proxy, client, seats[0])

        victim = proxy.servers[0].process
        victim.kill()
        await victim.wait()

        statuses = []
        for index in range(20):
            response = await client.post("/graphql", json={"query": EVENTS})
            statuses.append(response.status_code)
            if index % 5 == 0:
                await hold_through(proxy, client, seats[1 + index // 5])
        assert statuses == [200] * 20

        # New subscriptions reach the surviving process.
        await watch_until_held(proxy, client, seats[10])
