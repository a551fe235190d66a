"""GraphiQL in headless Chromium: a seat map subscription shows a hold live.

Drives Debian's Chromium with Playwright's Python package. Playwright's own
browser download is never used.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ApiClient,
    DatabaseUnderTest,
    EventFixture,
    seat_ids,
    unavailable,
)
from tests.live import live_server
from tests.subscriptions.test_seat_map_stream import hold

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("SEATLINE_TEST_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach
# Google's hosts, and those connections fail without internet access. The
# resolver rule makes every host name but the test server's unresolvable,
# so a page that regressed to loading scripts from a CDN fails here without
# a DNS lookup.
CHROMIUM_ARGS = [
    "--headless",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000

WATCH = """subscription Watch {
  seatMapUpdates(eventId: "%s") {
    kind version fromVersion
    changes { seatId status }
  }
}
"""


@pytest.fixture(scope="session")
def playwright_api() -> ModuleType:
    try:
        return importlib.import_module("playwright.async_api")
    except ImportError:
        unavailable("the playwright package is needed: pip install -e '.[test]'")
        raise


@pytest.fixture(scope="session")
def chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        unavailable(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium, "
            "or set SEATLINE_TEST_CHROMIUM"
        )
    return CHROMIUM


@pytest.fixture
async def server(database: DatabaseUnderTest, key_file: Path) -> AsyncIterator[str]:
    # No heartbeat during the test, so the delta stays in the result pane.
    extra = {"SEATLINE_LIVE_HEARTBEAT_SECONDS": "300"}
    async with live_server(
        database.url, key_file, issuer=ISSUER, audience=AUDIENCE, extra_env=extra
    ) as url:
        yield url


class PageLog:
    """Errors, requests and websocket frames seen by one browser page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.websockets: list[str] = []
        self.sent_frames: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", self._websocket)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _websocket(self, websocket: Any) -> None:
        self.websockets.append(websocket.url)
        websocket.on("framesent", lambda payload: self.sent_frames.append(payload))


async def block_other_origins(page: Any, base_url: str, blocked: list[str]) -> None:
    """Abort every page request that does not go to `base_url`."""

    async def route(route: Any) -> None:
        if route.request.url.startswith(base_url + "/"):
            await route.continue_()
            return
        blocked.append(route.request.url)
        await route.abort()

    await page.route("**/*", route)


def connection_init_payloads(frames: list[str]) -> list[dict[str, Any]]:
    messages = [orjson.loads(frame) for frame in frames]
    return [m["payload"] for m in messages if m["type"] == "connection_init"]


def rendered_json(text: str) -> Any:
    # CodeMirror renders indentation as no-break spaces and empty lines as
    # zero-width spaces.
    return orjson.loads(text.replace("\u00a0", " ").replace("\u200b", ""))


async def run_document(page: Any, expect: Any, document: str, name: str) -> None:
    """Replace the query editor's text with `document` and execute it."""
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    await editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    # insert_text sends the text as one input event, like a paste.
    await page.keyboard.insert_text(document)
    # GraphiQL names the tab after it has parsed the edit; a click before
    # that runs the previous document, or nothing at all.
    active_tab = page.locator(".graphiql-tab-active")
    await expect(active_tab).to_contain_text(name, timeout=TIMEOUT_MS)
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()


# One backend is enough: this test is about the page, not about storage.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_graphiql_subscription_shows_held_seat(
    playwright_api: ModuleType,
    chromium: str,
    server: str,
    api: ApiClient,
    on_sale: EventFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seat = seat_ids(on_sale)[0]
    token = api.token("graphiql-user")
    screenshot = tmp_path / "graphiql-subscription.png"
    expect = playwright_api.expect

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        log = PageLog(page)
        blocked: list[str] = []
        await block_other_origins(page, server, blocked)
        try:
            # The fragment pre-fills the Headers tab with this token.
            await page.goto(f"{server}/graphql#token={token}")
            headers_tab = page.locator(".graphiql-editor-tool")
            await expect(headers_tab).to_contain_text(
                f"Bearer {token}", timeout=TIMEOUT_MS
            )
            address = page.url

            await run_document(page, expect, WATCH % on_sale.id, "Watch")
            result = page.locator(".graphiql-response")
            await expect(result).to_contain_text("SNAPSHOT", timeout=TIMEOUT_MS)

            buyer = api.token("graphiql-buyer", "bookings:write")
            await hold(server, buyer, on_sale, [seat])
            await expect(result).to_contain_text("DELTA", timeout=TIMEOUT_MS)
            displayed = rendered_json(await result.inner_text())
        except (playwright_api.Error, AssertionError) as error:
            await page.screenshot(path=screenshot)
            pytest.fail(
                f"{error}\npage errors: {log.errors}\nblocked requests: {blocked}\n"
                f"screenshot: {screenshot}"
            )
        finally:
            if not screenshot.exists():
                await page.screenshot(path=screenshot)
            await browser.close()

    with capsys.disabled():
        print(f"\nGraphiQL screenshot: {screenshot}")
    update = displayed["data"]["seatMapUpdates"]
    assert update["kind"] == "DELTA"
    assert update["changes"] == [{"seatId": seat, "status": "HELD"}]
    assert log.errors == []
    assert "#token=" not in address
    assert blocked == []
    assert log.websockets == [server.replace("http://", "ws://") + "/graphql"]
    assert connection_init_payloads(log.sent_frames) == [
        {"Authorization": f"Bearer {token}"}
    ]
