"""The Locust on-sale load test in bench/, run short against live servers.

Locust patches the standard library with gevent, so it runs only inside the
runner's own subprocess. This module imports the runner for its database
checks, which do not import Locust.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from seatline.models import EventSeat, Hold, SeatStatus
from tests.conftest import AUDIENCE, ISSUER, DatabaseUnderTest, unavailable
from tests.live import live_server

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import loadstack  # noqa: E402
import loadtest  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

OPERATIONS = ("holdSeats", "holdSeats (bots)", "checkout", "payOrder", "releaseHold")
RUN_TIMEOUT_SECONDS = 150
# A short sweeper interval keeps the runner's wait before its checks short.
SWEEPER_INTERVAL = "1"
SHORT_RUN = (
    "--users",
    "6",
    "--spawn-rate",
    "6",
    "--stadium-seats",
    "400",
    "--bot-share",
    "0.2",
    "--abandon-share",
    "0.3",
    "--expire-share",
    "0.2",
    "--sweeper-interval",
    SWEEPER_INTERVAL,
)


@dataclass(frozen=True)
class Run:
    exit_code: int
    report: str
    errors: str
    directory: Path

    def explain(self) -> str:
        return f"exit code {self.exit_code}\n{self.report}\n{self.errors[-3000:]}"


async def run_loadtest(
    directory: Path, *arguments: str, environment: dict[str, str] | None = None
) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH / "loadtest.py"),
        *arguments,
        "--output-dir",
        str(directory),
        env={**os.environ, **(environment or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS)
    assert process.returncode is not None
    return Run(process.returncode, output.decode(), errors.decode(), directory)


@pytest.fixture(scope="module")
async def short_run(
    postgres_database: DatabaseUnderTest,
    key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    directory = tmp_path_factory.mktemp("loadtest")
    server_environment = {"SEATLINE_SWEEPER_INTERVAL_SECONDS": SWEEPER_INTERVAL}
    async with live_server(
        postgres_database.url,
        key_file,
        issuer=ISSUER,
        audience=AUDIENCE,
        extra_env=server_environment,
    ) as url:
        return await run_loadtest(
            directory,
            *SHORT_RUN,
            "--url",
            url,
            "--database-url",
            postgres_database.url,
            "--run-time",
            "12",
            "--raw-seconds",
            "5",
            "--capacity-out",
            str(directory / "capacity.json"),
            environment={
                "SEATLINE_KEY_FILE": str(key_file),
                "SEATLINE_JWT_ISSUER": ISSUER,
                "SEATLINE_JWT_AUDIENCE": AUDIENCE,
            },
        )


def check_rows(report: str) -> list[str]:
    """Return the rows of the report's invariant check table."""
    table = report.split("| invariant check |", 1)[1].split("\n\n", 1)[0]
    return table.splitlines()[2:]


def test_loadtest_run_passes_invariant_checks(short_run: Run) -> None:
    rows = check_rows(short_run.report)

    assert short_run.exit_code == 0, short_run.explain()
    assert len(rows) == 13, short_run.explain()
    assert all("| pass |" in row for row in rows), short_run.explain()


def test_loadtest_report_lists_every_operation(short_run: Run) -> None:
    assert "| operation | requests | p50 ms | p95 ms | p99 ms |" in short_run.report
    for operation in OPERATIONS:
        assert f"\n| {operation} | " in short_run.report, operation
    assert "| holdSeats(bot) | LIMIT_EXCEEDED |" in short_run.report
    assert "| raw `{ __typename }` requests/s, same run |" in short_run.report


def test_loadtest_writes_capacity_file(short_run: Run) -> None:
    capacity = json.loads((short_run.directory / "capacity.json").read_text())

    assert set(capacity) == {
        "requests_per_second_per_process",
        "processes",
        "users",
        "command",
        "measured_at",
    }
    assert capacity["requests_per_second_per_process"] > 0
    assert capacity["processes"] == 1
    assert capacity["users"] == 6


async def test_loadtest_checks_fail_on_corrupted_state(
    short_run: Run, postgres_database: DatabaseUnderTest
) -> None:
    scenario = json.loads((short_run.directory / "scenario.json").read_text())
    event_id = uuid.UUID(scenario["event_id"])
    results = loadtest.Results.load(short_run.directory / "onsale-results.json")
    async with postgres_database.engine.begin() as connection:
        # A sold seat put back on sale, and a hold an hour past its deadline.
        sold = await _first_seat(connection, event_id, SeatStatus.SOLD)
        free = await _first_seat(connection, event_id, SeatStatus.AVAILABLE)
        hold_id = (
            await connection.execute(
                select(Hold.id).where(Hold.event_id == event_id).limit(1)
            )
        ).scalar_one()
        await connection.execute(
            update(EventSeat)
            .where(EventSeat.event_id == event_id, EventSeat.seat_id == sold)
            .values(status=SeatStatus.AVAILABLE, order_id=None)
        )
        await connection.execute(
            update(EventSeat)
            .where(EventSeat.event_id == event_id, EventSeat.seat_id == free)
            .values(
                status=SeatStatus.HELD,
                hold_id=hold_id,
                hold_expires_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )

    checks = await loadtest.invariant_checks(
        postgres_database.url, str(event_id), results, float(SWEEPER_INTERVAL)
    )

    failed = {check.name for check in checks if not check.passed}
    assert failed == {
        "every seat of a paid order is sold to that order",
        "seats sold: buyers == database",
        "no hold outlived its deadline by more than the sweeper interval",
    }


async def _first_seat(
    connection: AsyncConnection, event_id: uuid.UUID, status: SeatStatus
) -> int:
    statement = (
        select(EventSeat.seat_id)
        .where(EventSeat.event_id == event_id, EventSeat.status == status)
        .limit(1)
    )
    seat: int = (await connection.execute(statement)).scalar_one()
    return seat


async def test_loadtest_kill_api_keeps_invariants(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    for tool in ("initdb", "pg_ctl", "redis-server", "nginx"):
        try:
            loadstack.find_tool(tool)
        except RuntimeError as error:
            unavailable(str(error))
    directory = tmp_path_factory.mktemp("loadtest-fault")

    run = await run_loadtest(
        directory,
        *SHORT_RUN,
        "--fault",
        "kill-api",
        "--fault-at",
        "10",
        "--run-time",
        "20",
        "--raw-seconds",
        "0",
    )

    assert run.exit_code == 0, run.explain()
    assert "### Fault: kill-api" in run.report, run.explain()
    assert "What the users saw" in run.report
    assert all("| pass |" in row for row in check_rows(run.report)), run.explain()
