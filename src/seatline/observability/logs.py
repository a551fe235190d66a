"""Structured logs: one JSON object per line, with the request's context.

Each record carries the request id, the GraphQL operation and the caller's
subject of the request it was logged in, through context variables that
the request middleware and the GraphQL extension fill. Fields passed with
`extra=` go under "extra". Values that look like credentials are replaced
with "[REDACTED]" before anything is written, as a second line of defence:
code must still never log a secret.
"""

from __future__ import annotations

import contextvars
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from seatline.config import Environment, Settings

LogFormat = Literal["json", "text"]

REDACTED = "[REDACTED]"

# Attributes every LogRecord has; anything else came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
) | {"message", "asctime", "color_message", "taskName"}

# Keys whose values are secrets wherever they appear in `extra`.
_SECRET_KEY = re.compile(
    r"token|password|passwd|secret|authorization|cookie|card|cvc|iban|api_key",
    re.IGNORECASE,
)
# Secrets inside free text: bearer credentials, JWTs (three base64url parts,
# the first one a JSON header), payment tokens of the form tok_..., and
# password or token assignments.
_SECRET_TEXT = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    r"|\b(?:tok|pm|card)_[A-Za-z0-9_]+"
    r"|(?i:password|passwd|secret|token)[\"']?\s*[:=]\s*[\"']?[^\s\"',}]+"
)


@dataclass
class RequestLog:
    """Context shared by the log records of one request or websocket."""

    request_id: str
    operation: str | None = None
    principal: str | None = None
    # "ok", or the first error code of the GraphQL result.
    outcome: str | None = None
    error_codes: list[str] = field(default_factory=list)


current_request: contextvars.ContextVar[RequestLog | None] = contextvars.ContextVar(
    "seatline_request_log", default=None
)


def redact_text(text: str) -> str:
    return _SECRET_TEXT.sub(REDACTED, text)


def redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(repr(value))


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON, ready for Loki or Elasticsearch."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        request = current_request.get()
        if request is not None:
            entry["request_id"] = request.request_id
            entry["operation"] = request.operation
            entry["principal"] = request.principal
        extra = {
            key: redact_value(key, value)
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
        }
        # The request middleware's summary line sets these itself.
        for key in ("duration_ms", "outcome", "request_id", "operation", "principal"):
            if key in extra:
                entry[key] = extra.pop(key)
        if extra:
            entry["extra"] = extra
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Plain text for a terminal, with the same redaction as the JSON logs."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request = current_request.get()
        if request is not None:
            line += f" request_id={request.request_id}"
        return redact_text(line)


def log_format_for(settings: Settings) -> LogFormat:
    if settings.log_format is not None:
        return settings.log_format
    return "json" if settings.env is Environment.PRODUCTION else "text"


def log_format_from_environment() -> LogFormat:
    """Return the log format that SEATLINE_* variables select.

    Invalid variables give "text", so that the error about them still prints.
    """
    try:
        return log_format_for(Settings())
    except ValidationError:
        return "text"


class _SeatlineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler that configure_logging installs and later replaces."""


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Send every logger's records to stderr in `log_format`.

    uvicorn's loggers propagate here when uvicorn runs with log_config=None,
    as `seatline serve` does.

    Like logging.basicConfig, it leaves logging alone when a handler that it
    did not install is already on the root logger (a test runner's, say).
    Calling it again replaces its own handler, so the CLI process and the
    worker processes uvicorn starts write the same format.
    """
    root = logging.getLogger()
    if any(not isinstance(handler, _SeatlineHandler) for handler in root.handlers):
        return
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = _SeatlineHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The websockets library logs whole frames, connection_init tokens
    # included, at DEBUG.
    logging.getLogger("websockets").setLevel(max(root.level, logging.INFO))
