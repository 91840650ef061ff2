"""The flows and their bookkeeping against the real sandboxes, in-process.

`Bridge` wires a real store (SQLite, and PostgreSQL when TEST_DATABASE_URL is set) to the
sandbox GHL and sandbox CRM Flask apps through `httpx.WSGITransport`: no network, no mock,
the same code paths as production. Each test gets fresh sandboxes and an emptied database.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from celery import Celery
from flask import Flask
from flask.testing import FlaskClient

from sandbox.crm import create_sandbox_crm_app
from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from schemas.events import dump_event, load_event
from socialbridge.config import Settings
from socialbridge.embedded_redis import free_port
from store import ConnectionRecord, EventRecord, Store
from tests.dbutil import Database, clear_database, database_params, temporary_database
from workers.celery_app import make_celery
from workers.flows import FlowContext
from workers.services import Services

SECRET_KEY = "unit-test-secret-key"
GHL_BASE_URL = "http://ghl.sandbox"
CRM_BASE_URL = "http://crm.sandbox"
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def crm_secret(label: str) -> str:
    """A valid Standard Webhooks secret, different for every label."""
    return "whsec_" + base64.b64encode(f"crm-secret-{label}".ljust(24, "x").encode()).decode()


@dataclass
class Bridge:
    """A store, the two sandboxes and the Services that join them, for one test."""

    settings: Settings
    store: Store
    services: Services
    ghl_app: Flask
    crm_app: Flask

    @property
    def ghl_admin(self) -> FlaskClient:
        return self.ghl_app.test_client()

    @property
    def crm_admin(self) -> FlaskClient:
        return self.crm_app.test_client()

    def connection(self, **overrides: Any) -> ConnectionRecord:
        """A connection to the demo location with its own, registered, sandbox CRM account."""
        account = overrides.pop("account", f"acct_{secrets.token_hex(4)}")
        values: dict[str, Any] = {
            "name": f"conn-{account}",
            "location_id": DEFAULT_LOCATION,
            "ghl_token": DEFAULT_TOKEN,
            "crm_url": f"{CRM_BASE_URL}/hooks/{account}",
            "crm_secret": crm_secret(account),
        }
        values.update(overrides)
        connection = self.store.create_connection(**values)
        answer = self.crm_admin.post(
            "/_sandbox/accounts", json={"account": account, "secret": values["crm_secret"]}
        )
        assert answer.status_code == 201, answer.get_json()
        return connection

    def add_location(self, location_id: str, token: str, tags: int) -> None:
        answer = self.ghl_admin.post(
            "/_sandbox/locations", json={"location_id": location_id, "token": token, "tags": tags}
        )
        assert answer.status_code == 201, answer.get_json()

    def record(
        self, connection: ConnectionRecord, event_type: str, data: Mapping[str, Any]
    ) -> EventRecord:
        """Log an event the way the receiver does: validated, then dumped."""
        event = load_event({"type": event_type, "timestamp": NOW.isoformat(), "data": dict(data)})
        record, created = self.store.record_event(
            connection_id=connection.id, type=event.type, payload=dump_event(event)
        )
        assert created
        return record

    def ghl_fault(self, **fault: Any) -> None:
        answer = self.ghl_admin.post("/_sandbox/faults", json=fault)
        assert answer.status_code == 201, answer.get_json()

    def crm_fault(self, **fault: Any) -> None:
        answer = self.crm_admin.post("/_sandbox/faults", json=fault)
        assert answer.status_code == 201, answer.get_json()

    def journal(self, path_contains: str = "") -> list[dict[str, Any]]:
        """Every request GHL received, oldest first."""
        entries: list[dict[str, Any]] = self.ghl_admin.get(
            "/_sandbox/journal", query_string={"path_contains": path_contains}
        ).get_json()
        return entries

    def deliveries(self, connection: ConnectionRecord | None = None) -> list[dict[str, Any]]:
        """Every write-back the CRM received (of one connection's account if given)."""
        query = {} if connection is None else {"account": account_of(connection)}
        found: list[dict[str, Any]] = self.crm_admin.get(
            "/_sandbox/deliveries", query_string=query
        ).get_json()
        return found

    def crm_posts(self, connection: ConnectionRecord) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.crm_admin.get(
            f"/_sandbox/accounts/{account_of(connection)}/posts"
        ).get_json()
        return found

    def crm_statistics(self, connection: ConnectionRecord) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.crm_admin.get(
            f"/_sandbox/accounts/{account_of(connection)}/statistics"
        ).get_json()
        return found

    @contextmanager
    def context(
        self,
        connection: ConnectionRecord,
        event_id: str = "evt_unit",
        *,
        ghl_transport: httpx.BaseTransport | None = None,
        progress: list[str] | None = None,
    ) -> Iterator[FlowContext]:
        """A FlowContext as execute_event builds it; its clients are closed afterwards."""
        services = self.services
        if ghl_transport is not None:
            services = Services(
                self.settings,
                store=self.store,
                ghl_transport=ghl_transport,
                crm_transport=self.services.crm_transport,
            )
        ghl = services.ghl_for(connection)
        crm = services.crm_for(connection)
        try:
            yield FlowContext(
                connection=connection,
                event_id=event_id,
                ghl=ghl,
                crm=crm,
                store=self.store,
                now=NOW,
                progress=(lambda line: None) if progress is None else progress.append,
            )
        finally:
            ghl.close()
            crm.close()


def account_of(connection: ConnectionRecord) -> str:
    return connection.crm_url.rsplit("/", 1)[-1]


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "ghl_base_url": GHL_BASE_URL,
        "retry_backoff_base": 2.0,
        "retry_backoff_max": 600.0,
        "max_attempts": 3,
        # These settings name no test Redis: the cache is tested on its own with one.
        "tag_cache_ttl": 0,
    }
    values.update(overrides)
    return Settings.from_mapping(values)


@pytest.fixture(scope="session", params=database_params())
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp(f"workers-{request.param}")
    with temporary_database(request.param, folder, upgrade=True) as database:
        yield database


@pytest.fixture
def store(migrated_database: Database) -> Iterator[Store]:
    url, engine_options = migrated_database
    clear_database(url, engine_options)
    opened = Store(url, SECRET_KEY, engine_options=engine_options)
    yield opened
    opened.dispose()


@pytest.fixture
def bridge(store: Store, migrated_database: Database) -> Bridge:
    ghl_app = create_sandbox_ghl_app(rate_limit=10_000)
    crm_app = create_sandbox_crm_app()
    settings = make_settings(migrated_database[0])
    services = Services(
        settings,
        store=store,
        ghl_transport=httpx.WSGITransport(app=ghl_app),
        crm_transport=httpx.WSGITransport(app=crm_app),
    )
    return Bridge(
        settings=settings, store=store, services=services, ghl_app=ghl_app, crm_app=crm_app
    )


@pytest.fixture
def celery(bridge: Bridge, redis_url: str) -> Iterator[Celery]:
    """The Celery app of the bridge's services, on the unit tests' Redis database."""
    app = make_celery(bridge.settings.replace(redis_url=redis_url), services=bridge.services)
    yield app
    app.close()


@pytest.fixture
def celery_without_redis(bridge: Bridge) -> Iterator[Celery]:
    """A Celery app whose Redis does not answer (nothing listens on its port)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = make_celery(bridge.settings.replace(redis_url=url), services=bridge.services)
    yield app
    app.close()
