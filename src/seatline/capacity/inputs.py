"""Read and validate the inputs of a forecast: access logs, on-sales, capacity.

Every problem raises `InputError` naming the file and the line (or item) it
was found on, so the command line can print it without a traceback.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

ACCESS_LOGGER = "seatline.access"
# The access log writes these routes at DEBUG: probes and scrapes, not load
# that buyers bring, so they are left out of the request rate.
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})

ON_SALE_REQUIRED = ("name", "start", "audience")
ON_SALE_OPTIONAL = (
    "timezone",
    "requests_per_buyer",
    "arrival_minutes",
    "arrival_shape",
)
# "flat" suits an on-sale behind a waiting room, which admits buyers at a
# fixed rate.
ARRIVAL_SHAPES = ("exponential", "flat")
MAX_ARRIVAL_MINUTES = 24 * 60


class InputError(Exception):
    """An input file or value that cannot be used, and where it was found."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass
class AccessLogHistory:
    """Arrival times of the HTTP requests in access logs, and what was skipped."""

    # Seconds since the epoch at which each request arrived (its log time
    # minus its duration); an array of doubles takes 8 bytes per request.
    request_times: array[float] = field(default_factory=lambda: array("d"))
    lines: int = 0
    not_json: int = 0
    other_loggers: int = 0
    websockets: int = 0
    probes: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.request_times)} HTTP requests from {self.lines} lines; "
            f"skipped {self.not_json} non-JSON lines, {self.other_loggers} lines "
            f"of other loggers, {self.websockets} websocket lines and "
            f"{self.probes} probe or scrape requests"
        )


@dataclass(frozen=True)
class OnSale:
    """An on-sale: when it opens and how many buyers are expected."""

    name: str
    start: datetime
    audience: int
    requests_per_buyer: float | None = None
    arrival_minutes: float | None = None
    arrival_shape: str = "exponential"
    # "file:line" of its row, for messages.
    where: str = ""


@dataclass(frozen=True)
class Capacity:
    """Requests per second that one API process serves, and where it was measured."""

    requests_per_second_per_process: float
    source: str
    processes: int | None = None
    users: int | None = None
    command: str | None = None
    measured_at: str | None = None

    def describe(self) -> str:
        """Return where the capacity comes from, for the report."""
        details = [
            f"{name} {value}"
            for name, value in (
                ("measured at", self.measured_at),
                ("with", self.processes and f"{self.processes} processes"),
                ("and", self.users and f"{self.users} users"),
                ("by", self.command and f"`{self.command}`"),
            )
            if value
        ]
        measured = f" ({' '.join(details)})" if details else ""
        return (
            f"Capacity: {self.requests_per_second_per_process:g} req/s per "
            f"process, from {self.source}{measured}."
        )


def read_access_logs(paths: Sequence[Path]) -> AccessLogHistory:
    """Collect the request arrival times from JSON access-log files."""
    history = AccessLogHistory()
    for path in paths:
        for number, line in _numbered_lines(path):
            history.lines += 1
            _add_log_line(history, line, f"{path}:{number}")
    if not history.request_times:
        raise InputError(
            ", ".join(str(path) for path in paths),
            f"no HTTP requests of the {ACCESS_LOGGER} logger found "
            f"({history.summary()}); pass the JSON logs that `seatline serve` "
            "writes with SEATLINE_LOG_FORMAT=json",
        )
    return history


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            yield from enumerate(file, start=1)
    except OSError as error:
        raise InputError(str(path), f"cannot be read: {error.strerror}") from error


def _add_log_line(history: AccessLogHistory, line: str, where: str) -> None:
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        history.not_json += 1
        return
    if not isinstance(entry, dict) or entry.get("logger") != ACCESS_LOGGER:
        history.other_loggers += 1
        return
    extra = entry.get("extra")
    if not isinstance(extra, dict) or "status" not in extra:
        # "websocket closed" lines: a connection, logged when it ends.
        history.websockets += 1
        return
    if extra.get("route") in PROBE_ROUTES or extra.get("path") in PROBE_ROUTES:
        history.probes += 1
        return
    logged_at = parse_time(entry.get("time"), where, "time")
    duration_ms = entry.get("duration_ms", 0)
    if not isinstance(duration_ms, int | float) or duration_ms < 0:
        raise InputError(where, f"invalid duration_ms {duration_ms!r}")
    history.request_times.append(logged_at.timestamp() - duration_ms / 1000)


def parse_time(value: object, where: str, name: str, zone: str = "") -> datetime:
    """Parse an ISO 8601 time that has a UTC offset or an IANA `zone`."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(where, f"{name} is missing")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise InputError(
            where, f"{name} {value!r} is not an ISO 8601 time ({error})"
        ) from error
    if parsed.tzinfo is not None:
        return parsed
    if not zone:
        raise InputError(
            where,
            f"{name} {value!r} has no time zone; add an offset such as "
            "+01:00 or Z, or a timezone column such as Europe/Paris",
        )
    try:
        return parsed.replace(tzinfo=ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InputError(where, f"unknown time zone {zone!r}") from error


def read_on_sales(path: Path, now: datetime, *, past: bool = False) -> list[OnSale]:
    """Read on-sales from CSV or JSON; upcoming ones, or `past` ones."""
    rows = list(_on_sale_rows(path))
    if not rows:
        raise InputError(str(path), "contains no on-sales")
    on_sales = [_on_sale(row, where) for where, row in rows]
    for on_sale in on_sales:
        if past and on_sale.start >= now:
            raise InputError(
                on_sale.where,
                f"on-sale {on_sale.name!r} starts at {on_sale.start.isoformat()}, "
                "which is not in the past; list upcoming on-sales in --on-sales",
            )
        if not past and on_sale.start <= now:
            raise InputError(
                on_sale.where,
                f"on-sale {on_sale.name!r} started at {on_sale.start.isoformat()}, "
                f"before now ({now.isoformat(timespec='seconds')}); remove it, "
                "or list it in --past-on-sales with its real audience",
            )
    return on_sales


def _on_sale_rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(str(path), f"cannot be read: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise InputError(str(path), "is not UTF-8 text") from error
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(path, text.splitlines())
    elif path.suffix.lower() == ".json":
        yield from _json_rows(path, text)
    else:
        raise InputError(str(path), "unknown on-sales format; use a .csv or .json file")


def _csv_rows(path: Path, lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(lines)
    _check_columns(f"{path}:1", reader.fieldnames or [])
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row:
            raise InputError(where, "has more values than the header has columns")
        yield where, row


def _json_rows(path: Path, text: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InputError(str(path), f"is not valid JSON: {error}") from error
    if not isinstance(document, list):
        raise InputError(str(path), "must contain a JSON array of on-sale objects")
    for index, item in enumerate(document, start=1):
        where = f"{path}: on-sale {index}"
        if not isinstance(item, dict):
            raise InputError(where, "is not a JSON object")
        _check_columns(where, list(item))
        yield where, item


def _check_columns(where: str, columns: Sequence[str]) -> None:
    missing = [name for name in ON_SALE_REQUIRED if name not in columns]
    if missing:
        raise InputError(where, f"missing column(s): {', '.join(missing)}")
    unknown = [
        name
        for name in columns
        if name not in ON_SALE_REQUIRED and name not in ON_SALE_OPTIONAL
    ]
    if unknown:
        allowed = ", ".join(ON_SALE_REQUIRED + ON_SALE_OPTIONAL)
        raise InputError(
            where, f"unknown column(s): {', '.join(unknown)}; allowed: {allowed}"
        )


def _on_sale(row: Mapping[str, Any], where: str) -> OnSale:
    name = str(row.get("name") or "").strip()
    if not name:
        raise InputError(where, "name is missing")
    zone = str(row.get("timezone") or "").strip()
    audience = _number(row.get("audience"), where, "audience", integer=True)
    if audience is None:
        raise InputError(where, "audience is missing")
    if audience < 0:
        raise InputError(where, f"audience must be 0 or more, not {audience:g}")
    requests_per_buyer = _number(
        row.get("requests_per_buyer"), where, "requests_per_buyer"
    )
    if requests_per_buyer is not None and requests_per_buyer <= 0:
        raise InputError(where, "requests_per_buyer must be more than 0")
    arrival_minutes = _number(row.get("arrival_minutes"), where, "arrival_minutes")
    if arrival_minutes is not None and not 1 <= arrival_minutes <= MAX_ARRIVAL_MINUTES:
        raise InputError(
            where, f"arrival_minutes must be from 1 to {MAX_ARRIVAL_MINUTES}"
        )
    arrival_shape = str(row.get("arrival_shape") or "exponential").strip()
    if arrival_shape not in ARRIVAL_SHAPES:
        raise InputError(
            where,
            f"arrival_shape must be one of {', '.join(ARRIVAL_SHAPES)}, "
            f"not {arrival_shape!r}",
        )
    if arrival_shape == "flat" and arrival_minutes is None:
        raise InputError(where, "arrival_shape flat needs arrival_minutes")
    return OnSale(
        name=name,
        start=parse_time(row.get("start"), where, "start", zone),
        audience=int(audience),
        requests_per_buyer=requests_per_buyer,
        arrival_minutes=arrival_minutes,
        arrival_shape=arrival_shape,
        where=where,
    )


def _number(
    value: object, where: str, name: str, *, integer: bool = False
) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InputError(where, f"{name} must be a number, not {value!r}")
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InputError(where, f"{name} must be a number, not {value!r}")
    if integer and not number.is_integer():
        raise InputError(where, f"{name} must be a whole number, not {value!r}")
    return number


def read_capacity_file(path: Path) -> Capacity:
    """Read the capacity JSON that the load test writes."""
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as error:
        raise InputError(str(path), f"cannot be read: {error.strerror}") from error
    except orjson.JSONDecodeError as error:
        raise InputError(str(path), f"is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise InputError(str(path), "must contain a JSON object")
    rate = _number(
        document.get("requests_per_second_per_process"),
        str(path),
        "requests_per_second_per_process",
    )
    if rate is None or rate <= 0:
        raise InputError(
            str(path), "requests_per_second_per_process must be a number above 0"
        )
    processes = document.get("processes")
    users = document.get("users")
    command = document.get("command")
    measured_at = document.get("measured_at")
    return Capacity(
        requests_per_second_per_process=rate,
        source=str(path),
        processes=processes if isinstance(processes, int) else None,
        users=users if isinstance(users, int) else None,
        command=command if isinstance(command, str) else None,
        measured_at=measured_at if isinstance(measured_at, str) else None,
    )
