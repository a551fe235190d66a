"""Hostile GraphQL documents are rejected before anything executes.

Each test app counts the SQL statements that its engine runs, so a test can
show that a rejected request never reached the database.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import EventFixture

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


def limit_of(body: dict[str, Any]) -> dict[str, Any]:
    (error,) = body["errors"]
    assert body.get("data") is None
    extensions: dict[str, Any] = error["extensions"]
    assert extensions["code"] == "QUERY_LIMIT_EXCEEDED"
    return extensions


async def test_depth_limit_rejects_deep_query(api_with: Any) -> None:
    async with api_with(graphql_max_depth=4) as (api, statements):
        body = await api.execute(DEEP)

        assert limit_of(body)["limit"] == "depth"
        assert limit_of(body)["maximum"] == 4
        assert statements() == 0


async def test_alias_limit_counts_aliases(api_with: Any) -> None:
    query = "{ " + " ".join(f"a{n}: __typename" for n in range(21)) + " }"
    async with api_with() as (api, statements):
        body = await api.execute(query)

        assert limit_of(body) == {
            "code": "QUERY_LIMIT_EXCEEDED",
            "limit": "aliases",
            "maximum": 20,
            "actual": 21,
        }
        assert statements() == 0


async def test_operation_limit_counts_operations(api_with: Any) -> None:
    query = " ".join(f"query Q{n} {{ __typename }}" for n in range(6))
    async with api_with() as (api, statements):
        response = await api.post({"query": query, "operationName": "Q0"})

        assert limit_of(response.json())["limit"] == "operations"
        assert statements() == 0


async def test_token_limit_stops_parsing(api_with: Any) -> None:
    query = "{ " + "__typename " * 3000 + "}"
    async with api_with() as (api, statements):
        body = await api.execute(query)

        assert body["errors"][0]["extensions"] == {
            "code": "QUERY_LIMIT_EXCEEDED",
            "limit": "tokens",
        }
        assert statements() == 0


async def test_cost_limit_multiplies_page_sizes(api_with: Any) -> None:
    async with api_with() as (api, statements):
        body = await api.execute(EXPENSIVE)

        extensions = limit_of(body)
        assert extensions["limit"] == "cost"
        assert extensions["maximum"] == 2000
        assert extensions["actual"] > 10_000
        assert statements() == 0


async def test_cost_limit_is_larger_with_a_token(api_with: Any) -> None:
    async with api_with(
        graphql_max_cost_anonymous=50, graphql_max_cost_authenticated=5000
    ) as (api, _):
        variables = {"first": 5}
        anonymous = await api.execute(EVENTS, variables)
        buyer = await api.execute(
            EVENTS, variables, token=api.token("buyer", "events:read")
        )

    assert limit_of(anonymous)["limit"] == "cost"
    assert "errors" not in buyer


async def test_variable_page_size_counts_as_maximum(api_with: Any) -> None:
    async with api_with(graphql_max_cost_anonymous=250) as (api, _):
        body = await api.execute(EVENTS, {"first": 1})

    # events (1) + max_page_size (100) x (edges 1 + node 1 + id 1).
    assert limit_of(body)["actual"] == 301


async def test_normal_queries_pass_limits(api_with: Any, on_sale: EventFixture) -> None:
    async with api_with() as (api, statements):
        body = await api.execute(EVENTS, {"first": 20})

        assert "errors" not in body
        assert body["data"]["events"]["edges"]
        assert statements() > 0


async def test_production_hides_introspection(api_with: Any) -> None:
    async with api_with(env="production") as (api, statements):
        body = await api.execute(INTROSPECTION)
        typo = await api.execute("{ evnts(first: 1) { edges { cursor } } }")

        assert "introspection" in body["errors"][0]["message"].lower()
        assert "Did you mean" not in typo["errors"][0]["message"]
        assert statements() == 0


async def test_development_allows_introspection(api_with: Any) -> None:
    async with api_with() as (api, _):
        body = await api.execute(INTROSPECTION)

    assert "errors" not in body
    assert body["data"]["__schema"]["types"]


async def test_batched_requests_are_rejected(api_with: Any) -> None:
    async with api_with() as (api, statements):
        response = await api.post([{"query": "{ __typename }"}] * 2)

        assert response.status_code == 400
        assert statements() == 0


async def test_body_limit_rejects_large_body(api_with: Any) -> None:
    padding = "x" * (2 << 20)
    async with api_with() as (api, statements):
        response = await api.post(
            {"query": "{ __typename }", "variables": {"padding": padding}}
        )

        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"] == {
            "code": "REQUEST_TOO_LARGE",
            "maximum": 1 << 20,
        }
        assert statements() == 0


async def test_body_limit_is_larger_for_organizers(api_with: Any) -> None:
    padding = "x" * (2 << 20)
    async with api_with() as (api, _):
        response = await api.post(
            {"query": "{ __typename }", "variables": {"padding": padding}},
            token=api.token("org", "organizer"),
        )

    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_scope_maximum_raises_cost_limit(api_with: Any) -> None:
    settings = {
        "graphql_max_cost_authenticated": 50,
        "graphql_max_cost_by_scope": {"partner:stream": 5000},
    }
    async with api_with(**settings) as (api, _):
        variables = {"first": 5}
        buyer = await api.execute(
            EVENTS, variables, token=api.token("buyer", "events:read")
        )
        partner = await api.execute(
            EVENTS, variables, token=api.token("partner", "partner:stream")
        )

    assert limit_of(buyer)["maximum"] == 50
    assert "errors" not in partner


async def test_field_weight_counts_seat_map(api_with: Any) -> None:
    query = "{ events(first: 5) { edges { node { id seatMap { version } } } } }"
    async with api_with(graphql_max_cost_anonymous=200) as (api, _):
        default_weight = await api.execute(query)
    async with api_with(
        graphql_max_cost_anonymous=200, graphql_field_weights={"Event.seatMap": 1}
    ) as (api, _):
        light = await api.execute(query)

    # events 1 + 5 x (edges 1 + node 1 + id 1 + seatMap 50 + version 1).
    assert limit_of(default_weight)["actual"] == 271
    assert "errors" not in light
