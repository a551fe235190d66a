"""Starlette application factory: routes, middleware and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
from cross_web import AsyncHTTPRequestAdapter
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from seatline import db, graphiql
from seatline.auth import routes as oauth_routes
from seatline.auth.keys import KeySource, load_key_store
from seatline.auth.middleware import PRINCIPAL_SCOPE_KEY, BearerTokenMiddleware
from seatline.auth.revocations import RevokedTokens
from seatline.auth.server import SeatlineAuthorizationServer
from seatline.auth.store import unexpired_revocations
from seatline.auth.tokens import InvalidToken
from seatline.auth.validation import TokenValidator
from seatline.body_limit import BodyLimitMiddleware
from seatline.booking.clock import Clock
from seatline.booking.errors import NotFound
from seatline.booking.expiry import run_sweeper
from seatline.booking.payments import PaymentProvider
from seatline.booking.seatmap import get_venue_model
from seatline.booking.services import Services
from seatline.config import Environment, Settings
from seatline.http_errors import error_body
from seatline.migrate import NotMigrated, ensure_migrated
from seatline.models import Event
from seatline.observability import health, logs, metrics
from seatline.observability.health import DependencyChecks
from seatline.observability.middleware import RequestContextMiddleware
from seatline.observability.shutdown import Lifecycle, drain_on_sigterm
from seatline.persisted_queries import (
    PersistedQueries,
    PersistedQueryError,
    load_registered,
)
from seatline.runtime import build_services
from seatline.schema.context import Context
from seatline.schema.limits import DEFAULT_FIELD_WEIGHTS, QueryLimits
from seatline.schema.rate_limits import RatePolicy
from seatline.schema.root import build_schema
from seatline.subscriptions.fanout import FanOut, TopicFeeds
from seatline.subscriptions.supervisor import BroadcastSupervisor

logger = logging.getLogger(__name__)


CONTEXT_SCOPE_KEY = "seatline.context"


class GraphQLApp(GraphQL[Context, None]):
    def __init__(
        self,
        services: Services,
        validator: TokenValidator,
        fanout: FanOut,
        topics: TopicFeeds,
        **kwargs: Any,
    ) -> None:
        settings = services.settings
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        if settings.live_legacy_protocol:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        super().__init__(
            build_schema(
                query_limits(settings),
                production=settings.env is Environment.PRODUCTION,
                rates=rate_policy(settings),
            ),
            subscription_protocols=protocols,
            max_subscriptions_per_connection=settings.live_max_operations_per_socket,
            connection_init_wait_timeout=timedelta(seconds=10),
            **kwargs,
        )
        self.services = services
        self.validator = validator
        self.fanout = fanout
        self.topics = topics
        self.sockets = SocketRegistry(
            settings.live_max_sockets_per_principal,
            settings.live_max_sockets_per_address,
        )
        self.connection_rate = ConnectionRate(settings.live_max_new_sockets_per_second)
        registered = (
            load_registered(settings.persisted_queries_file)
            if settings.persisted_queries_file is not None
            else {}
        )
        self.persisted = PersistedQueries(
            registered,
            max_automatic=settings.automatic_persisted_queries,
            anonymous_registered_only=settings.anonymous_registered_only,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not self.connection_rate.take():
            logger.info("turned away a websocket: connection rate limit")
            await receive()  # the websocket.connect message
            await _turn_away(scope, send)
            return
        try:
            await super().__call__(scope, receive, send)
        except PersistedQueryError as error:
            response = Response(
                error.body(), status_code=error.status, media_type="application/json"
            )
            await response(scope, receive, send)
        finally:
            context = scope.get(CONTEXT_SCOPE_KEY)
            if context is not None:
                self.sockets.release(context)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            return data
        # NOTE: the adapter keeps Starlette's request private; the caller is
        # in its scope.
        scope = request._request.scope  # type: ignore[attr-defined]
        anonymous = scope.get(PRINCIPAL_SCOPE_KEY) is None
        return self.persisted.resolve(data, anonymous=anonymous)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(
            services=self.services,
            principal=request.scope.get(PRINCIPAL_SCOPE_KEY),
            request=request,
            response=response,
            fanout=self.fanout,
            topics=self.topics,
        )
        if isinstance(request, WebSocket):
            request.scope[CONTEXT_SCOPE_KEY] = context
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Authenticate a websocket from its connection_init payload.

        No token means an anonymous socket that can watch public seat maps.
        An invalid token, or too many sockets, closes the socket with 4403.
        """
        token = _token_from_params(context.connection_params or {})
        if token is not None:
            try:
                context.principal = await self.validator.validate(token)
            except InvalidToken as error:
                logger.info("rejected websocket token", extra={"reason": str(error)})
                raise ConnectionRejectionError({"reason": str(error)}) from None
        if not self.sockets.acquire(context):
            raise ConnectionRejectionError({"reason": "too many open sockets"})
        _close_when_expired(context)
        return None

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's own page loads GraphiQL from a CDN; this one is local.
        return graphiql.page()

    def encode_json(self, data: object) -> str:
        # Text, not bytes: websocket messages must be text frames.
        return orjson.dumps(data).decode()


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    payments: PaymentProvider | None = None,
    run_background_tasks: bool = True,
) -> Starlette:
    """Build the application; shared resources start in the lifespan."""
    settings = settings or Settings()
    _configure_logging(settings)
    development = settings.env is Environment.DEVELOPMENT
    keys = load_key_store(settings.key_file, create=development)
    key_source = KeySource(settings.key_file, keys)
    engine = db.create_engine(settings)
    supervisor = BroadcastSupervisor(settings.redis_url)
    services = build_services(
        settings,
        engine,
        lambda: supervisor.broadcast,
        keys,
        clock=clock,
        payments=payments,
    )
    # Fetches discovery documents and JWKS of trusted external issuers.
    issuer_http = httpx.AsyncClient(
        timeout=settings.issuer_fetch_timeout_seconds, follow_redirects=False
    )
    revoked = RevokedTokens(
        functools.partial(unexpired_revocations, services),
        settings.revocation_reload_seconds,
    )
    validator = TokenValidator.from_settings(settings, key_source, issuer_http, revoked)
    oauth_server = SeatlineAuthorizationServer(services, key_source, revoked)
    fanout = FanOut(
        lambda: supervisor.broadcast,
        _version_reader(services),
        batch_window=settings.live_batch_window_seconds,
        heartbeat_seconds=settings.live_heartbeat_seconds,
        max_pending=settings.live_max_pending_changes,
    )
    topics = TopicFeeds(lambda: supervisor.broadcast)
    supervisor.on_reconnect(fanout.reconnected)
    supervisor.on_reconnect(topics.reconnected)
    graphql = GraphQLApp(
        services,
        validator,
        fanout,
        topics,
        graphql_ide="graphiql" if development else None,
        allow_queries_via_get=False,
    )

    lifecycle = Lifecycle(settings.shutdown_drain_seconds)
    checks = DependencyChecks(engine, settings.redis_url)
    pool_capacity = (
        None if settings.is_sqlite else settings.db_pool_size + settings.db_max_overflow
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await ensure_migrated(engine)
        except NotMigrated:
            # Serving an unmigrated database would fail on every request.
            await engine.dispose()
            raise
        metrics.instrument_pool(engine, pool_capacity)
        await supervisor.start()
        stop = asyncio.Event()
        background = []
        sweeper_engine = None
        if run_background_tasks:
            # The sweeper has its own connection, so that requests filling
            # the pool in a rush cannot keep expired holds from being swept.
            sweeper_services = services
            if not settings.is_sqlite:
                sweeper_engine = db.create_engine(settings, pool_size=1)
                sweeper_services = dataclasses.replace(
                    services, sessions=db.create_sessionmaker(sweeper_engine)
                )
            background = [
                asyncio.create_task(
                    run_sweeper(sweeper_services, stop), name="sweeper"
                ),
                asyncio.create_task(
                    checks.monitor(stop, settings.dependency_check_interval_seconds),
                    name="dependency-checks",
                ),
            ]
        restore_sigterm = drain_on_sigterm(lifecycle)
        logger.info("seatline started", extra={"env": settings.env.value})
        try:
            yield
        finally:
            lifecycle.draining = True
            await lifecycle.close_websockets()
            stop.set()
            await _stop_background(background, settings.shutdown_timeout_seconds)
            if restore_sigterm is not None:
                restore_sigterm()
            await fanout.close()
            await topics.close()
            await supervisor.stop()
            await services.waiting_rooms.close()
            await checks.close()
            await issuer_http.aclose()
            await services.limiter.close()
            await engine.dispose()
            if sweeper_engine is not None:
                await sweeper_engine.dispose()
            metrics.release_pool_capacity(pool_capacity)
            metrics.mark_process_exited()
            logger.info("seatline stopped")

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/.well-known/jwks.json", _jwks(key_source)),
            *oauth_routes.routes(oauth_server),
            Route("/venues/{venue_id}/layout", _layout(services)),
            Route("/healthz", health.healthz),
            Route("/readyz", health.readyz(lifecycle, checks)),
            Route("/metrics", metrics.metrics_endpoint),
            *([graphiql.assets()] if development else []),
        ],
        middleware=[
            Middleware(RequestContextMiddleware, lifecycle=lifecycle),
            Middleware(GZipMiddleware, minimum_size=1024),
            Middleware(
                BearerTokenMiddleware, validator=validator, skip_prefixes=("/oauth/",)
            ),
            # After the token, because organizers may send larger bodies.
            Middleware(
                BodyLimitMiddleware,
                default=settings.max_body_bytes,
                organizer=settings.max_body_bytes_organizer,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.fanout = fanout
    app.state.supervisor = supervisor
    app.state.keys = keys
    app.state.key_source = key_source
    app.state.oauth_server = oauth_server
    app.state.engine = engine
    app.state.lifecycle = lifecycle
    return app


async def _stop_background(
    tasks: list[asyncio.Task[None]], grace_seconds: float
) -> None:
    """Wait for the sweeper's current round; cancel it after `grace_seconds`.

    A cancelled round rolls back its transaction, which releases its row
    locks, so another process's sweeper takes those rows next time.
    """
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
    for task in pending:
        logger.warning(
            "background task did not stop in time", extra={"task": task.get_name()}
        )
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _jwks(keys: KeySource) -> Any:
    async def endpoint(request: Request) -> Response:
        body = keys.current().public_jwks()
        return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})

    return endpoint


def _layout(services: Services) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            venue_id = uuid.UUID(request.path_params["venue_id"])
            venue = await get_venue_model(services, venue_id)
        except (ValueError, NotFound):
            return JSONResponse({"error": "venue not found"}, status_code=404)
        etag = f'"{venue.layout_version}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(
            orjson.dumps(venue.layout), media_type="application/json", headers=headers
        )

    return endpoint


class SocketRegistry:
    """Counts open websockets per principal and per client address.

    A socket without a token counts against its address twice, once as its
    principal. Addresses have the larger limit, so that many buyers behind
    one NAT can still connect.
    """

    def __init__(self, max_per_principal: int, max_per_address: int) -> None:
        self.max_per_principal = max_per_principal
        self.max_per_address = max_per_address
        self.open: dict[str, int] = {}

    def acquire(self, context: Context) -> bool:
        key = _socket_key(context)
        address = _address_key(context)
        if (
            self.open.get(key, 0) >= self.max_per_principal
            or self.open.get(address, 0) >= self.max_per_address
        ):
            return False
        for name in (key, address):
            self.open[name] = self.open.get(name, 0) + 1
        context.socket_key = key
        return True

    def release(self, context: Context) -> None:
        timer = context.expiry_timer
        if timer is not None:
            timer.cancel()
        key = context.socket_key
        if key is None:
            return
        context.socket_key = None
        for name in (key, _address_key(context)):
            remaining = self.open.get(name, 0) - 1
            if remaining > 0:
                self.open[name] = remaining
            else:
                self.open.pop(name, None)


class ConnectionRate:
    """A token bucket for new websockets of this process, per second.

    After a deploy, every client reconnects at once. Past the rate they are
    turned away before the handshake and retry later, instead of all
    taking a subscription at the same moment.
    """

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self.capacity = per_second
        self.tokens = per_second
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        elapsed = now - self.updated
        self.tokens = min(self.capacity, self.tokens + elapsed * self.per_second)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def _turn_away(scope: Scope, send: Send) -> None:
    """Refuse a websocket handshake: 429 where the server can send it."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        # 1013: try again later.
        await send({"type": "websocket.close", "code": 1013})
        return
    body = error_body(
        "too many new connections; retry in a second", {"code": "RATE_LIMITED"}
    )
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


def _address_key(context: Context) -> str:
    client = getattr(context.request, "client", None)
    return f"ip:{client.host if client else 'unknown'}"


def _socket_key(context: Context) -> str:
    if context.principal is not None:
        return f"sub:{context.principal.subject}"
    client = getattr(context.request, "client", None)
    return f"addr:{client.host if client else 'unknown'}"


def _token_from_params(params: dict[str, Any]) -> str | None:
    for name in ("Authorization", "authorization", "token"):
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            scheme, _, rest = value.strip().partition(" ")
            return (
                rest.strip() if scheme.lower() == "bearer" and rest else value.strip()
            )
    return None


def _close_when_expired(context: Context) -> None:
    principal = context.principal
    if principal is None or principal.expires_at is None:
        return
    delay = max(0.0, principal.expires_at - time.time())
    websocket = context.request

    async def close() -> None:
        logger.info("closing websocket: token expired")
        with contextlib.suppress(RuntimeError):
            await websocket.close(code=4403, reason="token expired")

    loop = asyncio.get_running_loop()
    context.expiry_timer = loop.call_later(
        delay, lambda: asyncio.ensure_future(close())
    )


def _version_reader(services: Services) -> Any:
    async def read(event_id: uuid.UUID) -> int | None:
        async with services.sessions() as session:
            event = await session.get(Event, event_id)
            return None if event is None else event.seat_version

    return read


def _configure_logging(settings: Settings) -> None:
    """Give a fresh worker process the same logging as the CLI's."""
    if logging.getLogger().handlers:
        return
    logs.configure_logging(settings.log_level, logs.log_format_for(settings))


def query_limits(settings: Settings) -> QueryLimits:
    return QueryLimits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_operations=settings.graphql_max_operations,
        max_tokens=settings.graphql_max_tokens,
        max_cost_anonymous=settings.graphql_max_cost_anonymous,
        max_cost_authenticated=settings.graphql_max_cost_authenticated,
        max_page_size=settings.max_page_size,
        max_cost_by_scope=tuple(sorted(settings.graphql_max_cost_by_scope.items())),
        field_weights=tuple(
            sorted({**DEFAULT_FIELD_WEIGHTS, **settings.graphql_field_weights}.items())
        ),
    )


def rate_policy(settings: Settings) -> RatePolicy | None:
    if not settings.rate_limits_enabled:
        return None
    return RatePolicy(
        per_address=settings.rate_limit_per_address,
        per_subject=settings.rate_limit_per_subject,
        per_client=settings.rate_limit_per_client,
        bookings_per_subject=settings.rate_limit_bookings_per_subject,
        bookings_per_address=settings.rate_limit_bookings_per_address,
    )
