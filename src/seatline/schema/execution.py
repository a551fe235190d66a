"""Execute a subscription event once for every subscriber that shares it.

graphql-core executes the selection set of a subscription once per event and
per subscriber. A live seat map sends the same delta to thousands of
subscribers, nearly all with the same document, so executing it each time
costs more than everything else the fan-out does. A payload that carries a
`render_cache` keeps the result of its first execution per operation and
variable values, and later subscribers with the same operation reuse it.
Strawberry's own result handling (extensions, error masking) still runs per
subscriber on the shared result.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# (operation node id, variable values) -> the operation and its result. The
# operation is kept to tell a reused object id from the same operation.
RenderKey = tuple[int, bytes]
RenderCache = dict[RenderKey, tuple[object, ExecutionResult]]


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    _render_key: RenderKey | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        cache: RenderCache | None = getattr(payload, "render_cache", None)
        if cache is not None:
            cached = cache.get(self.render_key())
            if cached is not None and cached[0] is self.operation:
                # Skips copying this executor for an event already executed.
                return _Executed(cached[1])
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        result = super().execute_operation(serially)
        cache: RenderCache | None = getattr(self.root_value, "render_cache", None)
        # Only a finished, clean result is shared: an awaitable belongs to
        # this executor, and errors carry this subscriber's context.
        if (
            cache is not None
            and isinstance(result, ExecutionResult)
            and not result.errors
        ):
            cache[self.render_key()] = (self.operation, result)
        return result

    def render_key(self) -> RenderKey:
        """Return the key of this operation and its variables, computed once.

        Per-event executors are copies of the subscription's, so they share
        the key once the subscription's executor has computed it.
        """
        if self._render_key is None:
            # Variables can change what a document selects (@include, @skip).
            variables = orjson.dumps(
                self.variable_values.coerced, option=orjson.OPT_SORT_KEYS, default=str
            )
            self._render_key = (id(self.operation), variables)
        return self._render_key


class _Executed:
    """Stands in for a per-event executor whose result is already known."""

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result
