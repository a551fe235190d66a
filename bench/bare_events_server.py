"""A bare Starlette JSON endpoint: the read-path limit that seatline is compared with.

POST /events returns the first page of events, the same JSON that seatline
returns for `side_by_side.EVENTS_QUERY`, read with asyncpg and encoded with orjson:
no GraphQL, no ORM, no authentication.

Run: python bench/bare_events_server.py PORT DSN POOL_SIZE
"""

from __future__ import annotations

import base64
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE_SIZE = 20
EVENTS_SQL = """
SELECT id, name, starts_at, status, venue_id
FROM events
WHERE status <> 'draft'
ORDER BY starts_at, id
LIMIT $1
"""


def cursor(row: asyncpg.Record) -> str:
    """The opaque cursor seatline gives an event edge: base64 of its sort key."""
    key = orjson.dumps({"s": row["starts_at"].isoformat(), "i": str(row["id"])})
    return base64.urlsafe_b64encode(key).decode("ascii").rstrip("=")


def page(rows: list[asyncpg.Record]) -> dict[str, Any]:
    edges = [
        {
            "cursor": cursor(row),
            "node": {
                "id": str(row["id"]),
                "name": row["name"],
                "startsAt": row["starts_at"].isoformat(),
                "status": row["status"].upper(),
                "venueId": str(row["venue_id"]),
            },
        }
        for row in rows[:PAGE_SIZE]
    ]
    end = edges[-1]["cursor"] if edges else None
    return {
        "data": {
            "events": {
                "edges": edges,
                "pageInfo": {"hasNextPage": len(rows) > PAGE_SIZE, "endCursor": end},
            }
        }
    }


def create_app(dsn: str, pool_size: int) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with asyncpg.create_pool(
            dsn, min_size=pool_size, max_size=pool_size
        ) as pool:
            app.state.pool = pool
            yield

    async def events(request: Request) -> Response:
        await request.body()
        rows = await request.app.state.pool.fetch(EVENTS_SQL, PAGE_SIZE + 1)
        return Response(orjson.dumps(page(rows)), media_type="application/json")

    return Starlette(
        routes=[Route("/events", events, methods=["POST"])], lifespan=lifespan
    )


if __name__ == "__main__":
    port, dsn, pool_size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    uvicorn.run(
        create_app(dsn, pool_size),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
