"""Smoke test of bench/side_by_side.py: a tiny run prints every row of its table."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "side_by_side.py"
EXPECTED_CASES = [
    "holds, spread over 2,000 seats",
    "holds, spread over 2,000 seats: CPU per attempt",
    "holds, hot block of 200 seats",
    "holds, hot block of 200 seats: CPU per attempt",
    "holds, hot block: successful holds",
    "seat map, 2,000 seats, cold cache",
    "seat map, 2,000 seats, warm cache",
    "read path: events, requests/s",
    "read path: events, p50",
    "fan-out: server CPU per message",
    "fan-out: p50 commit to client",
]


def table_rows(output: str) -> dict[str, list[str]]:
    """The cells of each markdown table row, by the row's first cell."""
    rows = {}
    for line in output.splitlines():
        if not line.startswith("| ") or line.startswith(("| case", "| ---")):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
async def test_side_by_side_prints_every_case(
    postgres_admin_url: str, redis_url: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--seats=2000",
        "--hot-seats=200",
        "--duration=1",
        "--repeats=2",
        # Enough messages that even the bare server's CPU time spans several
        # clock ticks (10 ms each), or its CPU per message reads 0.
        "--subscribers=100",
        "--fanout-rate=20",
        f"--admin-url={postgres_admin_url}",
        f"--redis-url={redis_url}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    output = stdout.decode()

    assert process.returncode == 0, stderr.decode()[-3000:]
    assert "Machine: " in output
    assert "Command: " in output
    rows = table_rows(output)
    assert list(rows) == EXPECTED_CASES
    for case, cells in rows.items():
        ratio = float(cells[2])
        assert math.isfinite(ratio), f"{case}: ratio {cells[2]}"
        assert ratio > 0, f"{case}: ratio {cells[2]}"
    assert "same JSON" in rows["seat map, 2,000 seats, cold cache"][3]
    assert "same JSON" in rows["read path: events, requests/s"][3]
