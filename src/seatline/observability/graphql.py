"""A Strawberry extension that times operations and counts errors by code.

The `operation` label is the operation's single root field (`holdSeats`,
`events`, ...), which validation guarantees is a field of the schema, so the
label has as many values as the schema has root fields. Client-chosen
operation names never become labels. Documents that fail to validate or
select several root fields (fragments followed) are labelled "other", and
introspection "introspection".
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, get_operation_ast
from strawberry.extensions import SchemaExtension

from seatline.observability import metrics
from seatline.observability.logs import RequestLog, current_request
from seatline.schema.documents import fragments_of, root_field_names

OTHER = "other"
INTERNAL_ERROR = "INTERNAL_SERVER_ERROR"
VALIDATION_ERROR = "GRAPHQL_VALIDATION_FAILED"
# Codes outside the domain's ErrorCode enum that errors may carry.
_EXTRA_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN", INTERNAL_ERROR})


def _known_codes() -> frozenset[str]:
    from seatline.booking.errors import ErrorCode

    return frozenset(code.value for code in ErrorCode) | _EXTRA_CODES


KNOWN_CODES = _known_codes()


def record_error_code(code: str) -> None:
    """Note a typed error result (a union member) of the current operation."""
    request = current_request.get()
    if request is not None:
        request.error_codes.append(code)


def _root_field(document: DocumentNode, operation_name: str | None) -> str:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return OTHER
    names = root_field_names(operation, fragments_of(document)) - {"__typename"}
    if len(names) != 1:
        return OTHER
    name = names.pop()
    return "introspection" if name.startswith("__") else name


def _error_code(error: GraphQLError, validation_failed: bool) -> str:
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code if code in KNOWN_CODES else OTHER
    return VALIDATION_ERROR if validation_failed else INTERNAL_ERROR


class OperationMetrics(SchemaExtension):
    """Record latency, errors and active subscriptions; name the operation
    and caller in the request's log records.

    List it first among the schema's extensions, so that it finishes last and
    reads the error codes that the other extensions set.
    """

    _label: str | None = None
    _type: str = "unknown"

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        parent = current_request.get()
        operation = RequestLog(parent.request_id if parent else "")
        token = current_request.set(operation) if parent is not None else None
        try:
            yield
        finally:
            if token is not None:
                current_request.reset(token)
            self._finish(operation, parent, time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        # Reached only by documents that parsed and validated.
        context = self.execution_context
        assert context.graphql_document is not None
        self._label = _root_field(context.graphql_document, context.operation_name)
        self._type = context.operation_type.value
        request = current_request.get()
        if request is not None:
            request.operation = self._label
            principal = getattr(context.context, "principal", None)
            request.principal = getattr(principal, "subject", None)
        if self._type == "subscription":
            metrics.GRAPHQL_SUBSCRIPTIONS.labels(self._label).inc()
        yield

    def _finish(
        self, operation: RequestLog, parent: RequestLog | None, duration: float
    ) -> None:
        label = self._label or OTHER
        if self._type == "subscription":
            metrics.GRAPHQL_SUBSCRIPTIONS.labels(label).dec()
        else:
            metrics.GRAPHQL_DURATION.labels(label, self._type).observe(duration)
        codes = list(operation.error_codes) + self._result_codes()
        for code in codes:
            metrics.GRAPHQL_ERRORS.labels(label, code).inc()
        if parent is not None:
            parent.operation = label
            parent.principal = operation.principal
            parent.outcome = codes[0] if codes else "ok"
            parent.error_codes = codes

    def _result_codes(self) -> list[str]:
        context = self.execution_context
        validation_failed = bool(context.pre_execution_errors)
        errors = context.pre_execution_errors or []
        result = context.result
        if not validation_failed and result is not None:
            errors = result.errors or []
        return [_error_code(error, validation_failed) for error in errors]
