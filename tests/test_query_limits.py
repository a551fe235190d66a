"""Hostile GraphQL documents are rejected before anything executes.

Each test app counts the SQL statements that its engine runs, so a test can
show that a rejected request never reached the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from seatline.app import create_app
from seatline.auth.keys import KeyStore
from seatline.booking.services import Services
from tests.conftest import ApiClient, DatabaseUnderTest, EventFixture, settings_for

EVENTS = """
query Events($first: Int!) { events(first: $first) { edges { node { id } } } }
"""
DEEP = """
{ events(first: 1) { edges { node { seats(first: 1) { edges { node { id } } } } } } }
"""
EXPENSIVE = """
{ events(first: 100) { edges { node { seats(first: 100) {
    edges { node { id row status } } } } } } }
"""
INTROSPECTION = "{ __schema { types { name } } }"


@asynccontextmanager
async def limited_app(
    database: DatabaseUnderTest,
    key_file: Path,
    keys: KeyStore,
    services: Services,
    **overrides: Any,
) -> AsyncIterator[tuple[ApiClient, Callable[[], int]]]:
    """An app with `overrides` in its settings, and its SQL statement count."""
    app = create_app(
        settings_for(database, key_file, **overrides),
        clock=services.clock,
        payments=services.payments,
        run_background_tasks=False,
    )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    async with app.router.lifespan_context(app):
        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://seatline.test"
        ) as client:
            statements.clear()
            yield ApiClient(client, keys), lambda: len(statements)
    await app.state.engine.dispose()


def limit_of(body: dict[str, Any]) -> dict[str, Any]:
    (error,) = body["errors"]
    assert body.get("data") is None
    extensions: dict[str, Any] = error["extensions"]
    assert extensions["code"] == "QUERY_LIMIT_EXCEEDED"
    return extensions


@pytest.fixture
def limited(
    database: DatabaseUnderTest, key_file: Path, keys: KeyStore, services: Services
) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        return limited_app(database, key_file, keys, services, **overrides)

    return make


async def test_depth_limit_rejects_deep_query(limited: Any) -> None:
    async with limited(graphql_max_depth=4) as (api, statements):
        body = await api.execute(DEEP)

        assert limit_of(body)["limit"] == "depth"
        assert limit_of(body)["maximum"] == 4
        assert statements() == 0


async def test_alias_limit_counts_aliases(limited: Any) -> None:
    query = "{ " + " ".join(f"a{n}: __typename" for n in range(21)) + " }"
    async with limited() as (api, statements):
        body = await api.execute(query)

        assert limit_of(body) == {
            "code": "QUERY_LIMIT_EXCEEDED",
            "limit": "aliases",
            "maximum": 20,
            "actual": 21,
        }
        assert statements() == 0


async def test_operation_limit_counts_operations(limited: Any) -> None:
    query = " ".join(f"query Q{n} {{ __typename }}" for n in range(6))
    async with limited() as (api, statements):
        response = await api.client.post(
            "/graphql", json={"query": query, "operationName": "Q0"}
        )

        assert limit_of(response.json())["limit"] == "operations"
        assert statements() == 0


async def test_token_limit_stops_parsing(limited: Any) -> None:
    query = "{ " + "__typename " * 3000 + "}"
    async with limited() as (api, statements):
        body = await api.execute(query)

        assert body["errors"][0]["extensions"] == {
            "code": "QUERY_LIMIT_EXCEEDED",
            "limit": "tokens",
        }
        assert statements() == 0


async def test_cost_limit_multiplies_page_sizes(limited: Any) -> None:
    async with limited() as (api, statements):
        body = await api.execute(EXPENSIVE)

        extensions = limit_of(body)
        assert extensions["limit"] == "cost"
        assert extensions["maximum"] == 2000
        assert extensions["actual"] > 10_000
        assert statements() == 0


async def test_cost_limit_is_larger_with_a_token(limited: Any) -> None:
    async with limited(
        graphql_max_cost_anonymous=50, graphql_max_cost_authenticated=5000
    ) as (api, _):
        variables = {"first": 5}
        anonymous = await api.execute(EVENTS, variables)
        buyer = await api.execute(
            EVENTS, variables, token=api.token("buyer", "events:read")
        )

    assert limit_of(anonymous)["limit"] == "cost"
    assert "errors" not in buyer


async def test_variable_page_size_counts_as_maximum(limited: Any) -> None:
    async with limited(graphql_max_cost_anonymous=250) as (api, _):
        body = await api.execute(EVENTS, {"first": 1})

    # events (1) + max_page_size (100) x (edges 1 + node 1 + id 1).
    assert limit_of(body)["actual"] == 301


async def test_normal_queries_pass_limits(limited: Any, on_sale: EventFixture) -> None:
    async with limited() as (api, statements):
        body = await api.execute(EVENTS, {"first": 20})

        assert "errors" not in body
        assert on_sale.id in str(body)
        assert statements() > 0


async def test_production_hides_introspection(limited: Any) -> None:
    async with limited(env="production") as (api, statements):
        body = await api.execute(INTROSPECTION)
        typo = await api.execute("{ evnts(first: 1) { edges { cursor } } }")

        assert "introspection" in body["errors"][0]["message"].lower()
        assert "Did you mean" not in typo["errors"][0]["message"]
        assert statements() == 0


async def test_development_allows_introspection(limited: Any) -> None:
    async with limited() as (api, _):
        body = await api.execute(INTROSPECTION)

    assert "errors" not in body
    assert body["data"]["__schema"]["types"]


async def test_batched_requests_are_rejected(limited: Any) -> None:
    async with limited() as (api, statements):
        response = await api.client.post(
            "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}]
        )

        assert response.status_code == 400
        assert statements() == 0


async def test_body_limit_rejects_large_body(limited: Any) -> None:
    padding = "x" * (2 << 20)
    async with limited() as (api, statements):
        response = await api.client.post(
            "/graphql",
            json={"query": "{ __typename }", "variables": {"padding": padding}},
        )

        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"] == {
            "code": "REQUEST_TOO_LARGE",
            "maximum": 1 << 20,
        }
        assert statements() == 0


async def test_body_limit_is_larger_for_organizers(limited: Any) -> None:
    padding = "x" * (2 << 20)
    async with limited() as (api, _):
        response = await api.client.post(
            "/graphql",
            json={"query": "{ __typename }", "variables": {"padding": padding}},
            headers={"Authorization": f"Bearer {api.token('org', 'organizer')}"},
        )

    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}
