"""Persisted queries: clients send a document's SHA-256 instead of its text.

Automatic persisted queries follow the protocol Apollo clients speak: the
request carries `extensions.persistedQuery = {"version": 1, "sha256Hash":
...}`. When the server does not know the hash, it responds with the error
code PERSISTED_QUERY_NOT_FOUND, and the client sends the hash again with
the document, which the server checks against the hash and keeps.

Registered operations are read from a JSON file that maps hashes to
documents. With `anonymous_registered_only`, callers without a token may
run only those, by hash or by a text whose hash is registered.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

from strawberry.http import GraphQLRequestData

from seatline.http_errors import error_body

_HASH = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(Exception):
    """A request that gets a GraphQL error response and is not executed."""

    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> bytes:
        return error_body(self.message, {"code": self.code})


def document_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def load_registered(path: Path) -> dict[str, str]:
    """Read registered operations, checking that every hash matches its text."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise TypeError(f"{path}: expected an object mapping hashes to documents")
    for key, query in data.items():
        if not isinstance(query, str) or document_hash(query) != key:
            raise ValueError(f"{path}: the document under {key} does not hash to it")
    return dict(data)


class PersistedQueries:
    def __init__(
        self,
        registered: dict[str, str] | None = None,
        *,
        max_automatic: int = 1000,
        anonymous_registered_only: bool = False,
    ) -> None:
        self.registered = registered or {}
        self.anonymous_registered_only = anonymous_registered_only
        self._automatic: OrderedDict[str, str] = OrderedDict()
        self._max_automatic = max_automatic

    def resolve(
        self, request: GraphQLRequestData, *, anonymous: bool
    ) -> GraphQLRequestData:
        """Return the request with its document, or raise PersistedQueryError."""
        persisted = (request.extensions or {}).get("persistedQuery")
        if persisted is None:
            return self._plain(request, anonymous=anonymous)

        digest = _checked_hash(persisted)
        if request.query is not None:
            if document_hash(request.query) != digest:
                raise PersistedQueryError(
                    "PERSISTED_QUERY_HASH_MISMATCH",
                    "the document does not match extensions.persistedQuery.sha256Hash",
                    status=400,
                )
            self._plain(request, anonymous=anonymous)
            self._remember(digest, request.query)
            return request

        query = self.registered.get(digest)
        if query is None and not (anonymous and self.anonymous_registered_only):
            query = self._automatic.get(digest)
            if query is not None:
                self._automatic.move_to_end(digest)
        if query is None:
            raise PersistedQueryError(
                "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound"
            )
        return replace(request, query=query)

    def _plain(
        self, request: GraphQLRequestData, *, anonymous: bool
    ) -> GraphQLRequestData:
        if not (anonymous and self.anonymous_registered_only):
            return request
        if request.query is None or document_hash(request.query) not in self.registered:
            raise PersistedQueryError(
                "PERSISTED_QUERY_REQUIRED",
                "requests without a token may run only registered operations",
                status=403,
            )
        return request

    def _remember(self, digest: str, query: str) -> None:
        if digest in self.registered:
            return
        self._automatic[digest] = query
        self._automatic.move_to_end(digest)
        while len(self._automatic) > self._max_automatic:
            self._automatic.popitem(last=False)


def _checked_hash(persisted: Any) -> str:
    if (
        not isinstance(persisted, dict)
        or persisted.get("version") != 1
        or not isinstance(persisted.get("sha256Hash"), str)
        or not _HASH.fullmatch(persisted["sha256Hash"])
    ):
        raise PersistedQueryError(
            "PERSISTED_QUERY_INVALID",
            "extensions.persistedQuery must be {version: 1, sha256Hash: "
            "64 lowercase hex digits}",
            status=400,
        )
    digest: str = persisted["sha256Hash"]
    return digest
