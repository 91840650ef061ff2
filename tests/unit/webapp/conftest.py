"""The web app on a real store and a real Redis, driven through Flask's test client."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks import Webhook
from werkzeug.test import TestResponse

from store import ConnectionRecord, Store, UserRole
from tests.dbutil import Database, clear_database, database_params, temporary_database
from webapp import create_app

SECRET_KEY = "unit-test-secret-key"
PUBLIC_URL = "https://bridge.example"

AppFactory = Callable[..., Flask]


@pytest.fixture(scope="session", params=database_params())
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp(f"webapp-{request.param}")
    with temporary_database(request.param, folder, upgrade=True) as database:
        yield database


@pytest.fixture
def database_url(migrated_database: Database) -> str:
    clear_database(*migrated_database)
    return migrated_database[0]


@pytest.fixture
def make_app(database_url: str, redis_url: str) -> Iterator[AppFactory]:
    """Build web apps on the test database and Redis; settings can be overridden."""
    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "secret_key": SECRET_KEY,
            "public_url": PUBLIC_URL,
        }
        config.update(overrides)
        app = create_app(config)
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["socialbridge"].dispose()
        app.extensions["task_publisher"].close()
        app.extensions["celery"].close()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def store(app: Flask) -> Store:
    found: Store = app.extensions["socialbridge"].store
    return found


ADMIN_EMAIL = "admin@example.com"
VIEWER_EMAIL = "viewer@example.com"
PASSWORD = "correct horse battery"


def csrf_of(client: FlaskClient) -> str:
    """The CSRF token of the client's session (made by a page GET when there is none yet)."""
    with client.session_transaction() as session:
        token = session.get("csrf")
    if token is None:
        client.get("/signin")
        with client.session_transaction() as session:
            token = session["csrf"]
    assert isinstance(token, str)
    return token


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    """Sign in through the sign-in form, as a browser does."""
    return client.post(
        "/signin", data={"email": email, "password": password, "csrf_token": csrf_of(client)}
    )


@pytest.fixture
def admin_client(app: Flask, store: Store) -> FlaskClient:
    """A client signed in as an admin."""
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)
    signed = app.test_client()
    assert sign_in(signed, ADMIN_EMAIL).status_code == 302
    return signed


@pytest.fixture
def viewer_client(app: Flask, store: Store) -> FlaskClient:
    """A client signed in as a viewer."""
    store.add_user(VIEWER_EMAIL, PASSWORD, UserRole.VIEWER)
    signed = app.test_client()
    assert sign_in(signed, VIEWER_EMAIL).status_code == 302
    return signed


@pytest.fixture
def connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="acme",
        location_id="loc_demo",
        ghl_token="pit-sandbox-demo",
        crm_url="http://crm.example/hooks/acme",
    )


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def event_body(event_type: str, data: Mapping[str, Any]) -> bytes:
    now = dt.datetime.now(dt.UTC).isoformat()
    return json.dumps({"type": event_type, "timestamp": now, "data": dict(data)}).encode()


def signed_headers(
    connection: ConnectionRecord,
    raw: bytes,
    *,
    webhook_id: str | None = None,
    secret: str | None = None,
    timestamp: dt.datetime | None = None,
) -> dict[str, str]:
    """The Standard Webhooks headers a CRM sends with `raw`, and a JSON content-type."""
    msg_id = webhook_id or f"msg_{secrets.token_hex(8)}"
    when = timestamp or dt.datetime.now(dt.UTC)
    signature = Webhook(secret or connection.webhook_secrets[0]).sign(
        msg_id, when, raw.decode("utf-8", errors="replace")
    )
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


def send(
    client: FlaskClient,
    connection: ConnectionRecord,
    event_type: str = "post.published",
    data: Mapping[str, Any] | None = None,
    *,
    body: bytes | None = None,
    webhook_id: str | None = None,
    secret: str | None = None,
    timestamp: dt.datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> TestResponse:
    """POST an event signed the Standard Webhooks way, as a CRM does."""
    if data is None:
        data = {"post_id": "crm-1"}
    raw = body if body is not None else event_body(event_type, data)
    sent = signed_headers(
        connection, raw, webhook_id=webhook_id, secret=secret, timestamp=timestamp
    )
    if headers is not None:
        sent.update(headers)
    return client.post(f"/webhooks/crm/{connection.id}", data=raw, headers=sent)


def send_chunked(
    client: FlaskClient, connection: ConnectionRecord, raw: bytes, **headers: str
) -> TestResponse:
    """POST a signed body without Content-Length, as a server hands on a chunked request.

    The WSGI servers we run (gunicorn, werkzeug's) de-chunk the body themselves and mark
    the stream as terminated by the server (`wsgi.input_terminated`): so does this.
    """
    sent = {**signed_headers(connection, raw), "transfer-encoding": "chunked", **headers}
    return client.post(
        f"/webhooks/crm/{connection.id}",
        input_stream=io.BytesIO(raw),
        headers=sent,
        environ_overrides={"wsgi.input_terminated": True},
    )
