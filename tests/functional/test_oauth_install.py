"""The GHL install over real HTTP: a browser's walk from the install URL to the sandbox GHL's
install page and back to our callback, then events of the connection run on its OAuth token.

The system here is the shared one's twin with GHL OAuth configured (the sandbox's marketplace
app, its webhook key) and a PUBLIC_URL known before the web server starts, since it is the
redirect URI GHL sends the browser back to: its own database, Redis database and worker.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest

from ghl.endpoints import OAUTH_SCOPES
from sandbox.ghl import (
    DEFAULT_LOCATION,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
)
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis, free_port
from socialbridge.logs import JsonFormatter
from socialbridge.urls import install_url
from store import ConnectionRecord, Store
from tests.dbutil import database_kinds, temporary_database
from tests.functional.harness import System, Worker
from tests.functional.spec_check import assert_journal_conforms
from webapp import create_app

# Apart from the shared system's worker (database 0) and the unit tests (15).
OAUTH_REDIS_DB = 13


@pytest.fixture(name="oauth_system", scope="module", params=database_kinds())
def oauth_system_fixture(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: EmbeddedRedis,
    sandboxes: tuple[str, str],
) -> Iterator[System]:
    """Web server, worker, store and Redis with GHL OAuth set up against the sandbox GHL."""
    kind: str = request.param
    tmp: Path = tmp_path_factory.mktemp(f"oauth-{kind}")
    ghl_url, crm_url = sandboxes
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    with temporary_database(kind, tmp, upgrade=True) as (database_url, engine_options):
        settings = Settings.from_mapping(
            {
                "database_url": database_url,
                "redis_url": f"redis://127.0.0.1:{redis_server.port}/{OAUTH_REDIS_DB}",
                "secret_key": "functional-oauth-secret-key",
                "public_url": web_url,
                "ghl_base_url": ghl_url,
                "ghl_client_id": SANDBOX_CLIENT_ID,
                "ghl_client_secret": SANDBOX_CLIENT_SECRET,
                "ghl_oauth_authorize_url": f"{ghl_url}/oauth/chooselocation",
                "ghl_webhook_public_key": SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
                "retry_backoff_base": 0.2,
                "retry_backoff_max": 2.0,
                "sweep_interval": 0.5,
                "lease_seconds": 3,
                "queued_lost_after": 3,
                "max_attempts": 4,
                "ghl_timeout": 10.0,
                "crm_timeout": 10.0,
                # Every line the worker can write, so that a leak would show.
                "log_level": "DEBUG",
            }
        )
        store = Store(database_url, settings.secret_key, engine_options=engine_options)
        app = create_app(settings)
        worker = Worker(settings, tmp / "worker.log")
        worker.start()
        try:
            with ServerThread(app, port=port) as web:
                assert web.url == web_url
                yield System(
                    settings=settings,
                    store=store,
                    web_url=web_url,
                    ghl_url=ghl_url,
                    crm_url=crm_url,
                    worker=worker,
                )
        finally:
            worker.stop()
            app.extensions["socialbridge"].dispose()
            store.dispose()


@pytest.fixture(name="oauth_bridge")
def oauth_bridge_fixture(oauth_system: System) -> Iterator[System]:
    """The OAuth system with a clean sandbox journal; afterwards every GHL exchange of the test
    is checked: the Social Planner calls against their files, the OAuth ones by the sandbox
    itself against apps/oauth.json (`spec_errors`)."""
    oauth_system.reset_sandboxes()
    yield oauth_system
    journal = oauth_system.ghl_journal()
    assert [entry["spec_errors"] for entry in journal if entry["spec_errors"]] == []
    assert_journal_conforms(entry for entry in journal if not entry["path"].startswith("/oauth/"))
    oauth_system.reset_sandboxes()


def new_oauth_connection(bridge: System, location_id: str = "") -> ConnectionRecord:
    return bridge.new_connection(
        name=f"oauth-{secrets.token_hex(4)}",
        ghl_token="",
        ghl_auth="oauth",
        location_id=location_id,
    )


def approval(location_id: str) -> dict[str, str]:
    """What a person's choice on GHL's install page adds to its URL (the sandbox's form)."""
    return {"location_id": location_id, "approve": "1"}


def install_over_http(
    bridge: System, connection: ConnectionRecord, location_id: str = DEFAULT_LOCATION
) -> httpx.Response:
    """What a browser does: open the install URL, approve `location_id` on GHL's page (the
    sandbox's `approve=1`), follow GHL's redirect to our callback. The callback's answer."""
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        started = browser.get(install_url(bridge.settings, connection.id))
        assert started.status_code == 302, started.text
        install_page = started.headers["location"]
        assert install_page.startswith(f"{bridge.ghl_url}/oauth/chooselocation?")
        query = parse_qs(urlsplit(install_page).query)
        assert query["redirect_uri"] == [f"{bridge.web_url}/oauth/ghl/callback"]
        assert query["scope"] == [" ".join(OAUTH_SCOPES)]
        shown = browser.get(install_page)
        assert shown.status_code == 200  # the page where a person would choose
        approved = browser.get(f"{install_page}&{urlencode(approval(location_id))}")
        assert approved.status_code == 302, approved.text
        back = approved.headers["location"]
        assert back.startswith(f"{bridge.web_url}/oauth/ghl/callback?")
        return browser.get(back)


def secrets_of(connection: ConnectionRecord) -> list[str]:
    values = [connection.ghl_token, connection.ghl_refresh_token or "", SANDBOX_CLIENT_SECRET]
    assert all(values)
    return values


def assert_never_logged(
    bridge: System, caplog: pytest.LogCaptureFixture, values: list[str]
) -> None:
    """None of `values` in any line of this process (web server) or of the worker's log."""
    here = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    worker = bridge.worker.log_path.read_text(errors="replace")
    assert here
    assert worker
    for value in values:
        assert value not in here
        assert value not in worker


def test_the_whole_install_over_http_then_events_run_on_the_oauth_token(
    oauth_bridge: System, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = new_oauth_connection(oauth_bridge)
    early = oauth_bridge.send(connection, "post.published", {"post_id": "crm-early"})
    assert early.status_code == 202, early.text
    waited = oauth_bridge.wait_for(early.json()["event_id"], until=lambda e: e.status == "waiting")
    assert waited.last_error is not None
    assert "needs_reauth" in waited.last_error

    page = install_over_http(oauth_bridge, connection)

    assert page.status_code == 200, page.text
    assert f"Location {DEFAULT_LOCATION} is connected" in page.text
    assert connection.name in page.text
    installed = oauth_bridge.store.get_connection(connection.id)
    assert installed is not None
    assert (installed.status, installed.location_id, installed.scopes) == (
        "active",
        DEFAULT_LOCATION,
        OAUTH_SCOPES,
    )
    # The event that waited for the install runs now, without beat or the sweep.
    done = oauth_bridge.wait_for(early.json()["event_id"])
    assert done.status == "done", done.last_error
    later = oauth_bridge.send(connection, "post.published", {"post_id": "crm-later"})
    assert later.status_code == 202, later.text
    finished = oauth_bridge.wait_for(later.json()["event_id"])
    assert finished.status == "done", finished.last_error
    assert oauth_bridge.crm_get(connection, "posts/crm-later")["tags"]
    # The only GHL credential the connection has is the one the install gave it.
    assert oauth_bridge.store.get_connection(connection.id) == installed
    for value in secrets_of(installed):
        assert value not in page.text
    assert_never_logged(oauth_bridge, caplog, secrets_of(installed))


def test_installing_another_location_than_the_pinned_one_is_refused(oauth_bridge: System) -> None:
    connection = new_oauth_connection(oauth_bridge, location_id="loc_not_chosen")

    page = install_over_http(oauth_bridge, connection)

    assert page.status_code == 409, page.text
    assert "Another location was chosen" in page.text
    assert oauth_bridge.store.get_connection(connection.id) == connection


def test_opening_the_callback_twice_exchanges_the_code_once(oauth_bridge: System) -> None:
    connection = new_oauth_connection(oauth_bridge)
    with httpx.Client(timeout=30, follow_redirects=True) as browser:
        started = browser.get(install_url(oauth_bridge.settings, connection.id))
        # follow_redirects stops at GHL's page: a person has to choose there.
        approved = browser.get(f"{started.url}&{urlencode(approval(DEFAULT_LOCATION))}")
        assert approved.status_code == 200, approved.text
        callback = str(approved.url)
        again = browser.get(callback)

    assert again.status_code == 400
    assert "This install link was used already" in again.text
    token_calls = [e for e in oauth_bridge.ghl_journal() if e["path"] == "/oauth/token"]
    assert len(token_calls) == 1


# --- an install started from GHL's marketplace page: no state ------------------------------------


def new_sandbox_location(bridge: System) -> str:
    """A location of its own at the sandbox GHL, so that no other test's connection is for it."""
    location = f"loc_market_{secrets.token_hex(4)}"
    added = bridge.http.post(
        f"{bridge.ghl_url}/_sandbox/locations",
        json={"location_id": location, "token": f"pit-{location}"},
    )
    added.raise_for_status()
    return location


def install_from_marketplace(bridge: System, location_id: str) -> tuple[httpx.Response, str]:
    """What a browser does when the install starts on GHL's marketplace page: GHL's install page
    with the app's query and no state, `location_id` approved, GHL's redirect to our callback
    followed. The callback's answer, and the URL GHL sent the browser to."""
    query = {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": f"{bridge.web_url}/oauth/ghl/callback",
        "scope": " ".join(OAUTH_SCOPES),
    }
    install_page = f"{bridge.ghl_url}/oauth/chooselocation?{urlencode(query, quote_via=quote)}"
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        shown = browser.get(install_page)
        assert shown.status_code == 200, shown.text  # the sandbox takes an install without state
        approved = browser.get(f"{install_page}&{urlencode(approval(location_id))}")
        assert approved.status_code == 302, approved.text
        back: str = approved.headers["location"]
        assert back.startswith(f"{bridge.web_url}/oauth/ghl/callback?")
        assert "state" not in parse_qs(urlsplit(back).query)
        return browser.get(back), back


def test_an_install_from_ghls_marketplace_connects_the_one_connection_of_its_location(
    oauth_bridge: System, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    location = new_sandbox_location(oauth_bridge)
    connection = new_oauth_connection(oauth_bridge, location_id=location)
    early = oauth_bridge.send(connection, "post.published", {"post_id": "crm-market-early"})
    assert early.status_code == 202, early.text
    oauth_bridge.wait_for(early.json()["event_id"], until=lambda e: e.status == "waiting")

    page, back = install_from_marketplace(oauth_bridge, location)

    assert page.status_code == 200, page.text
    assert f"Location {location} is connected" in page.text
    assert "The install came from GHL's marketplace page" in page.text
    installed = oauth_bridge.store.get_connection(connection.id)
    assert installed is not None
    assert (installed.status, installed.location_id, installed.scopes) == (
        "active",
        location,
        OAUTH_SCOPES,
    )
    # The event that waited runs on the token the marketplace install gave, as do later ones.
    done = oauth_bridge.wait_for(early.json()["event_id"])
    assert done.status == "done", done.last_error
    later = oauth_bridge.send(connection, "post.published", {"post_id": "crm-market-later"})
    assert later.status_code == 202, later.text
    finished = oauth_bridge.wait_for(later.json()["event_id"])
    assert finished.status == "done", finished.last_error
    assert oauth_bridge.crm_get(connection, "posts/crm-market-later")["tags"]
    code = parse_qs(urlsplit(back).query)["code"][0]
    for value in (*secrets_of(installed), code):
        assert value not in page.text
    # (The code is in this process's lines anyway: the test's browser logs the URLs it opens.)
    assert_never_logged(oauth_bridge, caplog, secrets_of(installed))


def test_an_install_from_ghls_marketplace_for_a_location_without_a_connection_keeps_nothing(
    oauth_bridge: System,
) -> None:
    location = new_sandbox_location(oauth_bridge)
    unplaced = new_oauth_connection(oauth_bridge)

    page, _ = install_from_marketplace(oauth_bridge, location)

    assert page.status_code == 404, page.text
    assert f"No connection is for location {location}" in page.text
    assert f"--location-id {location}" in page.text
    assert "Nothing was stored, and the tokens GHL gave were not kept." in page.text
    assert "A marketplace install never picks" in page.text
    assert oauth_bridge.store.get_connection(unplaced.id) == unplaced
    assert oauth_bridge.store.oauth_connections(location_id=location) == []
