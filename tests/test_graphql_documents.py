"""Root fields of parsed documents, as the limits, rate limits and metrics see them."""

from __future__ import annotations

from graphql import get_operation_ast, parse

from seatline.schema.documents import fragments_of, root_field_names


def root_fields(source: str, operation_name: str | None = None) -> set[str]:
    document = parse(source)
    operation = get_operation_ast(document, operation_name)
    assert operation is not None
    return root_field_names(operation, fragments_of(document))


def test_root_field_names_lists_plain_fields() -> None:
    assert root_fields("{ events { edges { cursor } } __typename }") == {
        "events",
        "__typename",
    }


def test_root_field_names_follows_fragments() -> None:
    source = """
    mutation Buy { ...Booking ... on Mutation { payOrder(orderId: "1") { id } } }
    fragment Booking on Mutation { ...Hold checkout(holdId: "1") { id } }
    fragment Hold on Mutation { holdSeats(input: {}) { id } }
    """

    assert root_fields(source) == {"holdSeats", "checkout", "payOrder"}


def test_root_field_names_of_the_named_operation_only() -> None:
    source = "query A { events { id } } mutation B { holdSeats { id } }"

    assert root_fields(source, "B") == {"holdSeats"}


def test_root_field_names_skips_bad_spreads() -> None:
    source = """
    query { ...Loop ...Missing }
    fragment Loop on Query { events { id } ...Loop }
    """

    assert root_fields(source) == {"events"}
