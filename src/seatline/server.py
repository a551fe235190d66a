"""Run the API under uvicorn with seatline's logging, metrics and shutdown.

This module must not import prometheus_client: metrics created before
`prepare_multiprocess_dir` empties the directory would write to deleted
files, and /metrics would never show them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import uvicorn

from seatline.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def run_server(host: str, port: int, workers: int, *, log_level: str) -> None:
    """Serve until SIGTERM or SIGINT; see observability.shutdown for the
    order of a graceful shutdown."""
    settings = Settings()
    created = prepare_multiprocess_dir(workers)
    try:
        uvicorn.run(
            "seatline.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            log_level=log_level,
            # The application configures logging itself (JSON or text), and
            # logs each request with its request id in place of uvicorn's
            # access log, which would also print query strings.
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
        )
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


def prepare_multiprocess_dir(workers: int) -> Path | None:
    """Set up PROMETHEUS_MULTIPROC_DIR before uvicorn starts its workers.

    A directory given in the environment is emptied of a previous run's
    files, as prometheus_client requires. Without one, several workers get a
    new temporary directory, which is returned so that the caller removes it
    after the server stops. A single worker keeps the in-process registry.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    if workers <= 1:
        return None
    created = Path(tempfile.mkdtemp(prefix="seatline-metrics-"))
    os.environ[MULTIPROC_ENV] = str(created)
    return created
