"""The GHL install over HTTP: `/oauth/ghl/start` and `/oauth/ghl/callback`.

The web app runs on a real store and Redis and calls the sandbox GHL in-process (through
`httpx.WSGITransport`); the browser's part, following the redirects to GHL's install page
and back, is done here with the two test clients.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ghl.endpoints import OAUTH_SCOPES, SCOPE_LOCATION_TOKEN
from sandbox.ghl import (
    DEFAULT_LOCATION,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    create_sandbox_ghl_app,
)
from sandbox.ghl.oauth import SANDBOX_COMPANY_ID
from schemas.events import dump_event, load_event
from socialbridge.config import Settings
from socialbridge.logs import JsonFormatter
from socialbridge.oauth_state import new_state, read_state
from store import ConnectionRecord, EventRecord, Store
from tests.brokerutil import queued_tasks
from tests.unit.webapp.conftest import PUBLIC_URL, SECRET_KEY
from webapp import create_app
from workers.services import Services

GHL = "http://ghl.sandbox"
AUTHORIZE_URL = f"{GHL}/oauth/chooselocation"
CALLBACK = f"{PUBLIC_URL}/oauth/ghl/callback"
SECOND_LOCATION = "loc_second"


@pytest.fixture
def sandbox() -> Flask:
    return create_sandbox_ghl_app()


@pytest.fixture
def make_install_app(database_url: str, redis_url: str, sandbox: Flask) -> Iterator[Any]:
    """Web apps that reach the sandbox GHL in-process; settings can be overridden."""
    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        settings = Settings.from_mapping(
            {
                "database_url": database_url,
                "redis_url": redis_url,
                "secret_key": SECRET_KEY,
                "public_url": PUBLIC_URL,
                "ghl_base_url": GHL,
                "ghl_client_id": SANDBOX_CLIENT_ID,
                "ghl_client_secret": SANDBOX_CLIENT_SECRET,
                "ghl_oauth_authorize_url": AUTHORIZE_URL,
                **overrides,
            }
        )
        services = Services(settings, ghl_transport=httpx.WSGITransport(app=sandbox))
        app = create_app(settings, services=services)
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["socialbridge"].dispose()
        app.extensions["celery"].close()


@pytest.fixture
def web(make_install_app: Any) -> FlaskClient:
    client: FlaskClient = make_install_app().test_client()
    return client


@pytest.fixture
def store(web: FlaskClient) -> Store:
    found: Store = web.application.extensions["socialbridge"].store
    return found


def oauth_connection(store: Store, name: str = "acme", location_id: str = "") -> ConnectionRecord:
    return store.create_connection(
        name=name,
        location_id=location_id,
        ghl_token="",
        ghl_auth="oauth",
        crm_url="http://crm.example/hooks/acme",
    )


def waiting_event(store: Store, connection: ConnectionRecord, post_id: str) -> EventRecord:
    event = load_event(
        {
            "type": "post.published",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "data": {"post_id": post_id},
        }
    )
    record, _ = store.record_event(
        connection_id=connection.id, type=event.type, payload=dump_event(event)
    )
    waited = store.mark_waiting(record.id, "needs_reauth: not installed yet")
    assert waited is not None
    assert waited.status == "waiting"
    return waited


def status_of(store: Store, event: EventRecord) -> str:
    found = store.get_event(event.id)
    assert found is not None
    return found.status


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def to_ghl(web: FlaskClient, **query: str) -> str:
    """Open /oauth/ghl/start; the URL of GHL's install page it redirects to."""
    answer = web.get("/oauth/ghl/start", query_string=query)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    location: str = answer.headers["Location"]
    assert location.startswith(f"{AUTHORIZE_URL}?")
    return location


def approve(sandbox: Flask, install_page: str, **choice: str) -> str:
    """Choose at GHL's install page (`location_id=…` or `agency=1`, `approve=1`); the URL of
    our callback GHL sends the browser back to."""
    answer = sandbox.test_client().get(f"{path_of(install_page)}&{urlencode(choice)}")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    back: str = answer.headers["Location"]
    assert back.startswith(f"{CALLBACK}?")
    return back


def come_back(web: FlaskClient, callback_url: str) -> TestResponse:
    return web.get(path_of(callback_url))


def install(
    web: FlaskClient, sandbox: Flask, connection: ConnectionRecord, location: str = DEFAULT_LOCATION
) -> TestResponse:
    page = to_ghl(web, connection=connection.id)
    return come_back(web, approve(sandbox, page, location_id=location, approve="1"))


def text(answer: TestResponse) -> str:
    """The page, its runs of white space made one space (as a browser shows it)."""
    return " ".join(answer.get_data(as_text=True).split())


def sandbox_counts(sandbox: Flask) -> dict[str, int]:
    counts: dict[str, int] = sandbox.extensions["sandbox_ghl"].oauth.counts()
    return {"token_calls": 0, "location_token_calls": 0, **counts}


# --- /oauth/ghl/start ----------------------------------------------------------------------------


def test_start_redirects_to_ghl_with_the_oauth_query(web: FlaskClient, store: Store) -> None:
    connection = oauth_connection(store)

    answer = web.get("/oauth/ghl/start", query_string={"connection": connection.id})

    assert answer.status_code == 302
    assert answer.headers["Cache-Control"] == "no-store"
    query = query_of(answer.headers["Location"])
    assert set(query) == {"response_type", "client_id", "redirect_uri", "scope", "state"}
    assert query["response_type"] == "code"
    assert query["client_id"] == SANDBOX_CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"] == " ".join(OAUTH_SCOPES)
    claims = read_state(SECRET_KEY, query["state"], now=dt.datetime.now(dt.UTC))
    assert claims.connection_id == connection.id
    assert SANDBOX_CLIENT_SECRET not in answer.headers["Location"]


def test_each_start_has_a_state_of_its_own(web: FlaskClient, store: Store) -> None:
    connection = oauth_connection(store)

    first = query_of(to_ghl(web, connection=connection.id))["state"]
    second = query_of(to_ghl(web, connection=connection.id))["state"]

    assert first != second


def test_an_unknown_connection_is_a_404_page(web: FlaskClient) -> None:
    answer = web.get("/oauth/ghl/start", query_string={"connection": "con_0000000000000000"})

    assert answer.status_code == 404
    assert answer.mimetype == "text/html"
    assert "socialbridge has no connection &#39;con_0000000000000000&#39;." in text(answer)


def test_a_pit_connection_is_a_400_page(web: FlaskClient, store: Store) -> None:
    connection = store.create_connection(
        name="pit", location_id="loc_demo", ghl_token="pit-sandbox-demo", crm_url="http://c/h"
    )

    answer = web.get("/oauth/ghl/start", query_string={"connection": connection.id})

    assert answer.status_code == 400
    assert "uses a Private Integration token" in text(answer)
    assert "pit-sandbox-demo" not in text(answer)


@pytest.mark.parametrize(
    "query",
    [{}, {"connection": ""}, {"agency": "yes"}, {"agency": "1", "connection": "con_x"}],
)
def test_a_start_without_a_clear_subject_is_a_400_page_saying_how(
    web: FlaskClient, query: dict[str, str]
) -> None:
    answer = web.get("/oauth/ghl/start", query_string=query)

    assert answer.status_code == 400
    assert answer.mimetype == "text/html"
    assert "/oauth/ghl/start?connection=&lt;connection id&gt;" in text(answer)
    assert "/oauth/ghl/start?agency=1" in text(answer)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"ghl_client_id": "", "ghl_client_secret": ""}, "GHL_CLIENT_ID and GHL_CLIENT_SECRET are"),
        ({"ghl_client_secret": ""}, "GHL_CLIENT_SECRET is not set"),
    ],
)
def test_without_the_apps_credentials_start_is_a_503_page_naming_them(
    make_install_app: Any, overrides: dict[str, str], named: str
) -> None:
    client = make_install_app(**overrides).test_client()
    connection = oauth_connection(client.application.extensions["socialbridge"].store)

    answer = client.get("/oauth/ghl/start", query_string={"connection": connection.id})

    assert answer.status_code == 503
    assert answer.mimetype == "text/html"
    assert "GHL OAuth is not configured" in text(answer)
    assert named in text(answer)
    assert "Traceback" not in text(answer)


# --- /oauth/ghl/callback: a Location install -----------------------------------------------------


def test_the_whole_install_connects_the_location_and_releases_waiting_events(
    web: FlaskClient, sandbox: Flask, store: Store, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = oauth_connection(store)
    first = waiting_event(store, connection, "crm-1")
    second = waiting_event(store, connection, "crm-2")
    page = to_ghl(web, connection=connection.id)
    back = approve(sandbox, page, location_id=DEFAULT_LOCATION, approve="1")

    answer = come_back(web, back)

    assert answer.status_code == 200, text(answer)
    assert answer.headers["Cache-Control"] == "no-store"
    after = store.get_connection(connection.id)
    assert after is not None
    assert (after.status, after.location_id, after.company_id) == (
        "active",
        DEFAULT_LOCATION,
        SANDBOX_COMPANY_ID,
    )
    assert after.scopes == OAUTH_SCOPES
    assert after.token_expires_at is not None
    assert after.token_expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    body = text(answer)
    assert f"Location {DEFAULT_LOCATION} is connected" in body
    assert f"<strong>acme</strong> (<code>{connection.id}</code>)" in body
    for scope in OAUTH_SCOPES:
        assert f"<code>{scope}</code>" in body
    assert "Warning" not in body
    assert "2 events that waited for this connection are queued again" in body
    # Released in the order they came, and on the queue at once.
    assert [status_of(store, event) for event in (first, second)] == ["queued", "queued"]
    assert [task.args[0] for task in queued_tasks(redis_url)] == [first.id, second.id]
    # The token is GHL's: it reads the location's tags.
    tags = httpx.Client(transport=httpx.WSGITransport(app=sandbox), base_url=GHL).get(
        f"/social-media-posting/{DEFAULT_LOCATION}/tags",
        headers={"Authorization": f"Bearer {after.ghl_token}", "Version": "2021-07-28"},
    )
    assert tags.status_code == 200
    # No token, and not the code, in the page or in any log line.
    code = query_of(back)["code"]
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "oauth.installed" in logged
    for secret in (after.ghl_token, after.ghl_refresh_token or "?", code, SANDBOX_CLIENT_SECRET):
        assert secret not in body
        assert secret not in logged


def test_a_connection_pinned_to_its_location_installs(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store, location_id=DEFAULT_LOCATION)

    answer = install(web, sandbox, connection)

    assert answer.status_code == 200
    assert "No event was waiting for this connection." in text(answer)
    after = store.get_connection(connection.id)
    assert after is not None
    assert after.status == "active"


def test_another_location_than_the_pinned_one_is_a_409_page_and_nothing_is_stored(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store, location_id="loc_elsewhere")

    answer = install(web, sandbox, connection)

    assert answer.status_code == 409
    body = text(answer)
    assert "acme is for location loc_elsewhere" in body
    assert f"the install chose location {DEFAULT_LOCATION}" in body
    assert "Nothing was stored" in body
    assert store.get_connection(connection.id) == connection


def test_a_reinstall_replaces_the_tokens(web: FlaskClient, sandbox: Flask, store: Store) -> None:
    connection = oauth_connection(store)
    install(web, sandbox, connection)
    first = store.get_connection(connection.id)

    answer = install(web, sandbox, connection)

    second = store.get_connection(connection.id)
    assert answer.status_code == 200
    assert first is not None
    assert second is not None
    assert second.ghl_token != first.ghl_token
    assert second.token_generation == first.token_generation + 1


def test_fewer_scopes_than_the_flows_need_are_named_in_a_warning(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store)
    page = to_ghl(web, connection=connection.id)
    # As if the marketplace app were registered without the posts scope.
    fewer = page.replace("%20socialplanner%2Fpost.readonly", "")
    assert fewer != page

    answer = come_back(web, approve(sandbox, fewer, location_id=DEFAULT_LOCATION, approve="1"))

    assert answer.status_code == 200
    assert "Warning: GHL did not grant socialplanner/post.readonly." in text(answer)


def test_a_cancelled_install_says_so_and_changes_nothing(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store)
    page = to_ghl(web, connection=connection.id)
    back = approve(sandbox, page, location_id=DEFAULT_LOCATION, approve="0")
    assert query_of(back)["error"] == "access_denied"

    answer = come_back(web, back)

    assert answer.status_code == 200
    assert "Install cancelled" in text(answer)
    assert "The install of acme was cancelled at GHL: nothing was changed." in text(answer)
    assert store.get_connection(connection.id) == connection


def test_another_error_from_ghl_is_a_502_page(web: FlaskClient) -> None:
    answer = web.get(
        "/oauth/ghl/callback",
        query_string={"error": "server_error", "error_description": "<b>try later</b>"},
    )

    assert answer.status_code == 502
    assert "GHL did not authorize the install" in text(answer)
    assert "&lt;b&gt;try later&lt;/b&gt;" in text(answer)


# --- /oauth/ghl/callback: states that are refused ------------------------------------------------


def test_a_used_state_is_refused_without_exchanging_the_code_again(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store)
    back = approve(
        sandbox, to_ghl(web, connection=connection.id), location_id=DEFAULT_LOCATION, approve="1"
    )
    assert come_back(web, back).status_code == 200
    installed = store.get_connection(connection.id)
    calls = sandbox_counts(sandbox)["token_calls"]

    again = come_back(web, back)

    assert again.status_code == 400
    assert "This install link was used already" in text(again)
    assert sandbox_counts(sandbox)["token_calls"] == calls
    assert store.get_connection(connection.id) == installed


def test_a_tampered_state_is_refused(web: FlaskClient, sandbox: Flask, store: Store) -> None:
    connection = oauth_connection(store)
    back = approve(
        sandbox, to_ghl(web, connection=connection.id), location_id=DEFAULT_LOCATION, approve="1"
    )
    query = query_of(back)
    payload, _, signature = query["state"].rpartition(".")
    forged = f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"

    answer = web.get("/oauth/ghl/callback", query_string={"code": query["code"], "state": forged})

    assert answer.status_code == 400
    assert "This install link is not valid" in text(answer)
    assert "bad signature" in text(answer)
    assert store.get_connection(connection.id) == connection


def test_a_state_signed_with_another_key_is_refused(web: FlaskClient, store: Store) -> None:
    connection = oauth_connection(store)
    state, _ = new_state("another-key", connection.id, now=dt.datetime.now(dt.UTC))

    answer = web.get("/oauth/ghl/callback", query_string={"code": "c", "state": state})

    assert answer.status_code == 400
    assert "This install link is not valid" in text(answer)


def test_an_expired_state_is_refused(web: FlaskClient, store: Store, sandbox: Flask) -> None:
    connection = oauth_connection(store)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)
    state, _ = new_state(SECRET_KEY, connection.id, now=long_ago)
    calls = sandbox_counts(sandbox)["token_calls"]

    answer = web.get("/oauth/ghl/callback", query_string={"code": "c", "state": state})

    assert answer.status_code == 400
    assert "This install link expired" in text(answer)
    assert sandbox_counts(sandbox)["token_calls"] == calls


def test_a_callback_without_a_code_is_refused(web: FlaskClient, store: Store) -> None:
    connection = oauth_connection(store)
    state, _ = new_state(SECRET_KEY, connection.id, now=dt.datetime.now(dt.UTC))

    answer = web.get("/oauth/ghl/callback", query_string={"state": state})

    assert answer.status_code == 400
    assert "GHL sent no authorization code" in text(answer)
    assert f"{PUBLIC_URL}/oauth/ghl/start?connection={connection.id}" in text(answer)


def test_a_code_ghl_refuses_is_a_400_page_and_nothing_is_stored(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store)
    back = approve(
        sandbox, to_ghl(web, connection=connection.id), location_id=DEFAULT_LOCATION, approve="1"
    )
    code = query_of(back)["code"]
    assert come_back(web, back).status_code == 200
    other = oauth_connection(store, name="other")
    # A fresh state, but a code GHL already redeemed.
    state, _ = new_state(SECRET_KEY, other.id, now=dt.datetime.now(dt.UTC))

    answer = web.get("/oauth/ghl/callback", query_string={"code": code, "state": state})

    assert answer.status_code == 400
    assert "GHL refused the authorization" in text(answer)
    assert "invalid_grant" in text(answer)
    assert code not in text(answer)
    assert store.get_connection(other.id) == other


def test_ghl_failing_the_exchange_is_a_502_page_and_nothing_is_stored(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store)
    back = approve(
        sandbox, to_ghl(web, connection=connection.id), location_id=DEFAULT_LOCATION, approve="1"
    )
    fault = {"path_contains": "/oauth/token", "status": 503, "times": 1}
    assert sandbox.test_client().post("/_sandbox/faults", json=fault).status_code == 201

    answer = come_back(web, back)

    assert answer.status_code == 502
    assert "GHL could not complete the install" in text(answer)
    assert f"/oauth/ghl/start?connection={connection.id}" in text(answer)
    assert store.get_connection(connection.id) == connection


def test_a_connection_removed_during_the_install_is_a_404_page(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store)
    back = approve(
        sandbox, to_ghl(web, connection=connection.id), location_id=DEFAULT_LOCATION, approve="1"
    )
    store.delete_connection(connection.id)

    answer = come_back(web, back)

    assert answer.status_code == 404
    assert "The connection is gone" in text(answer)


# --- an agency (Company) install -----------------------------------------------------------------


def test_an_agency_install_connects_each_oauth_connection_of_its_locations(
    web: FlaskClient, sandbox: Flask, store: Store, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    added = sandbox.test_client().post(
        "/_sandbox/locations", json={"location_id": SECOND_LOCATION, "token": "pit-second"}
    )
    assert added.status_code == 201
    first = oauth_connection(store, "first", DEFAULT_LOCATION)
    second = oauth_connection(store, "second", DEFAULT_LOCATION)
    unpinned = oauth_connection(store, "unpinned")
    waiting = waiting_event(store, second, "crm-w")
    page = to_ghl(web, agency="1")
    assert query_of(page)["scope"] == " ".join((*OAUTH_SCOPES, SCOPE_LOCATION_TOKEN))

    answer = come_back(web, approve(sandbox, page, agency="1", approve="1"))

    assert answer.status_code == 200, text(answer)
    body = text(answer)
    assert f"Agency {SANDBOX_COMPANY_ID} is installed" in body
    agency = store.get_agency(SANDBOX_COMPANY_ID)
    assert agency is not None
    assert set(agency.approved_locations) == {DEFAULT_LOCATION, SECOND_LOCATION}
    tokens = set()
    for connection in (first, second):
        after = store.get_connection(connection.id)
        assert after is not None
        assert (after.status, after.location_id, after.company_id) == (
            "active",
            DEFAULT_LOCATION,
            SANDBOX_COMPANY_ID,
        )
        assert f"{connection.name} (<code>{connection.id}</code>)" in body
        tokens.add(after.ghl_token)
        tokens.add(after.ghl_refresh_token)
    # One pair each: a refresh of one never kills the other's.
    assert len(tokens) == 4
    assert sandbox_counts(sandbox)["location_token_calls"] == 2
    assert store.get_connection(unpinned.id) == unpinned
    assert "1 waiting event queued again" in body
    assert [task.args[0] for task in queued_tasks(redis_url)] == [waiting.id]
    assert "Approved locations without a connection" in body
    assert f"<li><code>{SECOND_LOCATION}</code></li>" in body
    assert "socialbridge connections add --name NAME --auth oauth --location-id LOCATION" in body
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    for secret in (*tokens, agency.access_token, agency.refresh_token):
        assert secret not in body
        assert secret not in logged


def test_an_agency_install_with_no_connection_lists_every_approved_location(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    answer = come_back(web, approve(sandbox, to_ghl(web, agency="1"), agency="1", approve="1"))

    assert answer.status_code == 200
    assert "No approved location has an OAuth connection yet." in text(answer)
    assert f"<li><code>{DEFAULT_LOCATION}</code></li>" in text(answer)
    assert store.get_agency(SANDBOX_COMPANY_ID) is not None


def test_a_location_token_ghl_refuses_is_named_and_the_others_still_connect(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store, "first", DEFAULT_LOCATION)
    page = to_ghl(web, agency="1")
    back = approve(sandbox, page, agency="1", approve="1")
    fault = {"path_contains": "/oauth/locationToken", "status": 500, "times": 1}
    assert sandbox.test_client().post("/_sandbox/faults", json=fault).status_code == 201

    answer = come_back(web, back)

    assert answer.status_code == 200
    assert "not connected: no location token from GHL" in text(answer)
    assert store.get_connection(connection.id) == connection


# --- an install started from GHL's marketplace page: a code and no state -------------------------


def marketplace_page(scopes: tuple[str, ...] = OAUTH_SCOPES) -> str:
    """GHL's install page as its marketplace opens it: the app's query and no state."""
    query = {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "scope": " ".join(scopes),
    }
    return f"{AUTHORIZE_URL}?{urlencode(query, quote_via=quote)}"


def from_marketplace(
    web: FlaskClient, sandbox: Flask, location: str = DEFAULT_LOCATION
) -> tuple[TestResponse, str]:
    """Approve `location` on GHL's page opened from its marketplace and come back: our answer,
    and the callback URL GHL sent the browser to."""
    back = approve(sandbox, marketplace_page(), location_id=location, approve="1")
    assert "state" not in query_of(back)
    return come_back(web, back), back


def test_a_marketplace_install_connects_the_one_connection_of_its_location(
    web: FlaskClient, sandbox: Flask, store: Store, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = oauth_connection(store, location_id=DEFAULT_LOCATION)
    elsewhere = oauth_connection(store, "elsewhere", location_id=SECOND_LOCATION)
    first = waiting_event(store, connection, "crm-1")
    second = waiting_event(store, connection, "crm-2")

    answer, back = from_marketplace(web, sandbox)

    assert answer.status_code == 200, text(answer)
    after = store.get_connection(connection.id)
    assert after is not None
    assert (after.status, after.location_id, after.company_id, after.scopes) == (
        "active",
        DEFAULT_LOCATION,
        SANDBOX_COMPANY_ID,
        OAUTH_SCOPES,
    )
    body = text(answer)
    assert f"Location {DEFAULT_LOCATION} is connected" in body
    assert "The install came from GHL's marketplace page" in body
    assert "2 events that waited for this connection are queued again" in body
    # As after an install started here: released in the order they came, and queued at once.
    assert [status_of(store, event) for event in (first, second)] == ["queued", "queued"]
    assert [task.args[0] for task in queued_tasks(redis_url)] == [first.id, second.id]
    assert store.get_connection(elsewhere.id) == elsewhere
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert '"marketplace": true' in logged
    code = query_of(back)["code"]
    for secret in (after.ghl_token, after.ghl_refresh_token or "?", code, SANDBOX_CLIENT_SECRET):
        assert secret not in body
        assert secret not in logged


def test_a_marketplace_install_finds_a_connection_whose_first_install_set_its_location(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store)
    assert install(web, sandbox, connection).status_code == 200
    first = store.get_connection(connection.id)
    assert first is not None
    store.disconnect_connection(connection.id, "GHL UNINSTALL at some time")

    answer, _ = from_marketplace(web, sandbox)

    assert answer.status_code == 200, text(answer)
    again = store.get_connection(connection.id)
    assert again is not None
    assert (again.status, again.location_id) == ("active", DEFAULT_LOCATION)
    assert again.ghl_token not in ("", first.ghl_token)


def test_a_marketplace_install_without_a_connection_for_its_location_says_how_to_add_one(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    pit = store.create_connection(
        name="pit", location_id=DEFAULT_LOCATION, ghl_token="pit-sandbox-demo", crm_url="http://c/h"
    )
    unplaced = oauth_connection(store, "unplaced")
    elsewhere = oauth_connection(store, "elsewhere", location_id=SECOND_LOCATION)
    calls = sandbox_counts(sandbox)["token_calls"]

    answer, _ = from_marketplace(web, sandbox)

    assert answer.status_code == 404
    body = text(answer)
    assert f"No connection is for location {DEFAULT_LOCATION}" in body
    assert "Nothing was stored, and the tokens GHL gave were not kept." in body
    assert (
        "<code>socialbridge connections add --name NAME --auth oauth "
        f"--location-id {DEFAULT_LOCATION} …</code>"
    ) in body
    assert f"then open the install URL it prints and choose location <code>{DEFAULT_LOCATION}" in (
        body
    )
    # The connection without a location is counted, never named, and never chosen.
    assert "socialbridge has 1 OAuth connection created without a location." in body
    assert "A marketplace install never picks it" in body
    assert unplaced.id not in body
    assert "unplaced" not in body
    assert elsewhere.id not in body
    assert sandbox_counts(sandbox)["token_calls"] == calls + 1
    for before in (pit, unplaced, elsewhere):
        assert store.get_connection(before.id) == before


def test_without_connections_lacking_a_location_the_page_does_not_mention_them(
    web: FlaskClient, sandbox: Flask
) -> None:
    answer, _ = from_marketplace(web, sandbox)

    assert answer.status_code == 404
    assert "created without a location" not in text(answer)


def test_a_marketplace_install_for_several_connections_lists_their_install_urls(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    east = oauth_connection(store, "east", location_id=DEFAULT_LOCATION)
    west = oauth_connection(store, "west", location_id=DEFAULT_LOCATION)
    oauth_connection(store, "unplaced")

    answer, _ = from_marketplace(web, sandbox)

    assert answer.status_code == 409
    body = text(answer)
    assert f"Several connections are for location {DEFAULT_LOCATION}" in body
    assert "Nothing was stored, and the tokens GHL gave were not kept." in body
    assert "GHL's refresh tokens are single-use" in body
    for connection in (east, west):
        assert f"{connection.name} (<code>{connection.id}</code>)" in body
        url = f"{PUBLIC_URL}/oauth/ghl/start?connection={connection.id}"
        assert f'<a href="{url}">{url}</a>' in body
        assert store.get_connection(connection.id) == connection
    assert "created without a location" not in body


def test_an_agency_install_from_the_marketplace_points_to_the_agency_url(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store, location_id=DEFAULT_LOCATION)
    back = approve(sandbox, marketplace_page(), agency="1", approve="1")

    answer = come_back(web, back)

    assert answer.status_code == 400
    body = text(answer)
    assert "This is an agency install" in body
    assert "GHL takes each code once and this one is used: nothing was stored." in body
    assert f"Start the agency install from {PUBLIC_URL}/oauth/ghl/start?agency=1" in body
    # Exchanged once, as a Location install; the sandbox's refusal spent the code, so it was
    # not tried again as Company: opening the callback again is refused as a used code.
    assert sandbox_counts(sandbox)["token_calls"] == 1
    assert "invalid_codes" not in sandbox_counts(sandbox)
    again = come_back(web, back)
    assert again.status_code == 400
    assert "GHL refused the authorization" in text(again)
    assert "code is invalid or used" in text(again)
    assert sandbox_counts(sandbox)["invalid_codes"] == 1
    assert store.get_agency(SANDBOX_COMPANY_ID) is None
    assert store.get_connection(connection.id) == connection


def test_an_agency_chosen_on_a_connections_install_page_points_to_the_agency_url(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store)
    page = to_ghl(web, connection=connection.id)

    answer = come_back(web, approve(sandbox, page, agency="1", approve="1"))

    assert answer.status_code == 400
    assert "This is an agency install" in text(answer)
    assert store.get_connection(connection.id) == connection


def test_a_made_up_code_without_a_state_is_refused_by_ghl(web: FlaskClient, sandbox: Flask) -> None:
    answer = web.get("/oauth/ghl/callback", query_string={"code": "from-the-marketplace"})

    assert answer.status_code == 400
    body = text(answer)
    assert "GHL refused the authorization" in body
    assert "Install the app again from GHL&#39;s marketplace page" in body
    assert sandbox_counts(sandbox)["token_calls"] == 1


@pytest.mark.parametrize(
    "code",
    ["x" * 1001, "café", "a b\x00", "tab\there"],
    ids=["too long", "not ASCII", "NUL", "control character"],
)
def test_a_code_not_of_ghls_form_is_refused_without_calling_ghl(
    web: FlaskClient, sandbox: Flask, store: Store, code: str
) -> None:
    connection = oauth_connection(store, location_id=DEFAULT_LOCATION)
    state, _ = new_state(SECRET_KEY, connection.id, now=dt.datetime.now(dt.UTC))

    for query in ({"code": code}, {"code": code, "state": state}):
        answer = web.get("/oauth/ghl/callback", query_string=query)

        assert answer.status_code == 400
        assert "This is not an authorization code from GHL" in text(answer)
    assert sandbox_counts(sandbox)["token_calls"] == 0
    assert store.get_connection(connection.id) == connection


def test_a_callback_with_neither_state_nor_code_is_refused(web: FlaskClient) -> None:
    answer = web.get("/oauth/ghl/callback")

    assert answer.status_code == 400
    assert "GHL sent no authorization code" in text(answer)


def test_a_bad_state_never_falls_back_to_a_marketplace_install(
    web: FlaskClient, sandbox: Flask, store: Store
) -> None:
    connection = oauth_connection(store, location_id=DEFAULT_LOCATION)
    back = approve(sandbox, marketplace_page(), location_id=DEFAULT_LOCATION, approve="1")

    answer = web.get(
        "/oauth/ghl/callback", query_string={"code": query_of(back)["code"], "state": "forged"}
    )

    assert answer.status_code == 400
    assert "This install link is not valid" in text(answer)
    assert sandbox_counts(sandbox)["token_calls"] == 0
    assert store.get_connection(connection.id) == connection


def test_a_marketplace_install_without_the_apps_credentials_is_a_503_page(
    make_install_app: Any, sandbox: Flask
) -> None:
    client = make_install_app(ghl_client_secret="").test_client()
    back = approve(sandbox, marketplace_page(), location_id=DEFAULT_LOCATION, approve="1")

    answer = come_back(client, back)

    assert answer.status_code == 503
    assert "GHL_CLIENT_SECRET is not set" in text(answer)
    assert sandbox_counts(sandbox)["token_calls"] == 0
