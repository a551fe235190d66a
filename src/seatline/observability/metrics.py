"""Prometheus metrics: their definitions and the /metrics endpoint.

Every label takes values from a small fixed set (operation names of the
schema's root fields, error codes, outcomes), never ids, so the number of
series stays bounded whatever clients send.

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR before the
workers start (`seatline serve --workers N` does it in seatline.server).
Each worker then writes its values to files there, and /metrics, served by
any one worker, adds up all of them. Gauges declare how they combine across
workers (`multiprocess_mode`), and "live" modes ignore workers that exited.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds; from a cached query (milliseconds) to a payment with a slow
# provider (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Requests and GraphQL operations

GRAPHQL_DURATION = Histogram(
    "seatline_graphql_operation_duration_seconds",
    "Time to answer a GraphQL query or mutation, from receipt to result.",
    ["operation", "operation_type"],
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_ERRORS = Counter(
    "seatline_graphql_errors_total",
    "GraphQL operations that ended in an error, by code: typed results such "
    "as SEATS_UNAVAILABLE as well as errors in the response's errors list.",
    ["operation", "code"],
)
GRAPHQL_SUBSCRIPTIONS = Gauge(
    "seatline_graphql_subscriptions_active",
    "GraphQL subscriptions running in this process.",
    ["operation"],
    multiprocess_mode="livesum",
)
HTTP_REQUESTS = Counter(
    "seatline_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "seatline_http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
WEBSOCKETS = Gauge(
    "seatline_websocket_connections_active",
    "Open websocket connections.",
    multiprocess_mode="livesum",
)

# Booking outcomes, recorded by seatline.observability.outcomes

HOLDS = Counter(
    "seatline_holds_total",
    "Holds by what happened to them: created, released by the buyer, or "
    "expired by the sweeper.",
    ["outcome"],
)
HOLD_CONFLICTS = Counter(
    "seatline_hold_conflicts_total",
    "Hold requests rejected with SEATS_UNAVAILABLE: other buyers held or "
    "bought the requested seats, or every block of seats that would fit.",
)
ORDERS = Counter(
    "seatline_orders_total",
    "Orders by what happened to them: created at checkout, paid, expired "
    "unpaid, cancelled, or refunded.",
    ["outcome"],
)
PAYMENTS = Counter(
    "seatline_payments_total",
    "Payment attempts by outcome: captured, declined by the provider, failed "
    "(provider error, retryable), or rejected (unknown payment token).",
    ["outcome"],
)
REFUNDS = Counter(
    "seatline_refunds_total",
    "Refunds issued, by reason: the buyer cancelled, the organizer cancelled "
    "the event, or a late payment found its seats sold.",
    ["reason"],
)

# Background work and dependencies

SWEEPER_RUNS = Counter(
    "seatline_sweeper_runs_total",
    "Sweeper rounds by outcome: ok, busy (rows locked, retried next round) or failed.",
    ["outcome"],
)
SWEEPER_LAST_SUCCESS = Gauge(
    "seatline_sweeper_last_success_timestamp_seconds",
    "Unix time of the last sweeper round that finished without an error.",
    multiprocess_mode="livemax",
)
DB_POOL_IN_USE = Gauge(
    "seatline_db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "seatline_db_pool_connections_max",
    "Most connections the pool opens: pool size plus overflow.",
    multiprocess_mode="livesum",
)
DEPENDENCY_UP = Gauge(
    "seatline_dependency_up",
    "1 when the last check reached the dependency (database or redis), else 0.",
    ["dependency"],
    multiprocess_mode="livemin",
)

# Fan-out of live seat maps. Defined here and wired in by
# seatline.subscriptions; see the help text of each for where it is updated.

FANOUT_QUEUE_DEPTH = Gauge(
    "seatline_fanout_queue_depth",
    "Seat changes buffered in this process's local subscribers and not yet "
    "sent, summed over subscribers. Set it when a feed delivers a delta and "
    "when a subscriber takes its pending changes.",
    multiprocess_mode="livesum",
)
FANOUT_RESYNCS = Counter(
    "seatline_fanout_resyncs_total",
    "Snapshots sent to live streams because they lost track, by reason: gap, "
    "overflow (too many pending changes), heartbeat (a newer version never "
    "arrived), reconnect (the broadcast connection was replaced) or "
    "late_start (changes were missed before the first message).",
    ["reason"],
)
FANOUT_DELIVERY_LAG = Histogram(
    "seatline_fanout_delivery_lag_seconds",
    "Time from publishing a seat change batch (after its commit) to handing "
    "the delta that contains it to a subscriber's stream. Needs the publish "
    "time in the batch message.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
FANOUT_SUBSCRIBERS = Gauge(
    "seatline_fanout_subscribers",
    "Local seat map subscribers attached to a channel feed in this process.",
    multiprocess_mode="livesum",
)
FANOUT_CHANNELS = Gauge(
    "seatline_fanout_channels",
    "Event channels this process holds a broadcaster subscription for.",
    multiprocess_mode="livesum",
)
REDIS_RECONNECTS = Counter(
    "seatline_redis_reconnects_total",
    "Times the broadcast connection to Redis was replaced after it died.",
)


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def mark_process_exited() -> None:
    """Drop this process's live gauges from the shared directory."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """Render every metric in the text format, across workers when shared."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


async def metrics_endpoint(request: Request) -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def instrument_pool(engine: AsyncEngine, capacity: int | None) -> None:
    """Count connections checked out of the engine's pool.

    `capacity` is the pool's size plus overflow, when it has a fixed one.
    """
    pool = engine.sync_engine.pool

    def on_checkout(*_: Any) -> None:
        DB_POOL_IN_USE.inc()

    def on_checkin(*_: Any) -> None:
        DB_POOL_IN_USE.dec()

    event.listen(pool, "checkout", on_checkout)
    event.listen(pool, "checkin", on_checkin)
    if capacity is not None:
        DB_POOL_CAPACITY.inc(capacity)


def release_pool_capacity(capacity: int | None) -> None:
    if capacity is not None:
        DB_POOL_CAPACITY.dec(capacity)
