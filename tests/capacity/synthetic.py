"""A synthetic request history with known true rates, as JSON access-log lines.

The baseline is a daily sinusoid of BASE_RATE ± AMPLITUDE requests per
second with Poisson arrivals; one past on-sale adds PAST_AUDIENCE *
REQUESTS_PER_BUYER requests that arrive on an exponential curve, 95% of them
within ARRIVAL_MINUTES.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

DAY = 86_400
BASE_RATE = 1.0
AMPLITUDE = 0.5
REQUESTS_PER_BUYER = 5.0
ARRIVAL_MINUTES = 30.0
PAST_AUDIENCE = 2_000
SEED = 20_261_204


def baseline_rate(timestamp: float) -> float:
    """The true request rate without on-sales, in requests per second."""
    return BASE_RATE + AMPLITUDE * math.sin(2 * math.pi * timestamp / DAY)


def first_minute_share(arrival_minutes: float = ARRIVAL_MINUTES) -> float:
    """Share of an on-sale's requests that arrive in its first minute."""
    tau = arrival_minutes / -math.log(0.05)
    return 1 - math.exp(-1 / tau)


@dataclass(frozen=True)
class History:
    start: float
    end: float
    past_on_sale: float
    requests: int


def write_history(
    path: Path, *, start: float, end: float, past_on_sale: float
) -> History:
    """Write access-log lines for [start, end), plus lines the reader must skip."""
    rng = np.random.default_rng(SEED)
    minutes = np.arange(start, end, 60.0)
    counts = rng.poisson([baseline_rate(t + 30) * 60 for t in minutes])
    times = np.concatenate(
        [t + rng.uniform(0, 60, size=n) for t, n in zip(minutes, counts, strict=True)]
    )
    surge_requests = round(PAST_AUDIENCE * REQUESTS_PER_BUYER)
    tau = ARRIVAL_MINUTES * 60 / -math.log(0.05)
    surge = past_on_sale + rng.exponential(tau, size=surge_requests)
    times = np.sort(np.concatenate([times, surge[surge < end]]))
    with path.open("wb") as file:
        file.write(b"uvicorn starting, not JSON\n")
        for index, time in enumerate(times):
            file.write(_request_line(float(time)) + b"\n")
            if index % 1000 == 0:
                file.write(_websocket_line(float(time)) + b"\n")
                file.write(_probe_line(float(time)) + b"\n")
                file.write(_other_logger_line(float(time)) + b"\n")
    return History(start=start, end=end, past_on_sale=past_on_sale, requests=len(times))


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def _access_line(
    time: float, message: str, duration_ms: float, extra: dict[str, Any]
) -> bytes:
    """Return a line as JsonFormatter writes it for the seatline.access logger."""
    return orjson.dumps(
        {
            "time": _iso(time),
            "level": "DEBUG" if extra.get("route") == "/readyz" else "INFO",
            "logger": "seatline.access",
            "message": message,
            "request_id": uuid.uuid4().hex,
            "operation": None,
            "principal": None,
            "duration_ms": duration_ms,
            "outcome": "ok",
            "extra": extra,
        }
    )


def _request_line(arrived: float) -> bytes:
    duration_ms = 12.5
    route = {"method": "POST", "path": "/graphql", "route": "/graphql", "status": 200}
    return _access_line(
        arrived + duration_ms / 1000, "POST /graphql 200", duration_ms, route
    )


def _websocket_line(time: float) -> bytes:
    closed = {"path": "/graphql", "accepted": True}
    return _access_line(time, "websocket closed", 60_000.0, closed)


def _probe_line(time: float) -> bytes:
    route = {"method": "GET", "path": "/readyz", "route": "/readyz", "status": 200}
    return _access_line(time, "GET /readyz 200", 1.0, route)


def _other_logger_line(time: float) -> bytes:
    entry = {"time": _iso(time), "level": "INFO", "logger": "seatline.sweeper"}
    return orjson.dumps({**entry, "message": "expired 0 holds"})
