"""Schemathesis against a running server: generated operations, no server errors.

Schemathesis reads the schema by introspection and generates documents with
valid (and, for strings, hostile) arguments for every query and mutation
field. They are sent with a token that has every scope, on a database that
contains an event on sale, so that queries reach real rows. Expected failures
are typed errors with a code. The server masks an unexpected one as
"internal server error", and this test fails on any of those and on any 5xx.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graphql
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.case import Case
from schemathesis.graphql import nodes
from schemathesis.schemas import APIOperation

from seatline.auth.keys import KeyStore
from seatline.auth.tokens import Scope, mint_token
from seatline.booking.holds import HoldRequest, hold_seats
from seatline.booking.orders import checkout
from seatline.booking.services import Services
from tests.conftest import AUDIENCE, ISSUER, DatabaseUnderTest, make_event, seat_ids
from tests.live import live_server

pytestmark = pytest.mark.slow

# Generated documents per query or mutation field.
EXAMPLES_PER_OPERATION = 20
MASKED_MESSAGE = "internal server error"


def json_node(value: Any) -> graphql.ValueNode:
    """Write a JSON value as a GraphQL literal (for the JSON scalar)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float):
        return graphql.FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return graphql.StringValueNode(value=value)
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(json_node(item) for item in value))
    fields = tuple(
        graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=json_node(item))
        for key, item in value.items()
    )
    return graphql.ObjectValueNode(fields=fields)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**31), max_value=2**31 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.from_regex(r"\A[a-z_][a-z0-9_]{0,8}\Z"), children, max_size=4
        )
    ),
    max_leaves=12,
)
# Schemathesis has no strategy for the JSON scalar (a venue's seating plan).
schemathesis.graphql.scalar("JSON", JSON_VALUES.map(json_node))


def server_errors(response: requests.Response) -> list[Any]:
    """Return the errors of `response` that the server did not expect."""
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:500]}"]
    try:
        body = response.json()
    except ValueError:
        return [f"not JSON (HTTP {response.status_code}): {response.text[:500]}"]
    errors = (body.get("errors") or []) if isinstance(body, dict) else []
    return [
        error
        for error in errors
        if error.get("message") == MASKED_MESSAGE
        or (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]


def operations(schema: Any) -> Iterator[APIOperation]:
    for result in schema.get_all_operations():
        yield result.ok()


def fuzz_operation(operation: APIOperation, base_url: str, token: str) -> None:
    """Send generated documents for one field and fail on the first server error."""
    headers = {"Authorization": f"Bearer {token}"}
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def send(case: Case) -> None:
        response = case.call(
            base_url=base_url, session=session, headers=headers, timeout=30
        )
        problems = server_errors(response)
        assert not problems, f"{case.as_curl_command()}\n{problems}"

    try:
        send()
    finally:
        session.close()


async def seed(services: Services) -> tuple[str, list[str], list[str]]:
    """Add an event with a hold and an order of one principal, the organizer.

    Return the principal and the ids and strings that generated documents
    mix in, so that some reach real rows instead of failing on an unknown id.
    """
    event = await make_event(services)
    subject = event.organizer_id
    seats = seat_ids(event)
    held = await hold_seats(
        services,
        subject,
        HoldRequest(event.event.id, str(uuid.uuid4()), seat_ids=seats[:2]),
    )
    unpaid = await hold_seats(
        services,
        subject,
        HoldRequest(event.event.id, str(uuid.uuid4()), seat_ids=seats[2:4]),
    )
    order = await checkout(services, subject, unpaid.id, str(uuid.uuid4()))
    ids = [str(value) for value in (event.id, event.venue.id, held.id, order.id)]
    strings = [*seats[4:10], "tok_approve", "tok_decline_card", str(uuid.uuid4())]
    return subject, ids, strings


def register_scalars(ids: list[str], strings: list[str]) -> None:
    """Mix real ids and useful strings into generated IDs and Strings.

    The rest are any text, control characters and strings of up to 12 kB.
    """
    long_text = st.integers(min_value=1000, max_value=12_000).map(lambda n: "x" * n)
    control_text = st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=4)
    schemathesis.graphql.scalar(
        "ID", (st.sampled_from(ids) | st.text(max_size=40)).map(nodes.String)
    )
    # Half of the Ints are near the ranges of page sizes and seat counts, so
    # that some requests get past the range checks.
    schemathesis.graphql.scalar(
        "Int",
        (
            st.integers(min_value=-2, max_value=120) | st.integers(-(2**31), 2**31 - 1)
        ).map(nodes.Int),
    )
    schemathesis.graphql.scalar(
        "String",
        (
            st.sampled_from(strings) | st.text(max_size=40) | control_text | long_text
        ).map(nodes.String),
    )


# PostgreSQL rejects NUL in text, which SQLite stores, so it finds more server
# errors. A second run on SQLite would double the time.
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_generated_operations_no_server_errors(
    database: DatabaseUnderTest, services: Services, key_file: Path, keys: KeyStore
) -> None:
    subject, ids, strings = await seed(services)
    register_scalars(ids, strings)
    token = mint_token(
        keys,
        subject=subject,
        scopes=[scope.value for scope in Scope],
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    async with live_server(
        database.url, key_file, issuer=ISSUER, audience=AUDIENCE
    ) as base_url:
        schema = await asyncio.to_thread(
            schemathesis.graphql.from_url,
            f"{base_url}/graphql",
            headers={"Authorization": f"Bearer {token}"},
        )
        for operation in operations(schema):
            await asyncio.to_thread(
                fuzz_operation, operation, f"{base_url}/graphql", token
            )
