"""A real browser against a real server: Debian's chromium driven by Playwright, the app served by werkzeug.

The browser starts once per run; each test gets a fresh context (cookies, storage, viewport, timezone)
and its own app on its own copy of the migrated database, served on its own port, with the real clock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from supportnet.extensions import db
from tests.conftest import free_port, make_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEFAULT_TIMEOUT_MS = 10_000
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test under tests/browser is a browser test, whether or not its module says so.
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


# --- the app, served for real ---


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    app: Flask


@pytest.fixture
def live_server_config() -> dict[str, Any]:
    """Extra configuration for the live app; a test module can override this fixture."""
    return {}


@pytest.fixture
def live_server(db_path, smtp_server, live_server_config) -> Iterator[LiveServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        # Emails must link to this server, not to tests.conftest's BASE_URL.
        "BASE_URL": url,
        # A browser test never reaches the internet: quick exit lands on a page of this server.
        "QUICK_EXIT_URL": f"{url}/healthz",
        **live_server_config,
    }
    app = make_app(db_path, smtp_server[0].port, **config)
    server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"live-server-{port}", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, app=app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


# --- the browser ---


def _browser_unavailable() -> str | None:
    """Why no browser test can run here, or None when Playwright and Debian's chromium are both present."""
    if not CHROMIUM.exists():
        return f"Debian's chromium is not installed at {CHROMIUM}: apt-get install chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright Python package cannot be imported ({exc}): make dev-deps"
    return None


# Package scope, not session: every browser test lives in this package, so chromium still starts once per
# run, and Playwright is stopped before the rest of the suite runs. Its sync API parks an asyncio loop in a
# greenlet on the main thread until stop(); left running, later non-browser tests saw "a running event loop"
# and the interpreter segfaulted inside Flask's context variables (seen here with greenlet 3.5, Python 3.11).
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    reason = _browser_unavailable()
    if reason:
        # CI sets SUPPORTNET_REQUIRE_BROWSER=1 so that a missing browser is a failure, not a quiet skip.
        if os.environ.get("SUPPORTNET_REQUIRE_BROWSER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)

    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh browser context; keyword arguments go to `browser.new_context`."""
    contexts = []

    def _new_page(**context_options):
        context_options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**context_options)
        contexts.append(context)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
        return context.new_page()

    yield _new_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A page in a fresh 1280x800 browser context."""
    return new_page()
