"""A PNG chart of the history, the forecast and the capacity it recommends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # Files only: no display on servers and in CI.

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import NDArray

from seatline.capacity.model import Forecast, OnSaleForecast
from seatline.capacity.series import FloatArray

WIDTH_INCHES = 12
HEIGHT_INCHES = 8
DPI = 100
# The overview shows at most this much history before the forecast.
HISTORY_SHOWN_SECONDS = 3 * 86_400
MAX_DETAIL_PANELS = 3
# Detail panels start this long before an on-sale's surge and end after it.
DETAIL_MARGIN_SECONDS = 30 * 60

BoolArray = NDArray[np.bool_]

HISTORY_COLOR = "#7f7f7f"
BASELINE_COLOR = "#1f77b4"
TOTAL_COLOR = "#d62728"
CAPACITY_COLOR = "#2ca02c"
SURGE_COLOR = "#ff7f0e"


def draw(result: Forecast, path: Path) -> None:
    """Write a PNG: the overview on top, the first three on-sales in panels below."""
    figure = Figure(
        figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained"
    )
    grid = figure.add_gridspec(2, 1, height_ratios=(1, 1))
    _overview(figure.add_subplot(grid[0]), result)
    shown = result.on_sales[:MAX_DETAIL_PANELS]
    details = grid[1].subgridspec(1, len(shown))
    for index, item in enumerate(shown):
        _detail(figure.add_subplot(details[0, index]), result, item)
    figure.suptitle(
        f"Request rate forecast: {result.processes} API processes recommended",
        fontsize=14,
    )
    figure.savefig(path, format="png")


def _overview(axes: Axes, result: Forecast) -> None:
    history = result.history
    keep = history.times() >= history.end - HISTORY_SHOWN_SECONDS
    axes.plot(
        _dates(history.times()[keep]),
        history.rates[keep],
        color=HISTORY_COLOR,
        linewidth=0.8,
        drawstyle="steps-post",
        label="history",
    )
    for index, surge in enumerate(result.surges):
        if surge.end >= history.end - HISTORY_SHOWN_SECONDS:
            axes.axvspan(
                _date(surge.start),
                _date(surge.end),
                color=SURGE_COLOR,
                alpha=0.3,
                label="past surge (not in the baseline fit)" if index == 0 else None,
            )
    _forecast_lines(axes, result, np.ones(len(result.total), dtype=bool))
    _capacity_line(axes, result, result.processes)
    for item in result.on_sales:
        axes.axvline(_date(item.on_sale.start.timestamp()), color="black", ls=":")
    axes.set_title("History and forecast (UTC)", loc="left")
    axes.set_ylabel("requests per second")
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize="small")
    _time_axis(axes)


def _detail(axes: Axes, result: Forecast, item: OnSaleForecast) -> None:
    times = result.baseline.series.times()
    start = item.on_sale.start.timestamp()
    step = result.baseline.series.step
    surge_end = start + (item.curve.offset + len(item.curve.shares)) * step
    end = max(surge_end, item.peak_time) + DETAIL_MARGIN_SECONDS
    window = (times >= start - DETAIL_MARGIN_SECONDS) & (times <= end)
    _forecast_lines(axes, result, window)
    capacity = _capacity_line(axes, result, item.processes)
    axes.axvline(_date(start), color="black", ls=":")
    axes.set_title(
        f"{item.on_sale.name}: up to {item.peak_upper:.0f} req/s, "
        f"{item.processes} processes",
        loc="left",
        fontsize="medium",
    )
    axes.set_ylabel("requests per second")
    axes.set_ylim(bottom=0)
    axes.legend(handles=[capacity], loc="upper right", fontsize="small")
    _time_axis(axes)


def _forecast_lines(axes: Axes, result: Forecast, window: BoolArray) -> None:
    dates = _dates(result.baseline.series.times()[window])
    baseline = result.baseline.series.rates[window]
    surge = result.total[window] - baseline
    axes.fill_between(
        dates,
        result.baseline.lower[window] + surge,
        result.total_upper[window],
        step="post",
        color=TOTAL_COLOR,
        alpha=0.2,
        linewidth=0,
        label=f"{result.interval:.0%} prediction interval",
    )
    axes.plot(
        dates,
        baseline,
        color=BASELINE_COLOR,
        linewidth=1,
        drawstyle="steps-post",
        label="baseline forecast",
    )
    axes.plot(
        dates,
        result.total[window],
        color=TOTAL_COLOR,
        linewidth=1.2,
        drawstyle="steps-post",
        label="forecast with on-sales",
    )


def _capacity_line(axes: Axes, result: Forecast, processes: int) -> Line2D:
    target = processes * result.capacity_rps * result.headroom
    return axes.axhline(
        target,
        color=CAPACITY_COLOR,
        ls="--",
        label=f"{processes} processes at {result.headroom:.0%}",
    )


def _time_axis(axes: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8, tz=UTC)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    axes.grid(alpha=0.3)


def _dates(timestamps: FloatArray) -> FloatArray:
    """Convert seconds since the epoch to Matplotlib's date numbers."""
    return np.asarray(
        mdates.date2num([datetime.fromtimestamp(value, UTC) for value in timestamps]),
        dtype=np.float64,
    )


def _date(timestamp: float) -> float:
    return float(_dates(np.array([timestamp]))[0])
