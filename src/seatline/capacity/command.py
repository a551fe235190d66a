"""`seatline forecast`: the click command and its input checks."""

from __future__ import annotations

import importlib.util
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from seatline.capacity.inputs import (
    Capacity,
    InputError,
    parse_time,
    read_access_logs,
    read_capacity_file,
    read_on_sales,
)
from seatline.capacity.prometheus import DEFAULT_QUERY, check_url

FORECAST_PACKAGES = ("numpy", "pandas", "statsmodels", "matplotlib")
STEPS = {"1m": 60, "5m": 300, "15m": 900}


class InvalidInput(click.ClickException):
    """An input error, shown as "Error: FILE:LINE: message" with exit code 2."""

    exit_code = 2


@click.command(name="forecast")
@click.option(
    "--access-log",
    "access_logs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="JSON access log of `seatline serve` (repeatable); other lines are "
    "skipped and counted.",
)
@click.option(
    "--prometheus-url",
    help="Prometheus base URL (http or https) to read the history from, "
    "instead of access logs.",
)
@click.option(
    "--prometheus-query",
    default=DEFAULT_QUERY,
    show_default=True,
    help="PromQL for requests per second; {window} becomes the rate window.",
)
@click.option(
    "--history-days",
    type=click.FloatRange(min=0.1, max=90),
    default=14,
    show_default=True,
    help="Days of history to read from Prometheus.",
)
@click.option(
    "--on-sales",
    "on_sales_file",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV or JSON of upcoming on-sales: name, start (ISO 8601 with a UTC "
    "offset, or a timezone column), audience, and optionally "
    "requests_per_buyer, arrival_minutes and arrival_shape (exponential or flat).",
)
@click.option(
    "--past-on-sales",
    "past_on_sales_file",
    type=click.Path(path_type=Path),
    help="On-sales inside the history, same columns, with the audience they "
    "had: requests per buyer and the arrival curve are measured from them.",
)
@click.option(
    "--capacity-file",
    type=click.Path(path_type=Path),
    help="Capacity JSON written by the load test (requests_per_second_per_process).",
)
@click.option(
    "--capacity-rps",
    type=click.FloatRange(min=0, min_open=True),
    help="Requests per second that one API process serves, as measured.",
)
@click.option(
    "--headroom",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.7,
    show_default=True,
    help="Highest share of the measured capacity to run each process at.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5, max=0.999),
    default=0.95,
    show_default=True,
    help="Coverage of the prediction interval that processes are sized for.",
)
@click.option(
    "--step",
    type=click.Choice(list(STEPS)),
    default="1m",
    show_default=True,
    help="Bin width of the request-rate series.",
)
@click.option(
    "--chart",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a PNG chart of the history and the forecast to this file.",
)
@click.option(
    "--format",
    "table_format",
    type=click.Choice(["markdown", "plain"]),
    default="markdown",
    show_default=True,
    help="Table format on stdout.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table."
)
@click.option(
    "--now",
    help="Reference time (ISO 8601 with a UTC offset) that on-sales must be "
    "after; default: the current time. Use it to replay a past forecast.",
)
def forecast_command(
    access_logs: tuple[Path, ...],
    prometheus_url: str | None,
    prometheus_query: str,
    history_days: float,
    on_sales_file: Path,
    past_on_sales_file: Path | None,
    capacity_file: Path | None,
    capacity_rps: float | None,
    headroom: float,
    interval: float,
    step: str,
    chart: Path | None,
    table_format: str,
    as_json: bool,
    now: str | None,
) -> None:
    """Forecast the request rate around on-sales and recommend API processes."""
    _require_extra()
    if bool(access_logs) == bool(prometheus_url):
        raise click.UsageError("pass either --access-log or --prometheus-url")
    if (capacity_file is None) == (capacity_rps is None):
        raise click.UsageError("pass either --capacity-file or --capacity-rps")
    if chart is not None and chart.suffix.lower() != ".png":
        raise click.BadParameter(f"{chart} must end in .png", param_hint="--chart")
    try:
        _run(
            access_logs=access_logs,
            prometheus_url=prometheus_url,
            prometheus_query=prometheus_query,
            history_days=history_days,
            on_sales_file=on_sales_file,
            past_on_sales_file=past_on_sales_file,
            capacity=_capacity(capacity_file, capacity_rps),
            headroom=headroom,
            interval=interval,
            step_seconds=STEPS[step],
            chart=chart,
            table_format=table_format,
            as_json=as_json,
            now=_now(now),
        )
    except InputError as error:
        raise InvalidInput(str(error)) from error


def _require_extra() -> None:
    missing = [name for name in FORECAST_PACKAGES if not importlib.util.find_spec(name)]
    if missing:
        raise click.ClickException(
            f"seatline forecast needs {', '.join(missing)}: install the forecast "
            "extra with pip install 'seatline[forecast]'"
        )


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return parse_time(value, "--now", "--now")


def _capacity(capacity_file: Path | None, capacity_rps: float | None) -> Capacity:
    if capacity_file is not None:
        return read_capacity_file(capacity_file)
    assert capacity_rps is not None
    return Capacity(
        requests_per_second_per_process=capacity_rps, source="--capacity-rps"
    )


def _run(
    *,
    access_logs: tuple[Path, ...],
    prometheus_url: str | None,
    prometheus_query: str,
    history_days: float,
    on_sales_file: Path,
    past_on_sales_file: Path | None,
    capacity: Capacity,
    headroom: float,
    interval: float,
    step_seconds: int,
    chart: Path | None,
    table_format: str,
    as_json: bool,
    now: datetime,
) -> None:
    from seatline.capacity import chart as charts
    from seatline.capacity import model, prometheus, report, series

    on_sales = read_on_sales(on_sales_file, now)
    past_on_sales = (
        read_on_sales(past_on_sales_file, now, past=True)
        if past_on_sales_file is not None
        else []
    )
    if prometheus_url is not None:
        check_url(prometheus_url)
        end = math.floor(now.timestamp() / step_seconds) * step_seconds - step_seconds
        samples = prometheus.fetch_rates(
            prometheus_url,
            prometheus.query_for(prometheus_query, step_seconds),
            end - history_days * 86_400,
            end,
            step_seconds,
        )
        history = series.series_from_samples(samples, step_seconds)
        click.echo(f"history: {len(samples.times)} samples from Prometheus", err=True)
    else:
        logs = read_access_logs(access_logs)
        history = series.bin_request_times(
            logs.request_times, step_seconds, ", ".join(map(str, access_logs))
        )
        click.echo(f"history: {logs.summary()}", err=True)

    result = model.forecast(
        history,
        on_sales,
        capacity_rps=capacity.requests_per_second_per_process,
        headroom=headroom,
        interval=interval,
        past_on_sales=past_on_sales,
    )
    if chart is not None:
        try:
            charts.draw(result, chart)
        except OSError as error:
            raise InputError(str(chart), f"cannot be written: {error}") from error
    if as_json:
        document: dict[str, Any] = {
            **report.as_json(result),
            "capacity_source": capacity.source,
            "capacity": capacity.describe(),
        }
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        click.echo(
            report.table(result, "plain" if table_format == "plain" else "markdown")
        )
        click.echo(f"- {capacity.describe()}")
