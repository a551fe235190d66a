"""The development GraphiQL page and its vendored assets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from seatline.app import create_app
from seatline.config import Environment
from seatline.graphiql import ASSETS_PATH
from tests.conftest import ApiClient, DatabaseUnderTest, settings_for

# The page is the same on every backend.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

HTML = {"Accept": "text/html"}
ASSET_REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture
async def production_client(
    database: DatabaseUnderTest, key_file: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(database, key_file, env=Environment.PRODUCTION)
    app = create_app(settings, run_background_tasks=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://seatline.test"
        ) as client:
            yield client


async def test_graphiql_page_served_for_browsers(api: ApiClient) -> None:
    response = await api.client.get("/graphql", headers=HTML)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "seatline-graphiql.js" in response.text


async def test_graphiql_page_assets_are_local(api: ApiClient) -> None:
    page = (await api.client.get("/graphql", headers=HTML)).text
    references = [
        ref for ref in ASSET_REFERENCE.findall(page) if not ref.startswith("data:")
    ]

    # Two stylesheets and four scripts, all relative to /graphql.
    assert len(references) == 6
    for reference in references:
        path = f"/{reference}"
        assert path.startswith(ASSETS_PATH + "/"), reference
        response = await api.client.get(path)
        assert response.status_code == 200, reference


async def test_graphiql_assets_include_licences(api: ApiClient) -> None:
    for package in ("graphiql", "react", "react-dom"):
        response = await api.client.get(f"{ASSETS_PATH}/vendor/{package}/LICENSE")
        assert response.status_code == 200, package
        assert "MIT License" in response.text, package


async def test_graphiql_disabled_in_production(
    production_client: httpx.AsyncClient,
) -> None:
    page = await production_client.get("/graphql", headers=HTML)
    script = await production_client.get(f"{ASSETS_PATH}/seatline-graphiql.js")

    assert page.status_code == 404
    assert script.status_code == 404
