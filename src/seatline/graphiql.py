"""GraphiQL for development, served from vendored assets instead of a CDN.

The page and its scripts live in static/graphiql/. scripts/fetch-graphiql.sh
reproduces the vendored GraphiQL and React files from pinned npm packages.
"""

from __future__ import annotations

import functools
from importlib.resources import files

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/static/graphiql"
_ASSETS_PACKAGE = ("seatline", "static/graphiql")

# Everything comes from this server. GraphiQL sets inline styles, its fonts
# are data: URLs inside its stylesheet, and the page's icon is an empty data:
# URL.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        # 'self' also allows ws:// and wss:// to this host (CSP Level 3).
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


@functools.cache
def _page_html() -> str:
    return files("seatline").joinpath("static/graphiql/index.html").read_text("utf-8")


def page() -> HTMLResponse:
    """Build the GraphiQL page response (its asset URLs are relative to it)."""
    return HTMLResponse(
        _page_html(),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            # The page is tiny, and a stale one could point at removed assets.
            "Cache-Control": "no-cache",
        },
    )


def assets() -> Mount:
    """Mount the page's scripts and styles at ASSETS_PATH."""
    return Mount(ASSETS_PATH, app=StaticFiles(packages=[_ASSETS_PACKAGE]))
