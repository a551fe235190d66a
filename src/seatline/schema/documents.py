"""Reading parsed GraphQL documents: fragments and root fields.

The query limits, the rate limiter and the operation metrics each need an
operation's root fields, with fragment spreads followed, so they share
these walks and cannot disagree about which fields a document selects.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """Return the document's fragment definitions by name."""
    return {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }


def root_field_names(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> set[str]:
    """Return the names of the operation's root fields, through fragments."""
    return _field_names(operation.selection_set, fragments, frozenset())


def _field_names(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    spreads: frozenset[str],
) -> set[str]:
    names: set[str] = set()
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names |= _field_names(selection.selection_set, fragments, spreads)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            # A cycle or an unknown fragment is reported by validation.
            if fragment is not None and name not in spreads:
                names |= _field_names(
                    fragment.selection_set, fragments, spreads | {name}
                )
    return names
