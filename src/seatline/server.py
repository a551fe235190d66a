"""Run the API under uvicorn with seatline's logging, metrics and shutdown."""

from __future__ import annotations

import uvicorn

from seatline.config import Settings
from seatline.observability import metrics


def run_server(host: str, port: int, workers: int, *, log_level: str) -> None:
    """Serve until SIGTERM or SIGINT; see observability.shutdown for the
    order of a graceful shutdown."""
    settings = Settings()
    created = metrics.prepare_multiprocess_dir(workers)
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
        metrics.remove_multiprocess_dir(created)
