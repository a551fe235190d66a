"""Structured logs: JSON lines, request ids, and no secrets in any output."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from seatline.auth.keys import KeyStore
from seatline.observability.logs import (
    REDACTED,
    JsonFormatter,
    RequestLog,
    current_request,
)
from seatline.observability.middleware import request_id_from
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ApiClient,
    DatabaseUnderTest,
    EventFixture,
    seat_ids,
)
from tests.live import live_server_process
from tests.observability.support import CHECKOUT, HOLD_SEATS, PAY, event_and_buyer

REQUIRED_KEYS = {"time", "level", "logger", "message"}


def format_record(message: str, *args: object, **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord(
        "seatline.test", logging.INFO, __file__, 1, message, args, None
    )
    for name, value in extra.items():
        setattr(record, name, value)
    parsed: dict[str, Any] = json.loads(JsonFormatter().format(record))
    return parsed


def test_json_formatter_fields_and_extra() -> None:
    token = current_request.set(
        RequestLog("req-1", operation="holdSeats", principal="alice")
    )
    try:
        entry = format_record("hold %s created", "h-1", hold_id="h-1", seats=2)
    finally:
        current_request.reset(token)

    assert entry.keys() >= REQUIRED_KEYS
    assert entry["message"] == "hold h-1 created"
    assert entry["level"] == "INFO"
    assert entry["request_id"] == "req-1"
    assert entry["operation"] == "holdSeats"
    assert entry["principal"] == "alice"
    assert entry["extra"] == {"hold_id": "h-1", "seats": 2}


def test_json_formatter_redacts_secrets() -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    entry = format_record(
        "rejected Bearer %s and tok_visa_4242 with password=hunter2",
        "abc.def",
        authorization=f"Bearer {jwt}",
        payment_token="tok_approve",
        detail={"password": "hunter2", "note": f"token {jwt}"},
    )

    text = json.dumps(entry)
    for secret in (jwt, "abc.def", "tok_visa_4242", "hunter2", "tok_approve"):
        assert secret not in text
    assert entry["extra"]["authorization"] == REDACTED
    assert entry["extra"]["payment_token"] == REDACTED
    assert entry["extra"]["detail"]["password"] == REDACTED


def test_json_formatter_exception_on_one_line() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.LogRecord(
            "seatline.test", logging.ERROR, __file__, 1, "failed", (), None
        )
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)

    assert "\n" not in line
    assert "ValueError: bad value" in json.loads(line)["exception"]


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        (b"3f1c9a52-0d2e-4c55-9b1e-7e7c1f0a9d11", True),
        (b"01HZY3X5ZKQ8W6D2A9FJ8S3T7V", True),
        (b"a" * 128, True),
        (b"a" * 129, False),
        (b"", False),
        (b"id with spaces", False),
        (b"id\r\nX-Injected: 1", False),
        (b"<script>", False),
    ],
)
def test_request_id_validation(header: bytes, kept: bool) -> None:
    scope = {"headers": [(b"x-request-id", header)]}

    request_id = request_id_from(scope)

    assert (request_id == header.decode("latin-1")) is kept
    assert 1 <= len(request_id) <= 128


async def test_request_id_echoed_or_generated(api: ApiClient) -> None:
    given = await api.client.get("/healthz", headers={"X-Request-ID": "probe-42"})
    generated = await api.client.get("/healthz", headers={"X-Request-ID": "bad id"})

    assert given.headers["X-Request-ID"] == "probe-42"
    assert generated.headers["X-Request-ID"] not in ("", "bad id")


async def test_rejected_request_logs_route_and_code(
    api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "seatline.access"):
        response = await api.post({"query": "{ __typename }"}, token="not-a-jwt")

    (record,) = [r for r in caplog.records if r.name == "seatline.access"]
    assert response.status_code == 401
    assert record.route == "/graphql"  # type: ignore[attr-defined]
    assert record.outcome == "UNAUTHENTICATED"  # type: ignore[attr-defined]


# A live server in production mode, at DEBUG, fed secrets from every side.


async def drive_with_secrets(
    base_url: str, event: EventFixture, buyer_token: str
) -> dict[str, str]:
    """Send requests that carry credentials; return the secrets sent."""
    secrets = {
        "buyer token": buyer_token,
        "token signature": buyer_token.rsplit(".", 1)[1],
        "forged token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.Zm9yZ2Vk",
        "password": f"hunter2-{uuid.uuid4().hex}",
        "payment token": "tok_approve",
        "unknown card token": f"tok_card_{uuid.uuid4().hex}",
        "client secret": f"secret-{uuid.uuid4().hex}",
    }
    auth = {"Authorization": f"Bearer {buyer_token}"}
    async with httpx.AsyncClient(base_url=base_url) as client:

        async def post(query: str, variables: dict[str, Any], **headers: str) -> Any:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={**auth, **headers},
            )
            return response.json()

        held = await post(
            HOLD_SEATS,
            {
                "input": {
                    "eventId": event.id,
                    "seatIds": seat_ids(event)[:1],
                    "idempotencyKey": str(uuid.uuid4()),
                }
            },
            **{"X-Request-ID": "log-test-hold"},
        )
        hold_id = held["data"]["holdSeats"]["id"]
        checkout = await post(
            CHECKOUT,
            {"input": {"holdId": hold_id, "idempotencyKey": str(uuid.uuid4())}},
        )
        order_id = checkout["data"]["checkout"]["id"]
        for card in (secrets["unknown card token"], secrets["payment token"]):
            await post(
                PAY,
                {
                    "input": {
                        "orderId": order_id,
                        "idempotencyKey": str(uuid.uuid4()),
                        "payment": {"token": card},
                    }
                },
            )
        await post(
            "query Login($password: String) { __typename }",
            {"password": secrets["password"], "clientSecret": secrets["client secret"]},
        )
        forged = await client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": f"Bearer {secrets['forged token']}"},
        )
        assert forged.status_code == 401
        await client.get(
            f"/healthz?access_token={buyer_token}&password={secrets['password']}"
        )

    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as socket:
        await socket.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"Authorization": f"Bearer {buyer_token}"},
                }
            )
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
    return secrets


@pytest.mark.slow
async def test_logs_never_contain_secrets(
    sqlite_database: DatabaseUnderTest,
    keys: KeyStore,
    key_file: Path,
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "server.log"
    event, buyer_token = await event_and_buyer(
        sqlite_database, keys, key_file, "buyer-log-test"
    )
    async with live_server_process(
        sqlite_database.url,
        key_file,
        issuer=ISSUER,
        audience=AUDIENCE,
        # Production mode: JSON logs without SEATLINE_LOG_FORMAT.
        extra_env={"SEATLINE_ENV": "production"},
        log_level="DEBUG",
        log_file=log_file,
    ) as server:
        secrets = await drive_with_secrets(server.url, event, buyer_token)

    output = log_file.read_text()
    for name, secret in secrets.items():
        assert secret not in output, f"the {name} appears in the server's log"
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all(entry.keys() >= REQUIRED_KEYS for entry in entries)
    summaries = [
        entry
        for entry in entries
        if entry["logger"] == "seatline.access"
        and entry.get("request_id") == "log-test-hold"
    ]
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary["operation"] == "holdSeats"
    assert summary["principal"] == "buyer-log-test"
    assert summary["outcome"] == "ok"
    assert summary["duration_ms"] > 0
