"""Request-rate history from a Prometheus server's query_range API."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from seatline.capacity.inputs import PROBE_ROUTES, InputError

# Requests per second that buyers and partners bring, probes and scrapes left
# out as in the access logs. "{window}" becomes the rate window in seconds.
DEFAULT_QUERY = (
    "sum(rate(seatline_http_requests_total"
    '{route!~"' + "|".join(sorted(PROBE_ROUTES)) + '"}[{window}]))'
)
# Prometheus needs two samples inside a rate window: 2 minutes covers a
# scrape interval of up to 1 minute (ops/prometheus/prometheus.yml uses 15 s).
MIN_RATE_WINDOW_SECONDS = 120
# query_range returns at most 11,000 points per series.
MAX_POINTS_PER_QUERY = 10_000
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class RateSamples:
    """Request rates (per second) at evenly spaced times (seconds since the epoch)."""

    times: list[float]
    rates: list[float]


def check_url(url: str) -> str:
    """Return the base URL without a trailing slash; reject non-HTTP URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            "--prometheus-url",
            f"{url!r} is not an http:// or https:// URL with a host",
        )
    return url.rstrip("/")


def query_for(template: str, step_seconds: int) -> str:
    window = max(step_seconds, MIN_RATE_WINDOW_SECONDS)
    return template.replace("{window}", f"{window}s")


def fetch_rates(
    url: str, query: str, start: float, end: float, step_seconds: int
) -> RateSamples:
    """Run `query` over [start, end] and add up the series it returns."""
    base = check_url(url)
    totals: dict[float, float] = {}
    chunk = MAX_POINTS_PER_QUERY * step_seconds
    with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + chunk - step_seconds)
            for time, rate in _query_range(
                client, base, query, chunk_start, chunk_end, step_seconds
            ):
                totals[time] = totals.get(time, 0.0) + rate
            chunk_start = chunk_end + step_seconds
    if not totals:
        raise InputError(
            base,
            f"the query {query!r} returned no samples between "
            f"{start:.0f} and {end:.0f}; check the metric name and --history-days",
        )
    times = sorted(totals)
    return RateSamples(times=times, rates=[totals[time] for time in times])


def _query_range(
    client: httpx.Client,
    base: str,
    query: str,
    start: float,
    end: float,
    step_seconds: int,
) -> list[tuple[float, float]]:
    endpoint = f"{base}/api/v1/query_range"
    params: dict[str, str | float] = {
        "query": query,
        "start": start,
        "end": end,
        "step": step_seconds,
    }
    try:
        response = client.get(endpoint, params=params)
        body = response.json()
    except httpx.HTTPError as error:
        raise InputError(endpoint, f"request failed: {error}") from error
    except ValueError as error:
        raise InputError(
            endpoint, f"returned HTTP {response.status_code} without JSON"
        ) from error
    if not isinstance(body, dict) or body.get("status") != "success":
        detail = body.get("error") if isinstance(body, dict) else body
        raise InputError(
            endpoint, f"query failed with HTTP {response.status_code}: {detail}"
        )
    data = body.get("data", {})
    if data.get("resultType") != "matrix":
        raise InputError(
            endpoint, f"expected a range vector, got {data.get('resultType')!r}"
        )
    samples = []
    for series in data.get("result", []):
        for time, value in series.get("values", []):
            rate = float(value)
            # NaN appears when a counter is divided by zero time; treat as no data.
            if math.isfinite(rate):
                samples.append((float(time), rate))
    return samples
