"""Locate ops/ and the Debian tools its tests run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from prometheus_client import REGISTRY

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
INSTALL_HINT = "scripts/ci-install.sh installs it"

# Names of metrics in PromQL text: seatline's own, plus `up` from Prometheus.
_METRIC_NAME = re.compile(r"\b(seatline_[a-z0-9_]+|up)\b")
# Written by ops/backup/backup.sh, not by the application.
BACKUP_METRIC = "seatline_backup_last_success_timestamp_seconds"


def require_tool(name: str) -> str:
    """Return the path of a tool; skip (fail under CI=true) when missing."""
    # nginx lives in /usr/sbin, which a non-root PATH may lack.
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        unavailable(f"{name} is not installed; {INSTALL_HINT}")
    assert path is not None
    return path


def exported_sample_names() -> set[str]:
    """Sample names the application exports, from its metric definitions."""
    import seatline.observability.metrics  # noqa: F401 (registers them)

    names = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("seatline_"):
            continue
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {
                f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")
            }
        else:
            names.add(family.name)
    return names


def metric_names_in(promql: str) -> set[str]:
    return set(_METRIC_NAME.findall(promql))
