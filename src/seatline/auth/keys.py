"""Signing keys for access tokens and tickets, kept in one JSON file.

The file holds private JWKs under "token" and "ticket"; the first key of each
list signs, and all of them verify, so a new key can be put first while older
tokens and tickets still validate.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
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

    @property
    def token_signing_key(self) -> ECKey:
        return self.token_keys[0]

    @property
    def ticket_signing_key(self) -> ECKey:
        return self.ticket_keys[0]

    def token_key_set(self) -> KeySet:
        return KeySet(list(self.token_keys))

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
            },
            option=orjson.OPT_INDENT_2,
        )


def generate_key_store() -> KeyStore:
    return KeyStore(token_keys=[_generate_key()], ticket_keys=[_generate_key()])


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
    )


def _import_key(data: dict[str, Any]) -> ECKey:
    key = ECKey.import_key(data)
    key.ensure_kid()
    return key


def write_key_store(path: Path, store: KeyStore) -> None:
    """Write the key file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(store.to_json())
