"""`seatline forecast` on a synthetic history with known true rates.

Three days of access logs: a daily sinusoid of 1 ± 0.5 requests per second
and one past on-sale of 2,000 buyers at 5 requests each. The upcoming
on-sale has 6,000 buyers. A measured capacity of 20 requests per second
per process, used at 70%, gives 14 requests per second per process. The
true upper peak is about 49 requests per second (47.5 of surge, 1.3 of
baseline, 0.4 of noise), so 4 processes are needed. The tolerances below
(10% for rates, 5% for requests per buyer) cover the Poisson noise of one
fixed seed with room to spare, and the process count stays 4 anywhere from
42 to 56 requests per second.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from seatline.capacity import model, report
from seatline.capacity.inputs import OnSale
from seatline.capacity.series import RateSeries
from tests.capacity import synthetic
from tests.capacity.support import COMMAND_TIMEOUT_SECONDS, ROOT, iso, seatline
from tests.capacity.synthetic import DAY

UPCOMING_AUDIENCE = 6_000
CAPACITY_RPS = 20.0
HEADROOM = 0.7
EXPECTED_PROCESSES = 4
RATE_TOLERANCE = 0.10
PER_BUYER_TOLERANCE = 0.05
CHART_SIZE = (1200, 800)


@dataclass(frozen=True)
class Scenario:
    directory: Path
    history: synthetic.History
    upcoming: float

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"

    @property
    def on_sales(self) -> Path:
        return self.directory / "upcoming.csv"

    @property
    def past_on_sales(self) -> Path:
        return self.directory / "past.json"

    @property
    def chart(self) -> Path:
        return self.directory / "forecast.png"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    directory = tmp_path_factory.mktemp("forecast")
    now = math.floor(time.time() / 60) * 60
    history = synthetic.write_history(
        directory / "access.log",
        start=now - 3 * DAY,
        end=now,
        past_on_sale=now - 30 * 3600,
    )
    upcoming = now + 6 * 3600
    (directory / "upcoming.csv").write_text(
        f"name,start,audience\nSpring tour,{iso(upcoming)},{UPCOMING_AUDIENCE}\n"
    )
    (directory / "past.json").write_bytes(
        orjson.dumps(
            [
                {
                    "name": "Winter gala",
                    "start": iso(history.past_on_sale),
                    "audience": synthetic.PAST_AUDIENCE,
                }
            ]
        )
    )
    return Scenario(directory=directory, history=history, upcoming=upcoming)


@pytest.fixture(scope="module")
def run(scenario: Scenario) -> subprocess.CompletedProcess[str]:
    return seatline(
        "forecast",
        "--access-log",
        str(scenario.access_log),
        "--on-sales",
        str(scenario.on_sales),
        "--past-on-sales",
        str(scenario.past_on_sales),
        "--capacity-rps",
        str(CAPACITY_RPS),
        "--headroom",
        str(HEADROOM),
        "--chart",
        str(scenario.chart),
        "--json",
    )


@pytest.fixture(scope="module")
def result(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, run.stderr
    document: dict[str, Any] = orjson.loads(run.stdout)
    return document


def within(value: float, truth: float, tolerance: float) -> bool:
    return abs(value - truth) <= tolerance * truth


def test_forecast_baseline_matches_truth(result: dict[str, Any]) -> None:
    on_sale = result["on_sales"][0]
    peak = datetime.fromisoformat(on_sale["peak_time"]).timestamp()
    truth = synthetic.baseline_rate(peak + 30)

    assert within(on_sale["baseline_at_peak"], truth, RATE_TOLERANCE), truth


def test_forecast_surge_peak_matches_truth(result: dict[str, Any]) -> None:
    on_sale = result["on_sales"][0]
    truth = (
        UPCOMING_AUDIENCE
        * synthetic.REQUESTS_PER_BUYER
        * synthetic.first_minute_share()
        / 60
    )

    assert within(on_sale["surge_peak_rate"], truth, RATE_TOLERANCE), truth
    peak = datetime.fromisoformat(on_sale["peak_time"])
    assert peak == datetime.fromisoformat(on_sale["start"])


def test_forecast_requests_per_buyer_measured(result: dict[str, Any]) -> None:
    on_sale = result["on_sales"][0]

    assert on_sale["requests_per_buyer_source"] == "past on-sales"
    assert within(
        on_sale["requests_per_buyer"],
        synthetic.REQUESTS_PER_BUYER,
        PER_BUYER_TOLERANCE,
    )


def test_forecast_past_surge_found(result: dict[str, Any], scenario: Scenario) -> None:
    surges = result["surges"]
    truth = synthetic.PAST_AUDIENCE * synthetic.REQUESTS_PER_BUYER

    assert len(surges) == 1
    start = datetime.fromisoformat(surges[0]["start"]).timestamp()
    assert abs(start - scenario.history.past_on_sale) <= 60
    assert within(surges[0]["excess_requests"], truth, PER_BUYER_TOLERANCE)


def test_forecast_processes_known_value(result: dict[str, Any]) -> None:
    on_sale = result["on_sales"][0]
    per_process = CAPACITY_RPS * HEADROOM

    assert result["processes"] == EXPECTED_PROCESSES
    assert on_sale["processes"] == math.ceil(on_sale["peak_upper"] / per_process)
    assert on_sale["peak_upper"] > on_sale["peak_rate"]


def test_forecast_counts_skipped_lines(
    run: subprocess.CompletedProcess[str], scenario: Scenario
) -> None:
    extra_lines = math.ceil(scenario.history.requests / 1000)

    assert f"{scenario.history.requests} HTTP requests" in run.stderr
    assert "skipped 1 non-JSON lines" in run.stderr
    assert f"{extra_lines} lines of other loggers" in run.stderr
    assert f"{extra_lines} websocket lines" in run.stderr
    assert f"{extra_lines} probe or scrape requests" in run.stderr


def test_forecast_chart_is_png(result: dict[str, Any], scenario: Scenario) -> None:
    data = scenario.chart.read_bytes()

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert (width, height) == CHART_SIZE


def poisson_series(days: float, rate: float, step: int = 60) -> RateSeries:
    rng = np.random.default_rng(7)
    bins = int(days * DAY / step)
    counts = rng.poisson(rate * step, size=bins).astype(np.float64)
    return RateSeries(start=0.0, step=step, rates=counts / step)


def on_sale_after(
    history: RateSeries,
    name: str,
    seconds: float,
    audience: int,
    requests_per_buyer: float | None = None,
    arrival_minutes: float | None = None,
) -> OnSale:
    """Return an on-sale that starts `seconds` after the history ends."""
    return OnSale(
        name=name,
        start=datetime.fromtimestamp(history.end + seconds, UTC),
        audience=audience,
        requests_per_buyer=requests_per_buyer,
        arrival_minutes=arrival_minutes,
    )


def test_report_markdown_table() -> None:
    history = poisson_series(days=3, rate=2.0)
    on_sale = on_sale_after(history, "Spring tour", 6 * 3600, UPCOMING_AUDIENCE)

    result = model.forecast(
        history, [on_sale], capacity_rps=CAPACITY_RPS, headroom=HEADROOM
    )
    lines = report.table(result, "markdown").splitlines()

    assert lines[0].startswith("| on-sale | start (UTC) | audience |")
    assert lines[1].startswith("| --- |")
    assert lines[2].startswith("| Spring tour |")
    assert "(default)" in lines[2]
    assert lines[4].startswith(f"Recommended API processes: {result.processes} ")
    assert any("Holt-Winters" in line for line in lines)


def test_report_plain_table_aligns() -> None:
    history = poisson_series(days=1, rate=2.0)
    on_sale = on_sale_after(history, "Matinee", 3600, 100)

    result = model.forecast(history, [on_sale], capacity_rps=50, headroom=0.5)
    header, row = report.table(result, "plain").splitlines()[:2]

    assert header.index("audience") == row.index("100")


def test_forecast_short_history_falls_back() -> None:
    history = poisson_series(days=1, rate=2.0)
    on_sale = on_sale_after(
        history, "Matinee", 3600, 1_000, requests_per_buyer=6, arrival_minutes=20
    )

    result = model.forecast(history, [on_sale], capacity_rps=50, headroom=0.5)

    assert any("simple exponential smoothing" in note for note in result.notes)
    assert within(result.on_sales[0].baseline_at_peak, 2.0, RATE_TOLERANCE)
    assert result.on_sales[0].surge_requests == pytest.approx(6_000)
    assert result.on_sales[0].requests_per_buyer_source == "on-sales file"


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(0.0, 2), (14.0, 2), (28.0, 2), (28.01, 3), (55.9, 4)],
)
def test_processes_for_rates(rate: float, expected: int) -> None:
    assert model.processes_for(rate, CAPACITY_RPS, HEADROOM) == expected


def test_forecast_without_extra_names_it(scenario: Scenario) -> None:
    # None in sys.modules makes an import fail as if the package were absent.
    code = (
        "import sys; sys.modules['statsmodels'] = None; "
        "from seatline.cli import main; main()"
    )
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "forecast",
            "--access-log",
            str(scenario.access_log),
            "--on-sales",
            str(scenario.on_sales),
            "--capacity-rps",
            "10",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )

    assert completed.returncode == 1
    assert "pip install 'seatline[forecast]'" in completed.stderr
    assert "statsmodels" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, seatline.cli; "
        "print(sorted({'numpy', 'pandas', 'statsmodels', 'matplotlib'} "
        "& set(sys.modules)))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=True,
    )

    assert completed.stdout.strip() == "[]"


def test_forecast_flat_arrival_rate() -> None:
    history = poisson_series(days=1, rate=2.0)
    on_sale = OnSale(
        name="Cup final",
        start=datetime.fromtimestamp(history.end + 3600, UTC),
        audience=12_000,
        requests_per_buyer=5,
        arrival_minutes=40,
        arrival_shape="flat",
    )

    result = model.forecast(history, [on_sale], capacity_rps=50, headroom=0.5)

    # 60,000 requests over 40 minutes: 25 requests per second throughout.
    assert result.on_sales[0].surge_peak_rate == pytest.approx(25.0)
    assert result.on_sales[0].surge_requests == pytest.approx(60_000)
    assert result.on_sales[0].curve.description == "flat over 40 min"


def test_forecast_zero_audience_is_baseline() -> None:
    history = poisson_series(days=1, rate=2.0)
    on_sale = on_sale_after(history, "Rehearsal", 3600, 0)

    result = model.forecast(history, [on_sale], capacity_rps=50, headroom=0.5)

    assert result.on_sales[0].surge_requests == 0
    assert result.on_sales[0].peak_rate == result.on_sales[0].baseline_at_peak
    assert result.processes == model.MIN_PROCESSES
