"""Helpers shared by the forecast tests."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_SECONDS = 60


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def seatline(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the `seatline` command line in a subprocess of this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "seatline", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
