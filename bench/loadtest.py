"""Locust on-sale load test, with optional fault injection, and its report.

The runner creates an on-sale event through the API (as onsale.py does)
and runs bench/locustfile.py headless in a Locust subprocess. First
TypenameProbe runs alone for --raw-seconds, which gives the raw request
rate of this client and server in this run. Then buyers and bots run for
--run-time.
After a sweeper interval it checks the database and prints one markdown
report: throughput as a ratio to the raw rate, p50/p95/p99 per operation,
the error mix and the invariant checks. The exit code is 1 when a check
fails and 2 when setup fails.

Without --url, the runner starts its own stack on loopback ports (see
loadstack.py): PostgreSQL, Redis, --processes API servers and, for two of
them, nginx. --fault needs that stack: it restarts Redis or PostgreSQL, or
kills one of two API processes, --fault-at seconds into the run, and the
report shows throughput per second around the fault, what the users saw and
how long throughput took to recover.

Examples:

    .venv/bin/python bench/loadtest.py --users 200 --run-time 120
    .venv/bin/python bench/loadtest.py --processes 2 --fault kill-api
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from loadstack import AUDIENCE, ISSUER, Stack, private_stack
from onsale import (
    Api,
    CheckResult,
    OnSaleEvent,
    SetupError,
    SetupTimes,
    Stats,
    TokenFactory,
    check_database,
    percentile,
    set_up_event,
)
from sqlalchemy import func, select

from seatline import db
from seatline.config import Settings
from seatline.models import EventSeat, SeatStatus

BENCH = Path(__file__).resolve().parent
FAULTS = ("redis-restart", "postgres-restart", "kill-api")
# A second counts as recovered when it and the next RECOVERY_SECONDS - 1
# seconds each complete at least RECOVERY_SHARE of the pre-fault median.
RECOVERY_SHARE = 0.8
RECOVERY_SECONDS = 3
# Seconds before the fault whose median is the pre-fault throughput.
BASELINE_SECONDS = 15
# Seconds Locust gives running users to finish their purchase at the end.
STOP_TIMEOUT_SECONDS = 30
# Seconds a hold may outlive its deadline beyond the sweeper interval: one
# sweep's own run time and the clocks of two processes.
HOLD_DEADLINE_SLACK_SECONDS = 2.0
# Typed error codes of GraphQL results, as opposed to transport failures.
ERROR_CODE = re.compile(r"[A-Z][A-Z_]+")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Locust on-sale load test against seatline, with faults."
    )
    add = parser.add_argument
    add("--users", type=int, default=200, help="Locust users (default: 200).")
    add(
        "--spawn-rate",
        type=float,
        default=100.0,
        help="Users started per second; high for a burst (default: 100).",
    )
    add("--run-time", type=int, default=120, help="Seconds of load (default: 120).")
    add(
        "--raw-seconds",
        type=int,
        default=10,
        help="Seconds of the `{ __typename }` probe before the run; 0 skips it "
        "(default: 10).",
    )
    add(
        "--bot-share",
        type=float,
        default=0.1,
        help="Share of the users that are bots hammering holdSeats (default: 0.1).",
    )
    add(
        "--explicit-share",
        type=float,
        default=0.5,
        help="Share of buyer holds that pick seats from the live seat map "
        "instead of bestAvailable (default: 0.5).",
    )
    add(
        "--abandon-share",
        type=float,
        default=0.15,
        help="Share of buyer holds released instead of bought (default: 0.15).",
    )
    add(
        "--expire-share",
        type=float,
        default=0.1,
        help="Share of buyer holds left to expire (default: 0.1).",
    )
    add(
        "--stadium-seats",
        type=int,
        default=20_000,
        help="Seats of the generated stadium (default: 20000).",
    )
    add("--plan", type=Path, help="Seating-plan JSON file instead of a stadium.")
    add("--max-seats", type=int, default=6, help="Seats per hold, 1 to this.")
    add(
        "--max-seats-per-buyer",
        type=int,
        default=10,
        help="The event's maxSeatsPerBuyer (default: 10).",
    )
    add(
        "--hold-seconds",
        type=int,
        default=60,
        help="The event's holdDurationSeconds, at least 60 (default: 60).",
    )
    add(
        "--url",
        help="Base URL of a running server. Without it the runner starts its "
        "own stack; --database-url, SEATLINE_KEY_FILE, SEATLINE_JWT_ISSUER and "
        "SEATLINE_JWT_AUDIENCE must then match the server.",
    )
    add(
        "--database-url", help="The server's database (default: SEATLINE_DATABASE_URL)."
    )
    add(
        "--processes",
        type=int,
        choices=(1, 2),
        default=1,
        help="API processes of the own stack; two run behind nginx. With --url, "
        "the process count that --capacity-out divides by (default: 1; "
        "kill-api uses 2).",
    )
    add(
        "--sweeper-interval",
        type=float,
        help="The servers' sweeper interval in seconds (default: the Settings "
        "default, or SEATLINE_SWEEPER_INTERVAL_SECONDS).",
    )
    add(
        "--rate-limits",
        action="store_true",
        help="Run the own stack with the default rate limits on; every user "
        "shares 127.0.0.1, so expect RATE_LIMITED.",
    )
    add("--fault", choices=FAULTS, help="Fault to inject (needs the own stack).")
    add(
        "--fault-at",
        type=float,
        default=45.0,
        help="Seconds after the Locust process starts (default: 45).",
    )
    add(
        "--fault-duration",
        type=float,
        default=5.0,
        help="Seconds Redis or PostgreSQL stay down (default: 5).",
    )
    add("--output-dir", type=Path, help="Keep the scenario, results and logs here.")
    add(
        "--keep-stack",
        action="store_true",
        help="Keep the own stack's directory with the server, PostgreSQL, Redis "
        "and nginx logs.",
    )
    add("--capacity-out", type=Path, help="Write the measured capacity as JSON.")
    args = parser.parse_args(argv)
    _check_args(parser, args)
    return args


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.users < 1 or args.run_time < 5 or args.spawn_rate <= 0:
        parser.error("--users must be at least 1, --run-time at least 5 s")
    for name in ("bot_share", "explicit_share", "abandon_share", "expire_share"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.abandon_share + args.expire_share > 1:
        parser.error("--abandon-share plus --expire-share must not exceed 1")
    # Rates count only the seconds after every user started.
    shortest = ramp_seconds(args) + 2
    ramp = "so that some seconds follow the ramp-up of --users at --spawn-rate"
    if args.run_time < shortest:
        parser.error(f"--run-time must be at least {shortest} s, {ramp}")
    if 0 < args.raw_seconds < shortest:
        parser.error(
            f"--raw-seconds must be at least {shortest} s, {ramp}; 0 skips the probe"
        )
    if not 60 <= args.hold_seconds <= 3600:
        parser.error("--hold-seconds must be between 60 and 3600")
    if args.fault is not None and args.url is not None:
        parser.error("--fault needs the runner's own stack; leave out --url")
    if args.fault == "kill-api":
        args.processes = 2
    if args.fault is not None and not 0 < args.fault_at < args.run_time:
        parser.error("--fault-at must fall inside --run-time")
    if args.sweeper_interval is None:
        args.sweeper_interval = Settings().sweeper_interval_seconds


# Locust


@dataclass
class Results:
    """Counts and latencies of the Locust users, as locustfile.Recorder wrote them."""

    completed_by_second: dict[int, int]
    events_by_second: dict[int, dict[str, int]]
    latencies_ms: dict[str, list[float]]
    outcomes: dict[str, int]
    transport: dict[str, int]
    websocket: dict[str, int]
    paid_order_ids: list[str]
    sold_seat_ids: list[str]
    unknown_payments: list[str]
    ticket_mismatches: int
    identities: int

    @classmethod
    def load(cls, path: Path) -> Results:
        raw = orjson.loads(path.read_bytes())
        raw["completed_by_second"] = {
            int(k): v for k, v in raw["completed_by_second"].items()
        }
        raw["events_by_second"] = {
            int(k): v for k, v in raw["events_by_second"].items()
        }
        return cls(**raw)

    def per_second(self, first: int, last: int) -> list[int]:
        return [self.completed_by_second.get(s, 0) for s in range(first, last + 1)]

    def events_between(self, first: int, last: int) -> Counter[str]:
        seen: Counter[str] = Counter()
        for second in range(first, last + 1):
            seen.update(self.events_by_second.get(second, {}))
        return seen

    def to_stats(self) -> Stats:
        """Return the buyers' view in the form that onsale.py's checks take."""
        stats = Stats()
        stats.paid_order_ids = list(self.paid_order_ids)
        stats.sold_seat_ids = list(self.sold_seat_ids)
        stats.unknown_payments = set(self.unknown_payments)
        stats.ticket_mismatches = self.ticket_mismatches
        return stats


@dataclass
class LocustRun:
    results: Results
    # Epoch seconds: the Locust process started, then returned.
    started: float
    finished: float
    command: list[str]
    exit_code: int


async def run_locust(
    classes: list[str],
    args: argparse.Namespace,
    url: str,
    run_time: int,
    workdir: Path,
    name: str,
    environment: dict[str, str],
) -> LocustRun:
    """Run Locust headless in a subprocess and load what its users saw."""
    scenario = workdir / "scenario.json"
    results_file = workdir / f"{name}-results.json"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(BENCH / "locustfile.py"),
        "--headless",
        "--users",
        str(args.users),
        "--spawn-rate",
        f"{args.spawn_rate:g}",
        "--run-time",
        f"{run_time}s",
        "--stop-timeout",
        str(STOP_TIMEOUT_SECONDS),
        "--host",
        url,
        "--csv",
        str(workdir / name),
        "--only-summary",
        "--loglevel",
        "WARNING",
        *classes,
    ]
    env = {
        **os.environ,
        **environment,
        "SEATLINE_LOADTEST_SCENARIO": str(scenario),
        "SEATLINE_LOADTEST_RESULTS": str(results_file),
    }
    started = time.time()
    with (workdir / f"{name}-locust.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=log, stderr=log
        )
        exit_code = await process.wait()
    if not results_file.exists():
        raise SetupError(
            f"Locust wrote no results (exit code {exit_code}); see "
            f"{workdir / f'{name}-locust.log'}"
        )
    return LocustRun(
        Results.load(results_file), started, time.time(), command, exit_code
    )


def write_scenario(
    path: Path,
    event: OnSaleEvent,
    args: argparse.Namespace,
    url: str,
    ca_file: Path | None,
    run_id: str,
) -> None:
    bots = round(args.users * args.bot_share)
    scenario = {
        "url": url,
        "ca_file": None if ca_file is None else str(ca_file),
        "run_id": run_id,
        "event_id": event.event_id,
        "guids": event.seats.guids,
        "rows": [[row.start, row.stop] for row in event.seats.rows],
        "max_seats": args.max_seats,
        "max_seats_per_buyer": args.max_seats_per_buyer,
        "explicit_share": args.explicit_share,
        "abandon_share": args.abandon_share,
        "expire_share": args.expire_share,
        "bots": min(bots, args.users - 1),
        "token_lifetime_seconds": args.run_time + args.raw_seconds + 3600,
    }
    path.write_bytes(orjson.dumps(scenario))


# Faults


@dataclass
class Fault:
    """A fault injected into the own stack, with its epoch-second times."""

    name: str
    started: float = 0.0
    # When the broken part was running again, or for kill-api, when it died.
    restored: float = 0.0


async def inject_fault(stack: Stack, args: argparse.Namespace, fault: Fault) -> None:
    await asyncio.sleep(args.fault_at)
    fault.started = time.time()
    if fault.name == "redis-restart":
        await stack.redis.kill()
        await asyncio.sleep(args.fault_duration)
        await stack.redis.start()
    elif fault.name == "postgres-restart":
        await stack.postgres.stop("immediate")
        await asyncio.sleep(args.fault_duration)
        await stack.postgres.start()
    else:
        victim = stack.servers[1].process
        victim.kill()
        await victim.wait()
    fault.restored = time.time()
    print(f"fault {fault.name} injected", file=sys.stderr, flush=True)


@dataclass
class FaultAnalysis:
    baseline: float
    lowest: int
    # First second of the dip below RECOVERY_SHARE of the baseline, and the
    # first second of RECOVERY_SECONDS at or above it again; None when the
    # throughput never dipped, or never recovered.
    dip: int | None
    recovered: int | None
    # Seconds whose failures and error codes count as seen during the fault.
    window: range
    # Median of the seconds after the window, to the end of the run time.
    settled: float | None = None
    seen: Counter[str] = field(default_factory=Counter)
    seen_before: Counter[str] = field(default_factory=Counter)


# Seconds after the broken part is back in which a dip still counts.
DIP_SEARCH_SECONDS = 10


def analyse_fault(
    results: Results, fault: Fault, ramp_end: int, run_end: int
) -> FaultAnalysis:
    """Measure the dip and the recovery; `ramp_end` is the first steady second."""
    start = int(fault.started)
    last = max(results.completed_by_second)
    before = results.per_second(max(ramp_end, start - BASELINE_SECONDS), start - 1)
    baseline = statistics.median(before) if before else 0.0
    threshold = RECOVERY_SHARE * baseline

    def rate(second: int) -> int:
        return results.completed_by_second.get(second, 0)

    search_end = min(last, int(fault.restored) + DIP_SEARCH_SECONDS)
    dip = next((s for s in range(start, search_end + 1) if rate(s) < threshold), None)
    recovered = None
    if dip is not None:
        recovered = next(
            (
                s
                for s in range(dip, last - RECOVERY_SECONDS + 2)
                if all(rate(s + k) >= threshold for k in range(RECOVERY_SECONDS))
            ),
            None,
        )
    end = search_end if recovered is None else recovered + RECOVERY_SECONDS - 1
    end = max(end, int(fault.restored))
    window = range(start, end + 1)
    lowest = min(results.per_second(start, end))
    after = results.per_second(end + 1, run_end)
    return FaultAnalysis(
        settled=statistics.median(after) if after else None,
        baseline=baseline,
        lowest=lowest,
        dip=dip,
        recovered=recovered,
        window=window,
        seen=results.events_between(start, end),
        seen_before=results.events_between(start - len(window), start - 1),
    )


# Database checks


async def invariant_checks(
    database_url: str, event_id: str, results: Results, sweeper_interval: float
) -> list[CheckResult]:
    """Run onsale.py's database checks and the hold deadline check."""
    checks, _ = await check_database(database_url, event_id, results.to_stats())
    checks.append(await hold_deadline_check(database_url, event_id, sweeper_interval))
    return checks


async def hold_deadline_check(
    database_url: str, event_id: str, sweeper_interval: float
) -> CheckResult:
    """Fail when a seat is still held past its deadline plus one sweep.

    An expired hold blocks no buyer even before the sweeper resets its
    seats, but the sweeper must reset them within one interval.
    """
    allowed = sweeper_interval + HOLD_DEADLINE_SLACK_SECONDS
    cutoff = datetime.now(UTC) - timedelta(seconds=allowed)
    engine = db.create_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as connection:
            statement = select(func.count(), func.min(EventSeat.hold_expires_at)).where(
                EventSeat.event_id == uuid.UUID(event_id),
                EventSeat.status == SeatStatus.HELD,
                EventSeat.hold_expires_at < cutoff,
            )
            overdue, oldest = (await connection.execute(statement)).one()
    finally:
        await engine.dispose()
    detail = f"{overdue} seats held more than {allowed:g} s past their deadline"
    if oldest is not None:
        detail += f", the oldest deadline {oldest.isoformat()}"
    return CheckResult(
        "no hold outlived its deadline by more than the sweeper interval",
        overdue == 0,
        detail,
    )


# Report


@dataclass
class Measurements:
    """Rates from the per-second counts of completed GraphQL requests."""

    raw_rate: float | None
    rate: float
    # Completed requests that the server did not turn away as overloaded.
    served_rate: float
    steady: range
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


def ramp_seconds(args: argparse.Namespace) -> int:
    """Return the seconds until every user has started, with a margin."""
    return int(args.users / args.spawn_rate) + 2


def steady_seconds(results: Results, args: argparse.Namespace, run_time: int) -> range:
    """Whole seconds after every user started and before Locust stopped them."""
    first = min(results.completed_by_second)
    return range(first + ramp_seconds(args), first + run_time - 1)


def mean_rate(results: Results, seconds: range) -> float:
    values = results.per_second(seconds.start, seconds.stop - 1)
    return statistics.fmean(values) if values else 0.0


# Codes that mean the server turned a request away rather than served it.
OVERLOAD_CODES = ("BUSY", "RATE_LIMITED")


def mean_served_rate(results: Results, seconds: range) -> float:
    """Return the mean rate of completed requests that were not turned away."""
    values = []
    for second in seconds:
        events = results.events_by_second.get(second, {})
        turned_away = sum(events.get(code, 0) for code in OVERLOAD_CODES)
        values.append(results.completed_by_second.get(second, 0) - turned_away)
    return statistics.fmean(values) if values else 0.0


def print_report(
    args: argparse.Namespace,
    event: OnSaleEvent,
    run: LocustRun,
    measured: Measurements,
    checks: list[CheckResult],
    fault: Fault | None,
) -> None:
    results = run.results
    load = measured.load_before
    print(f"\n## Locust on-sale run: {args.users} users, {args.run_time} s\n")
    print("| setting | value |\n| --- | --- |")
    for name, value in (
        ("target", f"{args.url or 'own stack'}, {args.processes} API process(es)"),
        ("seats", f"{event.seat_count:,} ({event.venue_name})"),
        ("users", f"{args.users}, {round(args.users * args.bot_share)} of them bots"),
        ("spawn rate", f"{args.spawn_rate:g} users/s"),
        ("hold duration", f"{args.hold_seconds} s"),
        ("buyer shares", _shares(args)),
        ("rate limits", "on (defaults)" if args.rate_limits else "off"),
        ("fault", _fault_setting(args)),
        ("machine", f"{os.cpu_count()} CPUs"),
        ("load average before", " ".join(f"{x:.2f}" for x in load)),
        ("load average after", " ".join(f"{x:.2f}" for x in measured.load_after)),
    ):
        print(f"| {name} | {value} |")

    print("\n| throughput | value |\n| --- | ---: |")
    raw = measured.raw_rate
    rows = [
        ("completed GraphQL requests/s (steady seconds)", f"{measured.rate:.1f}"),
        (
            "served requests/s (completed, not BUSY or RATE_LIMITED)",
            f"{measured.served_rate:.1f}",
        ),
        ("raw `{ __typename }` requests/s, same run", _maybe(raw, "{:.1f}")),
        (
            "ratio to the raw rate",
            _maybe(None if not raw else measured.rate / raw, "{:.2f}"),
        ),
        ("paid orders", f"{len(results.paid_order_ids):,}"),
        ("seats sold", f"{len(results.sold_seat_ids):,}"),
        ("buyer identities", f"{results.identities:,}"),
    ]
    for name, value in rows:
        print(f"| {name} | {value} |")

    _print_latencies(results)
    _print_error_mix(results)
    print("\n| invariant check | result | detail |\n| --- | --- | --- |")
    for check in checks:
        verdict = "pass" if check.passed else "FAIL"
        print(f"| {check.name} | {verdict} | {check.detail} |")
    if fault is not None:
        print_fault(results, fault, measured.steady)


def _shares(args: argparse.Namespace) -> str:
    return (
        f"explicit seats {args.explicit_share:g}, abandon {args.abandon_share:g}, "
        f"let expire {args.expire_share:g}"
    )


def _fault_setting(args: argparse.Namespace) -> str:
    if args.fault is None:
        return "none"
    down = "" if args.fault == "kill-api" else f", down {args.fault_duration:g} s"
    return f"{args.fault} at {args.fault_at:g} s{down}"


def _maybe(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _print_latencies(results: Results) -> None:
    print(
        "\n| operation | requests | p50 ms | p95 ms | p99 ms | max ms |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    for operation in sorted(results.latencies_ms):
        values = sorted(results.latencies_ms[operation])
        cells = [f"{percentile(values, q):.1f}" for q in (0.5, 0.95, 0.99)]
        print(
            f"| {operation} | {len(values):,} | {' | '.join(cells)} | "
            f"{values[-1]:.1f} |"
        )


def _print_error_mix(results: Results) -> None:
    print("\n| operation | outcome | count |\n| --- | --- | ---: |")
    for key, number in sorted(results.outcomes.items()):
        operation, _, outcome = key.partition(" ")
        print(f"| {operation} | {outcome} | {number:,} |")
    print("\n| transport failure | count |\n| --- | ---: |")
    for key, number in sorted(results.transport.items()) or [("none", 0)]:
        print(f"| {key} | {number:,} |")
    print("\n| seat map websocket | count |\n| --- | ---: |")
    for key, number in sorted(results.websocket.items()):
        print(f"| {key} | {number:,} |")


def print_fault(results: Results, fault: Fault, steady: range) -> None:
    analysis = analyse_fault(results, fault, steady.start, steady.stop - 1)
    start = int(fault.started)
    print(f"\n### Fault: {fault.name}\n")
    print("| measure | value |\n| --- | ---: |")
    if analysis.recovered is not None:
        recovery = f"{analysis.recovered - start} s"
    elif analysis.dip is None:
        recovery = "0 s (no dip)"
    else:
        recovery = "not within the run"
    baseline = analysis.baseline
    for name, value in (
        (
            f"pre-fault median of the steady seconds, at most {BASELINE_SECONDS}",
            f"{baseline:.0f} requests/s",
        ),
        ("broken part back after", f"{fault.restored - fault.started:.1f} s"),
        (
            "lowest second in the fault window",
            f"{analysis.lowest} ({_ratio(analysis.lowest, baseline)})",
        ),
        (
            f"recovered ({RECOVERY_SECONDS} s at >= {RECOVERY_SHARE:.0%} of median)",
            f"{recovery} after the fault",
        ),
        (
            "median after that, to the end of the run time",
            "n/a"
            if analysis.settled is None
            else f"{analysis.settled:.0f} ({_ratio(analysis.settled, baseline)})",
        ),
    ):
        print(f"| {name} | {value} |")

    window = analysis.window
    print(
        f"\nWhat the users saw in the {len(window)} s from the fault to recovery, "
        f"beside the {len(window)} s before it:\n"
    )
    print("| failure or code | during | before |\n| --- | ---: | ---: |")
    for kind in sorted(analysis.seen.keys() | analysis.seen_before.keys()):
        during, before = analysis.seen[kind], analysis.seen_before[kind]
        print(f"| {kind} | {during:,} | {before:,} |")

    print(
        "\nFrom 5 s before the fault to the end of the run time:\n"
        "\n| second | completed requests | ratio to median | failures "
        "| websocket events |\n| ---: | ---: | ---: | ---: | ---: |"
    )
    for second in range(window.start - 5, steady.stop):
        seen = results.events_by_second.get(second, {})
        websocket = sum(n for k, n in seen.items() if _is_websocket(k))
        failures = sum(n for k, n in seen.items() if _is_transport(k))
        completed = results.completed_by_second.get(second, 0)
        print(
            f"| {second - start:+d} | {completed} | {_ratio(completed, baseline)} "
            f"| {failures} | {websocket} |"
        )


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline else "n/a"


def _is_websocket(kind: str) -> bool:
    return kind.startswith(("websocket", "subscription"))


def _is_transport(kind: str) -> bool:
    """Tell a transport failure from a typed error code such as BUSY."""
    return not _is_websocket(kind) and ERROR_CODE.fullmatch(kind) is None


def write_capacity(
    path: Path, args: argparse.Namespace, measured: Measurements
) -> None:
    """Write the capacity file that `seatline forecast` reads.

    Capacity counts served requests only, because a process that returns
    BUSY for most requests is past its capacity, not at it.
    """
    per_process = measured.served_rate / args.processes
    capacity = {
        "requests_per_second_per_process": round(per_process, 2),
        "processes": args.processes,
        "users": args.users,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.write_text(json.dumps(capacity, indent=2) + "\n")


# Main


@dataclass
class Target:
    url: str
    database_url: str
    settings: Settings
    # Variables the Locust process needs to mint tokens the servers accept.
    environment: dict[str, str]
    ca_file: Path | None = None
    stack: Stack | None = None


@asynccontextmanager
async def target(args: argparse.Namespace) -> AsyncIterator[Target]:
    if args.url is not None:
        settings = Settings()
        database_url = args.database_url or settings.database_url
        yield Target(args.url, database_url, settings, {})
        return
    async with private_stack(
        args.processes,
        sweeper_interval_seconds=args.sweeper_interval,
        rate_limits=args.rate_limits,
        keep=args.keep_stack,
    ) as stack:
        if args.keep_stack:
            print(f"stack logs in {stack.directory}", file=sys.stderr)
        environment = {
            "SEATLINE_KEY_FILE": str(stack.key_file),
            "SEATLINE_JWT_ISSUER": ISSUER,
            "SEATLINE_JWT_AUDIENCE": AUDIENCE,
        }
        settings = Settings(
            key_file=stack.key_file, jwt_issuer=ISSUER, jwt_audience=AUDIENCE
        )
        yield Target(
            stack.url, stack.database_url, settings, environment, stack.ca_file, stack
        )


async def create_event(
    found: Target, args: argparse.Namespace, run_id: str
) -> OnSaleEvent:
    tokens = TokenFactory(found.settings, 3600)
    organizer = tokens.mint(f"load-{run_id}-organizer", ["organizer"])
    verify: ssl.SSLContext | bool = True
    if found.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(found.ca_file))
    setup = argparse.Namespace(
        plan=args.plan,
        stadium_seats=args.stadium_seats,
        max_seats=args.max_seats,
        max_seats_per_buyer=args.max_seats_per_buyer,
        hold_seconds=args.hold_seconds,
    )
    async with httpx.AsyncClient(base_url=found.url, verify=verify) as client:
        api = Api(client, Stats())
        return await set_up_event(api, organizer, setup, run_id, SetupTimes())


async def run(args: argparse.Namespace, workdir: Path) -> int:
    run_id = secrets.token_hex(3)
    load_before = os.getloadavg()
    async with target(args) as found:
        try:
            event = await create_event(found, args, run_id)
        except SetupError as error:
            print(f"setup failed: {error}", file=sys.stderr)
            return 2
        print(
            f"event {event.event_id} on sale at {found.url}; output in {workdir}",
            file=sys.stderr,
        )
        write_scenario(
            workdir / "scenario.json", event, args, found.url, found.ca_file, run_id
        )

        raw_rate = None
        if args.raw_seconds > 0:
            probe = await run_locust(
                ["TypenameProbe"],
                args,
                found.url,
                args.raw_seconds,
                workdir,
                "probe",
                found.environment,
            )
            raw_rate = mean_rate(
                probe.results, steady_seconds(probe.results, args, args.raw_seconds)
            )

        fault = None if args.fault is None else Fault(args.fault)
        injecting = None
        if fault is not None:
            assert found.stack is not None
            injecting = asyncio.create_task(inject_fault(found.stack, args, fault))
        main = await run_locust(
            ["Buyer", "Bot"],
            args,
            found.url,
            args.run_time,
            workdir,
            "onsale",
            found.environment,
        )
        if injecting is not None:
            await injecting

        # Holds that expired during the run get one sweep before the check.
        await asyncio.sleep(args.sweeper_interval + HOLD_DEADLINE_SLACK_SECONDS)
        checks = await invariant_checks(
            found.database_url, event.event_id, main.results, args.sweeper_interval
        )

    steady = steady_seconds(main.results, args, args.run_time)
    measured = Measurements(
        raw_rate=raw_rate,
        rate=mean_rate(main.results, steady),
        served_rate=mean_served_rate(main.results, steady),
        steady=steady,
        load_before=load_before,
        load_after=os.getloadavg(),
    )
    print_report(args, event, main, measured, checks, fault)
    print(f"\nLocust command: `{' '.join(main.command[1:])}`")
    if args.capacity_out is not None:
        write_capacity(args.capacity_out, args, measured)
    return 0 if all(check.passed for check in checks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(run(args, args.output_dir))
    with tempfile.TemporaryDirectory(prefix="seatline-locust-") as directory:
        return asyncio.run(run(args, Path(directory)))


if __name__ == "__main__":
    sys.exit(main())
