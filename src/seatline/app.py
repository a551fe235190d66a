"""Starlette application factory: routes, middleware and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from seatline import db
from seatline.auth.keys import KeyStore, load_key_store
from seatline.auth.middleware import PRINCIPAL_SCOPE_KEY, BearerTokenMiddleware
from seatline.auth.tokens import TokenValidator
from seatline.booking.clock import Clock
from seatline.booking.errors import NotFound
from seatline.booking.expiry import run_sweeper
from seatline.booking.payments import PaymentProvider
from seatline.booking.seatmap import get_venue_model
from seatline.booking.services import Services
from seatline.config import Environment, Settings
from seatline.migrate import current_revision, head_revision
from seatline.runtime import build_services
from seatline.schema.context import Context
from seatline.schema.root import build_schema

logger = logging.getLogger(__name__)


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(build_schema(), **kwargs)
        self.services = services

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
        return Context(
            services=self.services,
            principal=principal,
            request=request,
            response=response,
        )

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    payments: PaymentProvider | None = None,
    run_background_tasks: bool = True,
) -> Starlette:
    """Build the application; shared resources start in the lifespan."""
    settings = settings or Settings()
    development = settings.env is Environment.DEVELOPMENT
    keys = load_key_store(settings.key_file, create=development)
    engine = db.create_engine(settings)
    broadcast = Broadcast(settings.redis_url)
    services = build_services(
        settings, engine, broadcast, keys, clock=clock, payments=payments
    )
    validator = TokenValidator(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
    )
    graphql = GraphQLApp(
        services,
        graphql_ide="graphiql" if development else None,
        allow_queries_via_get=False,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broadcast.connect()
        stop = asyncio.Event()
        sweeper = None
        if run_background_tasks:
            sweeper = asyncio.create_task(run_sweeper(services, stop), name="sweeper")
        logger.info("seatline started", extra={"env": settings.env.value})
        try:
            yield
        finally:
            stop.set()
            if sweeper is not None:
                await sweeper
            await broadcast.disconnect()
            await engine.dispose()
            logger.info("seatline stopped")

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/.well-known/jwks.json", _jwks(keys)),
            Route("/venues/{venue_id}/layout", _layout(services)),
            Route("/healthz", _healthz),
            Route("/readyz", _readyz(engine)),
        ],
        middleware=[
            Middleware(GZipMiddleware, minimum_size=1024),
            Middleware(BearerTokenMiddleware, validator=validator),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.keys = keys
    app.state.engine = engine
    return app


def _jwks(keys: KeyStore) -> Any:
    body = keys.public_jwks()

    async def endpoint(request: Request) -> Response:
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


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _readyz(engine: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            await db.ping(engine)
            revision = await current_revision(engine)
        except Exception as error:
            logger.warning("readiness check failed", extra={"error": repr(error)})
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        if revision != head_revision():
            return JSONResponse(
                {"status": "migrations pending", "current": revision}, status_code=503
            )
        return JSONResponse({"status": "ready"})

    return endpoint
