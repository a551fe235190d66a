"""Signing keys for access tokens and tickets, kept in one JSON file.

The file holds private JWKs under "token" and "ticket"; the first key of each
list signs, and all of them verify, so a new key can be put first while older
tokens and tickets still validate. "retired" maps the kid of each token key
that no longer signs to the Unix time it stopped, so it can be dropped once
every token it signed has expired.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from joserfc.jwk import ECKey, KeySet

logger = logging.getLogger(__name__)

ALGORITHM = "ES256"


@dataclass(frozen=True)
class KeyStore:
    token_keys: list[ECKey]
    ticket_keys: list[ECKey]
    retired: dict[str, float] = field(default_factory=dict)

    @property
    def token_signing_key(self) -> ECKey:
        return self.token_keys[0]

    @property
    def ticket_signing_key(self) -> ECKey:
        return self.ticket_keys[0]

    def token_key_set(self) -> KeySet:
        return KeySet(list(self.token_keys))

    def token_kids(self) -> set[str]:
        return {_kid(key) for key in self.token_keys}

    def ticket_key_set(self) -> KeySet:
        return KeySet(list(self.ticket_keys))

    def public_jwks(self) -> dict[str, Any]:
        """Return the JWKS to publish: the public part of every token and ticket key."""
        keys = [
            key.as_dict(private=False, use="sig", alg=ALGORITHM)
            for key in (*self.token_keys, *self.ticket_keys)
        ]
        return {"keys": keys}

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "token": [key.as_dict(private=True) for key in self.token_keys],
                "ticket": [key.as_dict(private=True) for key in self.ticket_keys],
                "retired": self.retired,
            },
            option=orjson.OPT_INDENT_2,
        )

    def rotate(self, now: float | None = None) -> KeyStore:
        """Return a store whose new token key signs; the old ones still verify."""
        now = time.time() if now is None else now
        retired = dict(self.retired)
        for key in self.token_keys:
            retired.setdefault(_kid(key), now)
        return replace(
            self, token_keys=[_generate_key(), *self.token_keys], retired=retired
        )

    def prune(self, keep_seconds: float, now: float | None = None) -> KeyStore:
        """Drop token keys retired more than `keep_seconds` ago."""
        now = time.time() if now is None else now
        signing, *older = self.token_keys
        kept = [
            key
            for key in older
            if self.retired.get(_kid(key), now) + keep_seconds > now
        ]
        kids = {_kid(key) for key in kept}
        retired = {kid: at for kid, at in self.retired.items() if kid in kids}
        return replace(self, token_keys=[signing, *kept], retired=retired)


def generate_key_store() -> KeyStore:
    return KeyStore(token_keys=[_generate_key()], ticket_keys=[_generate_key()])


def _kid(key: ECKey) -> str:
    kid = key.kid
    assert kid is not None
    return kid


def _generate_key() -> ECKey:
    key = ECKey.generate_key("P-256", private=True)
    key.ensure_kid()
    return key


def load_key_store(path: Path, *, create: bool) -> KeyStore:
    """Read the key file; with `create`, write a new one where none exists."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(
                f"key file {path} not found; set SEATLINE_KEY_FILE or run "
                "`seatline keys generate`"
            )
        store = generate_key_store()
        write_key_store(path, store)
        logger.info("generated signing keys", extra={"key_file": str(path)})
        return store

    data = orjson.loads(path.read_bytes())
    return KeyStore(
        token_keys=[_import_key(item) for item in data["token"]],
        ticket_keys=[_import_key(item) for item in data["ticket"]],
        retired={str(kid): float(at) for kid, at in data.get("retired", {}).items()},
    )


def _import_key(data: dict[str, Any]) -> ECKey:
    key = ECKey.import_key(data)
    key.ensure_kid()
    return key


def write_key_store(path: Path, store: KeyStore) -> None:
    """Write the key file readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Servers re-read the file while it is rewritten: they must see the old
    # or the new file, never half of one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(store.to_json())
    os.replace(temporary, path)


class KeySource:
    """The key file as loaded, re-read when it changes on disk.

    `seatline keys rotate` rewrites the file while servers run. Each process
    picks the new keys up within `check_seconds`. A token with a kid that
    the process does not know makes it call `reload()` at once.
    """

    def __init__(self, path: Path, store: KeyStore, *, check_seconds: float = 5.0):
        self.path = path
        self._store = store
        self._check_seconds = check_seconds
        self._checked_at = time.monotonic()
        self._mtime = _mtime(path)

    def current(self) -> KeyStore:
        if time.monotonic() - self._checked_at >= self._check_seconds:
            self.reload()
        return self._store

    def reload(self) -> bool:
        """Re-read the file if it changed; return True when it did."""
        self._checked_at = time.monotonic()
        mtime = _mtime(self.path)
        if mtime is None or mtime == self._mtime:
            return False
        try:
            store = load_key_store(self.path, create=False)
        except (OSError, ValueError, KeyError) as error:
            # A half-written file must not take the server down.
            logger.warning(
                "cannot reload the key file",
                extra={"key_file": str(self.path), "error": repr(error)},
            )
            return False
        self._store = store
        self._mtime = mtime
        logger.info("reloaded signing keys", extra={"key_file": str(self.path)})
        return True


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
