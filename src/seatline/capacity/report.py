"""The forecast as a table (Markdown or plain text) and as JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from seatline.capacity.model import Forecast, OnSaleForecast

TableFormat = Literal["markdown", "plain"]

COLUMNS = (
    "on-sale",
    "start (UTC)",
    "audience",
    "req/buyer",
    "surge peak req/s",
    "baseline req/s",
    "peak req/s",
    "upper req/s",
    "processes",
)


def table(result: Forecast, table_format: TableFormat) -> str:
    """Return one row per on-sale, then the recommendation and the notes."""
    rows = [_row(item) for item in result.on_sales]
    if table_format == "markdown":
        lines = [
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "|".join(" --- " for _ in COLUMNS) + "|",
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
    else:
        widths = [
            max(len(cells[index]) for cells in (COLUMNS, *rows))
            for index in range(len(COLUMNS))
        ]
        lines = [
            "  ".join(
                cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
            ).rstrip()
            for cells in (COLUMNS, *rows)
        ]
    per_process = result.capacity_rps * result.headroom
    lines += [
        "",
        f"Recommended API processes: {result.processes} "
        f"({result.capacity_rps:g} req/s measured per process, run at "
        f"{result.headroom:.0%} = {per_process:g} req/s each, sized for the upper "
        f"end of the {result.interval:.0%} prediction interval).",
        "",
        *(f"- {note}" for note in result.notes),
    ]
    return "\n".join(lines)


def _row(item: OnSaleForecast) -> list[str]:
    return [
        item.on_sale.name,
        item.on_sale.start.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        str(item.on_sale.audience),
        f"{item.requests_per_buyer:.1f} ({item.requests_per_buyer_source})",
        f"{item.surge_peak_rate:.1f}",
        f"{item.baseline_at_peak:.1f}",
        f"{item.peak_rate:.1f}",
        f"{item.peak_upper:.1f}",
        str(item.processes),
    ]


def as_json(result: Forecast) -> dict[str, Any]:
    """Return the forecast as a JSON-ready document; rates in requests per second."""
    return {
        "processes": result.processes,
        "capacity_rps_per_process": result.capacity_rps,
        "headroom": result.headroom,
        "interval": result.interval,
        "step_seconds": result.history.step,
        "history": {
            "start": _iso(result.history.start),
            "end": _iso(result.history.end),
            "mean_rate": float(result.history.rates.mean()),
        },
        "surges": [
            {
                "start": _iso(surge.start),
                "end": _iso(surge.end),
                "excess_requests": surge.excess_requests,
                "peak_excess_rate": surge.peak_excess_rate,
            }
            for surge in result.surges
        ],
        "on_sales": [_on_sale_json(item) for item in result.on_sales],
        "notes": result.notes,
    }


def _on_sale_json(item: OnSaleForecast) -> dict[str, Any]:
    return {
        "name": item.on_sale.name,
        "start": item.on_sale.start.isoformat(),
        "audience": item.on_sale.audience,
        "requests_per_buyer": item.requests_per_buyer,
        "requests_per_buyer_source": item.requests_per_buyer_source,
        "arrival_curve": item.curve.description,
        "surge_requests": item.surge_requests,
        "surge_peak_rate": item.surge_peak_rate,
        "peak_time": _iso(item.peak_time),
        "baseline_at_peak": item.baseline_at_peak,
        "peak_rate": item.peak_rate,
        "peak_upper": item.peak_upper,
        "processes": item.processes,
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
