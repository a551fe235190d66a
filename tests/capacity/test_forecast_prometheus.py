"""`seatline forecast --prometheus-url` against a real Prometheus server.

promtool backfills three days of the synthetic history as counter samples
every 15 s into a fresh data directory; a Prometheus server started on that
directory, on a loopback port, serves the forecast's query_range calls.
A busy /readyz counter is in the data too, and the default query must leave
it out.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from tests.capacity import synthetic
from tests.capacity.support import COMMAND_TIMEOUT_SECONDS, iso, seatline
from tests.capacity.synthetic import DAY
from tests.live import free_port
from tests.ops.support import require_tool

SCRAPE_SECONDS = 15
PROBE_RATE = 5.0
UPCOMING_AUDIENCE = 6_000
CAPACITY = {
    "requests_per_second_per_process": 25.0,
    "processes": 2,
    "users": 500,
    "command": "locust --headless -u 500",
    "measured_at": "2026-11-30T10:00:00+00:00",
}
# The true upper peak is about 49 requests per second; the default query's
# 2-minute rate window flattens the surge's first minutes to about 44. At
# 25 * 0.7 = 17.5 requests per second per process, anything from 35 to 52.5
# needs 3 processes.
EXPECTED_PROCESSES = 3
TOLERANCE = 0.10
START_TIMEOUT_SECONDS = 30


def graphql_requests(times: np.ndarray, past_on_sale: float) -> np.ndarray:
    """Return the exact request count from times[0] to each time."""
    omega = 2 * math.pi / DAY
    base = synthetic.BASE_RATE * (times - times[0]) - synthetic.AMPLITUDE / omega * (
        np.cos(omega * times) - np.cos(omega * times[0])
    )
    tau = synthetic.ARRIVAL_MINUTES * 60 / -math.log(0.05)
    total = synthetic.PAST_AUDIENCE * synthetic.REQUESTS_PER_BUYER
    since = np.maximum(times - past_on_sale, 0.0)
    return np.asarray(base + total * (1 - np.exp(-since / tau)), dtype=np.float64)


def openmetrics(start: float, end: float, past_on_sale: float) -> str:
    times = np.arange(start, end + 1, SCRAPE_SECONDS, dtype=np.float64)
    graphql = graphql_requests(times, past_on_sale)
    probes = PROBE_RATE * (times - start)
    lines = [
        "# HELP seatline_http_requests HTTP requests answered.",
        "# TYPE seatline_http_requests counter",
    ]
    labels = 'route="/graphql",method="POST",status="200"'
    lines += [
        f"seatline_http_requests_total{{{labels}}} {value:.3f} {int(t)}"
        for t, value in zip(times, graphql, strict=True)
    ]
    labels = 'route="/readyz",method="GET",status="200"'
    lines += [
        f"seatline_http_requests_total{{{labels}}} {value:.3f} {int(t)}"
        for t, value in zip(times, probes, strict=True)
    ]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def history_window() -> tuple[float, float, float]:
    end = math.floor(time.time() / SCRAPE_SECONDS) * SCRAPE_SECONDS
    return end - 3 * DAY, end, end - 30 * 3600


@pytest.fixture(scope="module")
def prometheus_url(
    tmp_path_factory: pytest.TempPathFactory,
    history_window: tuple[float, float, float],
) -> Iterator[str]:
    promtool = require_tool("promtool")
    prometheus = require_tool("prometheus")
    directory = tmp_path_factory.mktemp("prometheus")

    samples = directory / "samples.om"
    samples.write_text(openmetrics(*history_window))
    data = directory / "data"
    subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(samples),
            str(data),
        ],
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )

    config = directory / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    try:
        _wait_ready(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=START_TIMEOUT_SECONDS)
        if server.stderr is not None:
            server.stderr.close()


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            stderr = server.stderr.read().decode() if server.stderr else ""
            pytest.fail(f"prometheus exited with {server.returncode}: {stderr}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus at {url} was not ready in {START_TIMEOUT_SECONDS} s")


@pytest.fixture(scope="module")
def result(
    prometheus_url: str,
    history_window: tuple[float, float, float],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    _, end, past_on_sale = history_window
    directory = tmp_path_factory.mktemp("prometheus-forecast")
    (directory / "upcoming.csv").write_text(
        f"name,start,audience\nSpring tour,{iso(end + 6 * 3600)},{UPCOMING_AUDIENCE}\n"
    )
    (directory / "past.csv").write_text(
        f"name,start,audience\nWinter gala,{iso(past_on_sale)},"
        f"{synthetic.PAST_AUDIENCE}\n"
    )
    (directory / "capacity.json").write_bytes(orjson.dumps(CAPACITY))
    completed = seatline(
        "forecast",
        "--prometheus-url",
        prometheus_url,
        "--history-days",
        "3",
        "--on-sales",
        str(directory / "upcoming.csv"),
        "--past-on-sales",
        str(directory / "past.csv"),
        "--capacity-file",
        str(directory / "capacity.json"),
        "--json",
    )
    assert completed.returncode == 0, completed.stderr
    document: dict[str, Any] = orjson.loads(completed.stdout)
    return document


def within(value: float, truth: float) -> bool:
    return abs(value - truth) <= TOLERANCE * truth


def test_prometheus_history_leaves_out_probes(result: dict[str, Any]) -> None:
    # With the /readyz counter the mean would be near BASE_RATE + PROBE_RATE.
    assert within(result["history"]["mean_rate"], synthetic.BASE_RATE)


def test_prometheus_baseline_matches_truth(result: dict[str, Any]) -> None:
    on_sale = result["on_sales"][0]
    peak = datetime.fromisoformat(on_sale["peak_time"]).timestamp()

    assert within(on_sale["baseline_at_peak"], synthetic.baseline_rate(peak + 30))


def test_prometheus_past_surge_measured(
    result: dict[str, Any], history_window: tuple[float, float, float]
) -> None:
    on_sale = result["on_sales"][0]

    assert len(result["surges"]) == 1
    start = datetime.fromisoformat(result["surges"][0]["start"]).timestamp()
    assert abs(start - history_window[2]) <= 120
    assert within(on_sale["requests_per_buyer"], synthetic.REQUESTS_PER_BUYER)


def test_prometheus_processes_known_value(result: dict[str, Any]) -> None:
    assert result["processes"] == EXPECTED_PROCESSES
    assert result["capacity_rps_per_process"] == 25.0
    assert result["capacity_source"].endswith("capacity.json")
    assert result["capacity"].endswith(
        "(measured at 2026-11-30T10:00:00+00:00 with 2 processes and 500 users "
        "by `locust --headless -u 500`)."
    )


def test_prometheus_unreachable_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "upcoming.csv").write_text(
        f"name,start,audience\nGala,{iso(time.time() + 3600)},100\n"
    )
    url = f"http://127.0.0.1:{free_port()}"

    completed = seatline(
        "forecast",
        "--prometheus-url",
        url,
        "--on-sales",
        str(tmp_path / "upcoming.csv"),
        "--capacity-rps",
        "10",
    )

    assert completed.returncode == 2
    assert f"{url}/api/v1/query_range: request failed" in completed.stderr
    assert "Traceback" not in completed.stderr
