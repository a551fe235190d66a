"""/metrics: booking outcomes, GraphQL latency and errors, bounded labels."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from seatline.booking.expiry import run_sweeper
from seatline.booking.services import Services
from seatline.observability import metrics
from seatline.schema.root import build_schema
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ApiClient,
    DatabaseUnderTest,
    EventFixture,
    seat_ids,
)
from tests.live import live_server
from tests.observability.support import CHECKOUT, HOLD_SEATS, PAY

CANCEL = """
mutation Cancel($id: ID!) {
  cancelOrder(orderId: $id) { __typename ... on Order { status } }
}
"""
TWO_ROOT_FIELDS = """
query Two { events(first: 1) { edges { cursor } } e2: events { edges { cursor } } }
"""


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def key() -> str:
    return str(uuid.uuid4())


async def hold(
    api: ApiClient, token: str, event: EventFixture, seats: list[str]
) -> dict[str, Any]:
    body = await api.execute(
        HOLD_SEATS,
        {"input": {"eventId": event.id, "seatIds": seats, "idempotencyKey": key()}},
        token=token,
    )
    result: dict[str, Any] = body["data"]["holdSeats"]
    return result


async def test_metrics_count_booking_outcomes(
    api: ApiClient, on_sale: EventFixture
) -> None:
    before = {
        "created": value("seatline_holds_total", outcome="created"),
        "conflicts": value("seatline_hold_conflicts_total"),
        "orders": value("seatline_orders_total", outcome="created"),
        "captured": value("seatline_payments_total", outcome="captured"),
        "declined": value("seatline_payments_total", outcome="declined"),
        "refunds": value("seatline_refunds_total", reason="order_cancelled"),
        "errors": value(
            "seatline_graphql_errors_total",
            operation="holdSeats",
            code="SEATS_UNAVAILABLE",
        ),
        "latency": value(
            "seatline_graphql_operation_duration_seconds_count",
            operation="holdSeats",
            operation_type="mutation",
        ),
    }
    alice = api.token("alice", "bookings:write")
    bob = api.token("bob", "bookings:write")
    seats = seat_ids(on_sale)[:2]

    held = await hold(api, alice, on_sale, seats)
    assert held["__typename"] == "Hold"
    conflict = await hold(api, bob, on_sale, seats)
    assert conflict["code"] == "SEATS_UNAVAILABLE"
    order = (
        await api.execute(
            CHECKOUT,
            {"input": {"holdId": held["id"], "idempotencyKey": key()}},
            token=alice,
        )
    )["data"]["checkout"]
    pay = {"orderId": order["id"], "idempotencyKey": key()}
    declined = await api.execute(
        PAY,
        {"input": {**pay, "payment": {"token": "tok_decline_card"}}},
        token=alice,
    )
    assert declined["data"]["payOrder"]["code"] == "PAYMENT_DECLINED"
    paid = await api.execute(
        PAY,
        {
            "input": {
                **pay,
                "idempotencyKey": key(),
                "payment": {"token": "tok_approve"},
            }
        },
        token=alice,
    )
    assert paid["data"]["payOrder"]["status"] == "PAID"
    cancelled = await api.execute(CANCEL, {"id": order["id"]}, token=alice)
    assert cancelled["data"]["cancelOrder"]["status"] == "REFUNDED"

    assert value("seatline_holds_total", outcome="created") == before["created"] + 1
    assert value("seatline_hold_conflicts_total") == before["conflicts"] + 1
    assert value("seatline_orders_total", outcome="created") == before["orders"] + 1
    captured = value("seatline_payments_total", outcome="captured")
    assert captured == before["captured"] + 1
    declined_count = value("seatline_payments_total", outcome="declined")
    assert declined_count == before["declined"] + 1
    refunds = value("seatline_refunds_total", reason="order_cancelled")
    assert refunds == before["refunds"] + 1
    errors = value(
        "seatline_graphql_errors_total", operation="holdSeats", code="SEATS_UNAVAILABLE"
    )
    assert errors == before["errors"] + 1
    latency = value(
        "seatline_graphql_operation_duration_seconds_count",
        operation="holdSeats",
        operation_type="mutation",
    )
    assert latency == before["latency"] + 2


async def test_metrics_idempotent_replay_counts_once(
    api: ApiClient, on_sale: EventFixture
) -> None:
    buyer = api.token("carol", "bookings:write")
    variables = {
        "input": {
            "eventId": on_sale.id,
            "seatIds": seat_ids(on_sale)[4:6],
            "idempotencyKey": key(),
        }
    }
    before = value("seatline_holds_total", outcome="created")

    first = await api.execute(HOLD_SEATS, variables, token=buyer)
    second = await api.execute(HOLD_SEATS, variables, token=buyer)

    assert first["data"] == second["data"]
    assert value("seatline_holds_total", outcome="created") == before + 1


def root_fields() -> set[str]:
    schema = build_schema()._schema
    roots = (schema.query_type, schema.mutation_type, schema.subscription_type)
    return {name for root in roots if root is not None for name in root.fields}


async def test_metrics_labels_stay_bounded(
    api: ApiClient, on_sale: EventFixture
) -> None:
    buyer = api.token("dave", "bookings:write")
    client_name = f"Client{uuid.uuid4().hex}"
    await hold(api, buyer, on_sale, seat_ids(on_sale)[8:9])
    await api.execute(
        f"query {client_name} {{ events(first: 1) {{ edges {{ cursor }} }} }}"
    )
    await api.execute(TWO_ROOT_FIELDS)
    await api.execute("{ doesNotExist }")
    await api.execute("{ __schema { queryType { name } } }")

    response = await api.client.get("/metrics")

    assert response.status_code == 200
    text = response.text
    assert client_name not in text
    assert on_sale.id not in text
    operations = {
        sample.labels["operation"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "operation" in sample.labels
    }
    assert {"holdSeats", "events", "other", "introspection"} <= operations
    assert operations <= root_fields() | {"other", "introspection"}


async def test_metrics_label_follows_a_root_fragment(api: ApiClient) -> None:
    labels = {"operation": "events", "operation_type": "query"}
    before = value("seatline_graphql_operation_duration_seconds_count", **labels)

    await api.execute(
        "query { ...Listing } fragment Listing on Query { events { edges { cursor } } }"
    )

    after = value("seatline_graphql_operation_duration_seconds_count", **labels)
    assert after == before + 1


async def test_metrics_unauthenticated_error_counted(api: ApiClient) -> None:
    before = value(
        "seatline_graphql_errors_total", operation="hold", code="UNAUTHENTICATED"
    )

    await api.execute(f'{{ hold(id: "{uuid.uuid4()}") {{ id }} }}')

    after = value(
        "seatline_graphql_errors_total", operation="hold", code="UNAUTHENTICATED"
    )
    assert after == before + 1


async def test_metrics_http_requests_by_route(api: ApiClient) -> None:
    before = value(
        "seatline_http_requests_total", route="/healthz", method="GET", status="200"
    )

    await api.client.get("/healthz")
    await api.client.get(f"/venues/{uuid.uuid4()}/layout")

    after = value(
        "seatline_http_requests_total", route="/healthz", method="GET", status="200"
    )
    assert after == before + 1
    layout = value(
        "seatline_http_requests_total",
        route="/venues/{venue_id}/layout",
        method="GET",
        status="404",
    )
    assert layout >= 1


async def test_metrics_sweeper_rounds_and_expiry(
    services: Services, on_sale: EventFixture
) -> None:
    runs = value("seatline_sweeper_runs_total", outcome="ok")
    stop = asyncio.Event()
    task = asyncio.create_task(run_sweeper(services, stop))
    for _ in range(100):
        if value("seatline_sweeper_runs_total", outcome="ok") > runs:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task

    assert value("seatline_sweeper_runs_total", outcome="ok") > runs
    assert value("seatline_sweeper_last_success_timestamp_seconds") > 0


def test_metrics_fanout_definitions_exported() -> None:
    names = {family.name for family in REGISTRY.collect()}

    for metric in (
        metrics.FANOUT_QUEUE_DEPTH,
        metrics.FANOUT_SUBSCRIBERS,
        metrics.FANOUT_CHANNELS,
    ):
        assert metric._name in names
    assert "seatline_fanout_resyncs" in names
    assert "seatline_fanout_delivery_lag_seconds" in names
    assert "seatline_redis_reconnects" in names


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
async def test_metrics_add_up_across_workers(
    sqlite_database: DatabaseUnderTest, key_file: Path, tmp_path: Path, workers: int
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    stale = shared / "counter_999999.db"
    stale.write_bytes(b"left over from an earlier run")
    requests = 40
    async with live_server(
        sqlite_database.url,
        key_file,
        issuer=ISSUER,
        audience=AUDIENCE,
        extra_env={"PROMETHEUS_MULTIPROC_DIR": str(shared)},
        workers=workers,
    ) as url:
        assert not stale.exists()
        for _ in range(requests):
            # A new connection each time, so that every worker gets some.
            async with httpx.AsyncClient(base_url=url) as client:
                response = await client.post(
                    "/graphql", json={"query": "{ __typename }"}
                )
                assert response.status_code == 200
        scrapes = []
        for _ in range(4):
            async with httpx.AsyncClient(base_url=url) as client:
                scrapes.append((await client.get("/metrics")).text)

    writers = {path.stem.rsplit("_", 1)[1] for path in shared.glob("counter_*.db")}
    assert len(writers) == workers
    for text in scrapes:
        counted = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "seatline_http_requests_total"
            and sample.labels["route"] == "/graphql"
        )
        assert counted == requests
