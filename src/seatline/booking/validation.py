"""Input checks shared by the domain services."""

from __future__ import annotations

import unicodedata

from seatline.booking.errors import InvalidInput

MAX_IDEMPOTENCY_KEY_LENGTH = 200


def check_text(
    value: str, *, field: str, max_length: int, required: bool = True
) -> str:
    """Reject empty (when required), over-long and control-character text."""
    if required and not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise InvalidInput(
            f"{field} must be at most {max_length} characters, got {len(value)}",
            field=field,
        )
    if has_control_characters(value):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    return value


def has_control_characters(value: str) -> bool:
    """Return whether `value` contains control or format characters (NUL, ESC)."""
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in value)


def check_idempotency_key(key: str) -> str:
    if (
        not 8 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH
        or not key.isprintable()
        or not key.isascii()
    ):
        raise InvalidInput(
            "idempotencyKey must be 8 to 200 printable ASCII characters, "
            "such as a UUID",
            field="idempotencyKey",
        )
    return key
