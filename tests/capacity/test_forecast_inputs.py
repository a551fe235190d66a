"""Invalid inputs to `seatline forecast`: each one is a clear error, exit code 2."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from seatline.capacity.inputs import read_on_sales
from seatline.cli import main

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HEADER = "name,start,audience\n"
GOOD_ROW = "Spring tour,2026-06-02T10:00:00+02:00,5000\n"


def access_line(time: str, route: str = "/graphql") -> str:
    entry = {
        "time": time,
        "level": "INFO",
        "logger": "seatline.access",
        "message": f"POST {route} 200",
        "duration_ms": 3.0,
        "extra": {"method": "POST", "path": route, "route": route, "status": 200},
    }
    return orjson.dumps(entry).decode() + "\n"


# One request per second for two hours before NOW.
GOOD_LOG = "".join(
    access_line(
        datetime.fromtimestamp(NOW.timestamp() - 7200 + second, UTC).isoformat()
    )
    for second in range(0, 7200, 1)
)


@dataclass(frozen=True)
class Case:
    files: dict[str, str]
    arguments: list[str]
    message: str
    defaults: dict[str, str] = field(
        default_factory=lambda: {
            "--access-log": "access.log",
            "--on-sales": "upcoming.csv",
            "--capacity-rps": "10",
        }
    )


CASES = {
    "csv_audience_not_number": Case(
        {"upcoming.csv": HEADER + GOOD_ROW + "Gala,2026-06-03T20:00:00Z,many\n"},
        [],
        "upcoming.csv:3: audience must be a number, not 'many'",
    ),
    "csv_audience_negative": Case(
        {"upcoming.csv": HEADER + "Gala,2026-06-03T20:00:00Z,-5\n"},
        [],
        "upcoming.csv:2: audience must be 0 or more, not -5",
    ),
    "csv_audience_fraction": Case(
        {"upcoming.csv": HEADER + "Gala,2026-06-03T20:00:00Z,10.5\n"},
        [],
        "upcoming.csv:2: audience must be a whole number",
    ),
    "csv_time_without_zone": Case(
        {"upcoming.csv": HEADER + "Gala,2026-06-03T20:00:00,100\n"},
        [],
        "upcoming.csv:2: start '2026-06-03T20:00:00' has no time zone",
    ),
    "csv_time_invalid": Case(
        {"upcoming.csv": HEADER + "Gala,next friday,100\n"},
        [],
        "upcoming.csv:2: start 'next friday' is not an ISO 8601 time",
    ),
    "csv_unknown_zone": Case(
        {
            "upcoming.csv": "name,start,audience,timezone\n"
            "Gala,2026-06-03T20:00:00,100,Mars/Olympus\n"
        },
        [],
        "upcoming.csv:2: unknown time zone 'Mars/Olympus'",
    ),
    "csv_on_sale_in_past": Case(
        {"upcoming.csv": HEADER + "Gala,2026-05-01T20:00:00Z,100\n"},
        [],
        "upcoming.csv:2: on-sale 'Gala' started at 2026-05-01T20:00:00+00:00, "
        "before now",
    ),
    "csv_unknown_column": Case(
        {"upcoming.csv": "name,start,audiance\nGala,2026-06-03T20:00:00Z,100\n"},
        [],
        "upcoming.csv:1: missing column(s): audience",
    ),
    "csv_extra_column": Case(
        {"upcoming.csv": "name,start,audience,venue\nGala,2026-06-03T20:00:00Z,1,A\n"},
        [],
        "upcoming.csv:1: unknown column(s): venue",
    ),
    "csv_extra_values": Case(
        {"upcoming.csv": HEADER + "Gala,2026-06-03T20:00:00Z,100,oops\n"},
        [],
        "upcoming.csv:2: has more values than the header has columns",
    ),
    "csv_no_rows": Case({"upcoming.csv": HEADER}, [], "contains no on-sales"),
    "csv_requests_per_buyer_zero": Case(
        {
            "upcoming.csv": "name,start,audience,requests_per_buyer\n"
            "Gala,2026-06-03T20:00:00Z,100,0\n"
        },
        [],
        "upcoming.csv:2: requests_per_buyer must be more than 0",
    ),
    "csv_arrival_too_long": Case(
        {
            "upcoming.csv": "name,start,audience,arrival_minutes\n"
            "Gala,2026-06-03T20:00:00Z,100,5000\n"
        },
        [],
        "upcoming.csv:2: arrival_minutes must be from 1 to 1440",
    ),
    "csv_arrival_shape_unknown": Case(
        {
            "upcoming.csv": "name,start,audience,arrival_minutes,arrival_shape\n"
            "Gala,2026-06-03T20:00:00Z,100,30,gaussian\n"
        },
        [],
        "upcoming.csv:2: arrival_shape must be one of exponential, flat, "
        "not 'gaussian'",
    ),
    "csv_flat_without_minutes": Case(
        {
            "upcoming.csv": "name,start,audience,arrival_shape\n"
            "Gala,2026-06-03T20:00:00Z,100,flat\n"
        },
        [],
        "upcoming.csv:2: arrival_shape flat needs arrival_minutes",
    ),
    "json_not_array": Case(
        {"upcoming.json": '{"name": "Gala"}'},
        ["--on-sales", "upcoming.json"],
        "upcoming.json: must contain a JSON array of on-sale objects",
    ),
    "json_item_without_zone": Case(
        {
            "upcoming.json": orjson.dumps(
                [
                    {"name": "A", "start": "2026-06-03T20:00:00Z", "audience": 1},
                    {"name": "B", "start": "2026-06-03T20:00:00", "audience": 1},
                ]
            ).decode()
        },
        ["--on-sales", "upcoming.json"],
        "upcoming.json: on-sale 2: start '2026-06-03T20:00:00' has no time zone",
    ),
    "json_invalid": Case(
        {"upcoming.json": "[{"},
        ["--on-sales", "upcoming.json"],
        "upcoming.json: is not valid JSON",
    ),
    "on_sales_unknown_format": Case(
        {"upcoming.txt": HEADER + GOOD_ROW},
        ["--on-sales", "upcoming.txt"],
        "upcoming.txt: unknown on-sales format; use a .csv or .json file",
    ),
    "on_sales_missing_file": Case(
        {},
        ["--on-sales", "missing.csv"],
        "missing.csv: cannot be read: No such file or directory",
    ),
    "past_on_sale_in_future": Case(
        {"past.csv": HEADER + GOOD_ROW},
        ["--past-on-sales", "past.csv"],
        "past.csv:2: on-sale 'Spring tour' starts at 2026-06-02T10:00:00+02:00, "
        "which is not in the past",
    ),
    "access_log_missing_file": Case(
        {},
        ["--access-log", "gone.log"],
        "gone.log: cannot be read: No such file or directory",
    ),
    "access_log_empty_history": Case(
        {"plain.log": "INFO started\nnot json either\n"},
        ["--access-log", "plain.log"],
        "plain.log: no HTTP requests of the seatline.access logger found "
        "(0 HTTP requests from 2 lines; skipped 2 non-JSON lines",
    ),
    "access_log_only_probes": Case(
        {"probes.log": access_line("2026-06-01T11:00:00+00:00", route="/healthz")},
        ["--access-log", "probes.log"],
        "1 probe or scrape requests",
    ),
    "access_log_bad_time": Case(
        {"bad.log": GOOD_LOG[:500].rsplit("\n", 1)[0] + "\n" + access_line("noon")},
        ["--access-log", "bad.log"],
        "time 'noon' is not an ISO 8601 time",
    ),
    "access_log_time_without_zone": Case(
        {"naive.log": access_line("2026-06-01T11:00:00")},
        ["--access-log", "naive.log"],
        "naive.log:1: time '2026-06-01T11:00:00' has no time zone",
    ),
    "access_log_too_short": Case(
        {"short.log": GOOD_LOG[: len(GOOD_LOG) // 100]},
        ["--access-log", "short.log"],
        "short.log: the history covers 1 complete bin(s) of 60 s; "
        "a forecast needs at least 12 bins and 3 hours of history",
    ),
    "access_log_under_three_hours": Case(
        {},
        [],
        "history: the history covers 1.75 hours of complete bins; the baseline "
        "model needs at least 3 hours",
    ),
    "capacity_file_without_rate": Case(
        {"capacity.json": '{"processes": 2, "users": 100}'},
        ["--capacity-rps", None, "--capacity-file", "capacity.json"],
        "capacity.json: requests_per_second_per_process must be a number above 0",
    ),
    "capacity_file_not_json": Case(
        {"capacity.json": "rps=40"},
        ["--capacity-rps", None, "--capacity-file", "capacity.json"],
        "capacity.json: is not valid JSON",
    ),
    "prometheus_url_not_http": Case(
        {},
        ["--access-log", None, "--prometheus-url", "file:///etc/passwd"],
        "--prometheus-url: 'file:///etc/passwd' is not an http:// or https:// URL",
    ),
    "no_history_source": Case(
        {},
        ["--access-log", None],
        "pass either --access-log or --prometheus-url",
    ),
    "two_capacity_sources": Case(
        {"capacity.json": '{"requests_per_second_per_process": 40}'},
        ["--capacity-file", "capacity.json"],
        "pass either --capacity-file or --capacity-rps",
    ),
    "chart_not_png": Case(
        {},
        ["--chart", "forecast.svg"],
        "forecast.svg must end in .png",
    ),
    "headroom_above_one": Case(
        {}, ["--headroom", "1.5"], "Invalid value for '--headroom'"
    ),
}


def command_line(case: Case) -> list[str]:
    options: dict[str, str | None] = dict(case.defaults)
    pairs = zip(case.arguments[::2], case.arguments[1::2], strict=True)
    for name, value in pairs:
        options[name] = value
    arguments = ["forecast", "--now", NOW.isoformat()]
    for name, value in options.items():
        if value is not None:
            arguments += [name, value]
    return arguments


@pytest.mark.parametrize("name", list(CASES))
def test_forecast_input_rejected(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "access.log").write_text(GOOD_LOG)
    (tmp_path / "upcoming.csv").write_text(HEADER + GOOD_ROW)
    for file_name, text in case.files.items():
        (tmp_path / file_name).write_text(text)

    result = CliRunner().invoke(main, command_line(case))

    assert result.exit_code == 2, result.output
    assert case.message in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_on_sales_timezone_column(tmp_path: Path) -> None:
    path = tmp_path / "upcoming.csv"
    path.write_text(
        "name,start,audience,timezone,requests_per_buyer,arrival_minutes\n"
        "Gala,2026-07-01T10:00:00,2500,Europe/Paris,8.5,45\n"
    )

    (on_sale,) = read_on_sales(path, NOW)

    assert on_sale.start == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert on_sale.audience == 2500
    assert on_sale.requests_per_buyer == 8.5
    assert on_sale.arrival_minutes == 45
    assert on_sale.where == f"{path}:2"
