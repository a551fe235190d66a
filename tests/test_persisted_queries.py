"""Automatic persisted queries and registered-only operations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from seatline.persisted_queries import document_hash, load_registered

TYPENAME = "{ __typename }"
EVENTS = "query Events { events(first: 5) { edges { node { id } } } }"


def persisted(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": document_hash(query)}}


async def test_unknown_hash_then_registration_then_hash_alone(api_with: Any) -> None:
    async with api_with() as (api, _):
        missing = await api.post({"extensions": persisted(EVENTS)})
        registered = await api.post({"query": EVENTS, "extensions": persisted(EVENTS)})
        by_hash = await api.post({"extensions": persisted(EVENTS)})

    assert missing.status_code == 200
    assert missing.json()["errors"][0]["extensions"]["code"] == (
        "PERSISTED_QUERY_NOT_FOUND"
    )
    assert "errors" not in registered.json()
    assert by_hash.json() == registered.json()


async def test_hash_of_another_document_is_rejected(api_with: Any) -> None:
    async with api_with() as (api, statements):
        response = await api.post({"query": TYPENAME, "extensions": persisted(EVENTS)})

        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == (
            "PERSISTED_QUERY_HASH_MISMATCH"
        )
        assert statements() == 0


@pytest.mark.parametrize(
    "extension",
    [
        {"version": 2, "sha256Hash": "0" * 64},
        {"version": 1, "sha256Hash": "not-a-hash"},
        {"version": 1},
        "persisted",
    ],
)
async def test_malformed_persisted_query_is_rejected(
    api_with: Any, extension: Any
) -> None:
    async with api_with() as (api, _):
        response = await api.post({"extensions": {"persistedQuery": extension}})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == (
        "PERSISTED_QUERY_INVALID"
    )


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "operations.json"
    path.write_text(json.dumps({document_hash(EVENTS): EVENTS}))
    return path


async def test_registered_only_limits_anonymous_callers(
    api_with: Any, registry: Path
) -> None:
    settings = {"persisted_queries_file": registry, "anonymous_registered_only": True}
    async with api_with(**settings) as (api, statements):
        by_hash = await api.post({"extensions": persisted(EVENTS)})
        by_text = await api.post({"query": EVENTS})
        other = await api.post({"query": TYPENAME})
        automatic = await api.post(
            {"query": TYPENAME, "extensions": persisted(TYPENAME)}
        )
        calls_before_buyer = statements()
        buyer = await api.post(
            {"query": TYPENAME}, token=api.token("buyer", "events:read")
        )

    assert "errors" not in by_hash.json()
    assert "errors" not in by_text.json()
    for rejected in (other, automatic):
        assert rejected.status_code == 403
        assert rejected.json()["errors"][0]["extensions"]["code"] == (
            "PERSISTED_QUERY_REQUIRED"
        )
    assert calls_before_buyer > 0
    assert buyer.json() == {"data": {"__typename": "Query"}}


def test_registry_with_wrong_hash_fails_to_load(tmp_path: Path) -> None:
    path = tmp_path / "operations.json"
    path.write_text(json.dumps({"0" * 64: EVENTS}))

    with pytest.raises(ValueError, match="does not hash"):
        load_registered(path)
