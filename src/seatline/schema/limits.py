"""Limits on GraphQL documents, checked before anything executes.

A document is rejected during validation when it is too deep, has too many
aliases or operations, or costs too much. A parse that would exceed the
token limit is aborted by the parser itself. Each rejection is a GraphQL
error with the code QUERY_LIMIT_EXCEEDED and `limit`, `maximum` and
`actual` in its extensions, so a client can tell which limit it hit.

Cost: every field costs its weight, 1 unless `field_weights` says more. A
field that returns a list multiplies the cost of its selections by its
`first` or `limit` argument, by the page-size maximum when the argument is
a variable (validation runs before variables are known), or by
`DEFAULT_LIST_SIZE` when it has no such argument. The maximum cost depends
on the caller: anonymous, authenticated, or the largest of the maximums
set for the scopes its token has.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

from seatline.schema.documents import fragments_of

LIMIT_CODE = "QUERY_LIMIT_EXCEEDED"
# Lists without a size argument (a seat map's sections, an order's items)
# are assumed to hold this many items.
DEFAULT_LIST_SIZE = 10
# Message graphql-core's parser gives when it stops at its token limit.
_PARSER_LIMIT_MESSAGE = "Document contains more than"


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 12
    max_aliases: int = 20
    max_operations: int = 5
    max_tokens: int = 2000
    # Cost for callers without a token, and for those with one.
    max_cost_anonymous: int = 2000
    max_cost_authenticated: int = 5000
    max_page_size: int = 100
    # Production: no introspection.
    introspection: bool = True
    # (scope, maximum cost) pairs that raise the authenticated maximum.
    max_cost_by_scope: tuple[tuple[str, int], ...] = ()
    # ("Type.field", weight) pairs for fields that cost more than 1.
    field_weights: tuple[tuple[str, int], ...] = ()

    def max_cost_for(self, scopes: frozenset[str] | None) -> int:
        """Return the maximum cost for a caller with `scopes` (None: anonymous)."""
        if scopes is None:
            return self.max_cost_anonymous
        by_scope = [cost for scope, cost in self.max_cost_by_scope if scope in scopes]
        return max([self.max_cost_authenticated, *by_scope])


# A seat map reads every seat of the event; importing a venue writes one row
# per seat.
DEFAULT_FIELD_WEIGHTS: dict[str, int] = {
    "Event.seatMap": 50,
    "Mutation.importVenue": 100,
}


def limit_error(limit: str, maximum: int, actual: int) -> GraphQLError:
    return GraphQLError(
        f"the query exceeds the {limit} limit: {actual} > {maximum}",
        extensions={
            "code": LIMIT_CODE,
            "limit": limit,
            "maximum": maximum,
            "actual": actual,
        },
    )


class QueryLimitsExtension(SchemaExtension):
    """Add the limit rules for this caller before the document is validated.

    The rule classes are made once per cost limit, because the validation
    cache keys its entries by the rules.
    """

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options = {
            **context.parse_options,
            "max_tokens": self.limits.max_tokens,
        }
        principal = getattr(context.context, "principal", None)
        max_cost = self.limits.max_cost_for(
            None if principal is None else principal.scopes
        )
        context.validation_rules = (
            *context.validation_rules,
            *_rules(self.limits, max_cost),
        )
        yield


def add_token_limit_code(error: GraphQLError) -> None:
    """Give the parser's error for too many tokens the limit's code.

    The parse error escapes the extensions' hooks, so the schema calls this
    for each error before it is sent.
    """
    if _PARSER_LIMIT_MESSAGE in error.message and not error.extensions:
        error.extensions = {"code": LIMIT_CODE, "limit": "tokens"}


@functools.cache
def _rules(limits: QueryLimits, max_cost: int) -> tuple[type[ValidationRule], ...]:
    class QueryLimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            _check_document(context, limits, max_cost)

    rules: tuple[type[ValidationRule], ...] = (QueryLimitsRule,)
    if not limits.introspection:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    return rules


def _check_document(
    context: ValidationContext, limits: QueryLimits, max_cost: int
) -> None:
    document = context.document
    operations = [
        node
        for node in document.definitions
        if isinstance(node, OperationDefinitionNode)
    ]
    fragments = fragments_of(document)
    if len(operations) > limits.max_operations:
        context.report_error(
            limit_error("operations", limits.max_operations, len(operations))
        )
        return

    measure = _Measure(
        context, fragments, limits.max_page_size, dict(limits.field_weights)
    )
    for operation in operations:
        root = context.schema.get_root_type(operation.operation)
        if root is None:
            continue
        depth, cost = measure.selection(operation.selection_set, root, set())
        if depth > limits.max_depth:
            context.report_error(limit_error("depth", limits.max_depth, depth))
        if cost > max_cost:
            context.report_error(limit_error("cost", max_cost, cost))
    if measure.aliases > limits.max_aliases:
        context.report_error(
            limit_error("aliases", limits.max_aliases, measure.aliases)
        )


class _Measure:
    """Depth, cost and aliases of selections, with fragments expanded."""

    def __init__(
        self,
        context: ValidationContext,
        fragments: dict[str, FragmentDefinitionNode],
        max_page_size: int,
        weights: dict[str, int],
    ) -> None:
        self.context = context
        self.fragments = fragments
        self.max_page_size = max_page_size
        self.weights = weights
        self.aliases = 0

    def selection(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLObjectType | Any,
        spreads: set[str],
    ) -> tuple[int, int]:
        """Return the depth and cost of `selection_set` under `parent`."""
        if selection_set is None:
            return 0, 0
        depth = cost = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                node_depth, node_cost = self.field(node, parent, spreads)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                inner = (
                    self.context.schema.get_type(condition.name.value)
                    if condition is not None
                    else parent
                )
                node_depth, node_cost = self.selection(
                    node.selection_set, inner, spreads
                )
            elif isinstance(node, FragmentSpreadNode):
                node_depth, node_cost = self.spread(node, spreads)
            else:
                continue
            depth = max(depth, node_depth)
            cost += node_cost
        return depth, cost

    def spread(self, node: FragmentSpreadNode, spreads: set[str]) -> tuple[int, int]:
        name = node.name.value
        fragment = self.fragments.get(name)
        # A cycle or an unknown fragment is reported by the standard rules.
        if fragment is None or name in spreads:
            return 0, 0
        inner = self.context.schema.get_type(fragment.type_condition.name.value)
        return self.selection(fragment.selection_set, inner, spreads | {name})

    def field(self, node: FieldNode, parent: Any, spreads: set[str]) -> tuple[int, int]:
        if node.alias is not None:
            self.aliases += 1
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(node.name.value)
        if definition is None:
            # Unknown fields and __typename: the standard rules judge them.
            return 1, 1
        inner_depth, inner_cost = self.selection(
            node.selection_set, get_named_type(definition.type), spreads
        )
        # A connection is sized by its `first`, so its edges count once.
        sized = _is_connection(definition.type) or (
            _is_list(definition.type) and not _is_connection(parent)
        )
        size = self.list_size(node) if sized else 1
        weight = self.weights.get(f"{parent.name}.{node.name.value}", 1)
        return inner_depth + 1, weight + size * inner_cost

    def list_size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "limit"):
                continue
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            return self.max_page_size
        return DEFAULT_LIST_SIZE


def _is_list(type_: GraphQLOutputType) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _is_connection(type_: Any) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLObjectType) and "edges" in named.fields
