"""The console in a real browser: Debian's Chromium, driven by Playwright.

The web app is served by a real HTTP server (werkzeug's, in a thread, on a free port) over
a real store (SQLite) and Redis. The `live_console` is the whole system behind it: the sandbox
GHL and CRM on real HTTP and a real `celery worker` subprocess (tests/functional/harness.py's
`Worker`), so an event sent from a page runs to ``done`` or ``dead``.

Playwright's own browser download is not reachable from our machines, so it drives the
system's Chromium (the `chromium` package; `.ci/run` installs it when missing). Without it
these tests fail, saying so: a suite that skips them would pass without ever having opened
a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, sync_playwright

from sandbox.crm.app import create_sandbox_crm_app
from sandbox.ghl import create_sandbox_ghl_app
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis
from store import Store, UserRole
from tests.dbutil import clear_database, temporary_database
from tests.functional.harness import QUICK_TIMINGS, System, Worker
from tests.functional.spec_check import assert_journal_conforms
from webapp import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A Redis database of its own: no worker and no unit test uses it.
BROWSER_REDIS_DB = 13
# The live console's: its worker consumes this one and no other test touches it.
LIVE_REDIS_DB = 11
# Few attempts, so an event under a lasting GHL fault is dead after a retry or two.
LIVE_MAX_ATTEMPTS = 2
SECRET_KEY = "browser-test-secret-key"
ADMIN_EMAIL = "admin@example.com"
VIEWER_EMAIL = "viewer@example.com"
PASSWORD = "correct horse battery"


@dataclass
class Console:
    """The running console: its URL and store, and a way to sign in from a page."""

    url: str
    store: Store
    database_url: str
    redis_url: str

    def sign_in(self, page: Page, email: str, password: str = PASSWORD) -> None:
        """Fill and send the sign-in form, as a person does."""
        page.goto(f"{self.url}/signin")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()


@dataclass
class ConsoleErrors:
    """What the browser reported as errors: console errors (a CSP violation is one) and
    uncaught exceptions."""

    messages: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text} at {message.location}")

    def page_error(self, error: Any) -> None:
        self.messages.append(f"page error: {error}")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. Install it with "
            "`apt-get install -y chromium` (.ci/run does when it is missing).",
            pytrace=False,
        )
    return CHROMIUM


@contextmanager
def serve_console(app: Flask, database_url: str, redis_url: str) -> Iterator[Console]:
    """``app`` on a real local port, with a store on its database; all of it closed after."""
    store = Store(database_url, SECRET_KEY)
    with ServerThread(app) as server:
        yield Console(url=server.url, store=store, database_url=database_url, redis_url=redis_url)
    store.dispose()
    app.extensions["socialbridge"].dispose()
    app.extensions["task_publisher"].close()
    app.extensions["celery"].close()


def empty(console: Console) -> None:
    """No row in the console's database and nothing in its Redis database."""
    clear_database(console.database_url)
    client = redis.Redis.from_url(console.redis_url)
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def console_server(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{BROWSER_REDIS_DB}"
    folder = tmp_path_factory.mktemp("browser")
    with temporary_database("sqlite", folder, upgrade=True) as (database_url, _):
        app = create_app(
            {
                "database_url": database_url,
                "redis_url": redis_url,
                "secret_key": SECRET_KEY,
                # Plain HTTP on loopback, as under `make run`.
                "session_cookie_secure": False,
                "log_level": "WARNING",
            }
        )
        with serve_console(app, database_url, redis_url) as console:
            yield console


@pytest.fixture
def console(console_server: Console) -> Console:
    """The console with no data: no user, no connection, no counted sign-in failure."""
    empty(console_server)
    console_server.store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)
    console_server.store.add_user(VIEWER_EMAIL, PASSWORD, UserRole.VIEWER)
    return console_server


@dataclass
class LiveConsole:
    """The console of a whole running system: ``console`` for the browser, ``system`` for the
    sandbox GHL and CRM (faults, what they received) and the worker (its log)."""

    console: Console
    system: System


@pytest.fixture(scope="session")
def live_console_server(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveConsole]:
    folder = tmp_path_factory.mktemp("browser-live")
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{LIVE_REDIS_DB}"
    with (
        # GHL's own limit is left out as in tests/functional: it is tested elsewhere.
        ServerThread(create_sandbox_ghl_app(rate_limit=100_000)) as ghl,
        ServerThread(create_sandbox_crm_app()) as crm,
        temporary_database("sqlite", folder, upgrade=True) as (database_url, _),
    ):
        settings = Settings.from_mapping(
            {
                "database_url": database_url,
                "redis_url": redis_url,
                "secret_key": SECRET_KEY,
                "session_cookie_secure": False,
                "log_level": "WARNING",
                "ghl_base_url": ghl.url,
                **QUICK_TIMINGS,
                "max_attempts": LIVE_MAX_ATTEMPTS,
                # The tags GHL answers are asked for on every run: a cached list would skip
                # the faulted calls of a test.
                "tag_cache_ttl": 0,
            }
        )
        worker = Worker(settings, folder / "worker.log")
        worker.start()
        try:
            with serve_console(create_app(settings), database_url, redis_url) as console:
                system = System(
                    settings=settings.replace(public_url=console.url),
                    store=console.store,
                    web_url=console.url,
                    ghl_url=ghl.url,
                    crm_url=crm.url,
                    worker=worker,
                )
                yield LiveConsole(console=console, system=system)
                system.http.close()
        finally:
            worker.stop()


@pytest.fixture
def live_console(live_console_server: LiveConsole) -> Iterator[LiveConsole]:
    """The live console with its two users and no other row, and the sandboxes without
    faults; afterwards every GHL exchange of the test is checked against the official spec.

    Its Redis database is not flushed, unlike `console`'s: the running worker's queue and its
    bindings live there, and the web app's tasks would find no route to it after a flush.
    """
    live = live_console_server
    clear_database(live.console.database_url)
    live.console.store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)
    live.console.store.add_user(VIEWER_EMAIL, PASSWORD, UserRole.VIEWER)
    live.system.reset_sandboxes()
    yield live
    assert_journal_conforms(live.system.ghl_journal())
    live.system.reset_sandboxes()


@pytest.fixture(scope="session")
def browser_context(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            # A fresh profile: nothing of an earlier run (cookies, cache) is in it.
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(chromium_path),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield context
        context.close()


@dataclass
class Screenshots:
    """Saves a page's picture under a name, into --screenshots DIR when given (the pictures
    of docs/console.md), else into the test's temporary folder."""

    folder: Path

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Screenshots:
    chosen = request.config.getoption("--screenshots")
    folder = Path(chosen) if chosen else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return Screenshots(folder)


@pytest.fixture
def errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def page(browser_context: BrowserContext, errors: ConsoleErrors) -> Iterator[Page]:
    """A new tab with no cookies, whose console errors are collected in ``errors``."""
    browser_context.clear_cookies()
    opened = browser_context.new_page()
    opened.on("console", errors.console)
    opened.on("pageerror", errors.page_error)
    yield opened
    opened.close()
