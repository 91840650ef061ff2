"""console.connections: each connection operation on a real store (and Redis for the queue)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from console import connections
from console.connections import ConnectionRefused, NewConnection
from socialbridge.config import Settings
from store import ConnectionRecord, ConnectionStatus, EventStatus, Store
from tests.unit.console.conftest import SECRET_KEY
from workers.celery_app import make_celery


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings.from_mapping(
        {"secret_key": SECRET_KEY, "redis_url": redis_url, "public_url": "https://bridge.example"}
    )


@pytest.fixture
def celery(settings: Settings) -> Iterator[Celery]:
    app = make_celery(settings)
    yield app
    app.close()


@pytest.fixture
def record(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="acme", location_id="loc_acme", ghl_token="pit-acme", crm_url="http://crm.example/a"
    )


def _webhook(**changes: str) -> NewConnection:
    values = {
        "name": "acme",
        "crm_kind": "webhook",
        "location_id": "loc_acme",
        "ghl_token": "pit-acme",
        "crm_url": "https://crm.example/hooks",
        **changes,
    }
    return NewConnection(**values)


# --- the form of each kind --------------------------------------------------------------


def test_settings_fields_come_from_the_schema() -> None:
    smartoffice = {f.name: f for f in connections.settings_fields("smartoffice")}
    assert smartoffice["password"].secret
    assert not smartoffice["office"].secret
    assert smartoffice["auth"].choices == ("direct", "gateway")
    ixact = {f.name: f for f in connections.settings_fields("ixact")}
    assert ixact["smtp_port"].numeric
    assert ixact["smtp_host"].required
    # The webhook kind's secret is required but generated: the form may leave it blank.
    (secret,) = connections.settings_fields("webhook")
    assert secret.secret
    assert not secret.required


# --- create -----------------------------------------------------------------------------


def test_create_stores_a_checked_connection(store: Store, settings: Settings) -> None:
    created = connections.create_connection(store, settings, _webhook(inbound_auth="token"))

    assert store.get_connection(created.id) == created
    assert created.inbound_auth == "token"
    assert created.inbound_token
    assert created.crm_settings["secret"].startswith("whsec_")
    assert created.stats_interval_seconds == settings.stats_interval_seconds


def test_create_names_every_refused_field_at_once(store: Store, settings: Settings) -> None:
    with pytest.raises(ConnectionRefused) as refused:
        connections.create_connection(
            store,
            settings,
            NewConnection(
                name="so",
                crm_kind="smartoffice",
                crm_settings={"auth": "gateway"},
                inbound_auth="nonsense",
            ),
        )

    errors = refused.value.errors
    assert set(errors) >= {
        "location_id",
        "ghl_token",
        "crm_url",
        "inbound_auth",
        "crm_settings.sitename",
        "crm_settings.api_key",
    }
    assert errors["crm_settings.api_key"] == ["Required with auth=gateway."]
    assert store.list_connections() == []


def test_create_refuses_a_url_for_a_kind_without_one(store: Store, settings: Settings) -> None:
    with pytest.raises(ConnectionRefused) as refused:
        connections.create_connection(
            store,
            settings,
            _webhook(crm_kind="ixact", crm_settings={"smtp_host": "127.0.0.1"}),
        )
    assert "have no URL" in refused.value.errors["crm_url"][0]


def test_oauth_needs_the_apps_settings(store: Store, settings: Settings) -> None:
    with pytest.raises(ConnectionRefused) as refused:
        connections.create_connection(store, settings, _webhook(ghl_auth="oauth", ghl_token=""))
    assert "GHL_CLIENT_ID" in refused.value.errors["ghl_auth"][0]


def test_a_taken_name_and_a_bad_mapping_are_refused(
    store: Store, settings: Settings, record: ConnectionRecord
) -> None:
    with pytest.raises(ConnectionRefused) as taken:
        connections.create_connection(store, settings, _webhook())
    assert str(taken.value) == "a connection named 'acme' exists already"
    assert "name" in taken.value.errors

    with pytest.raises(ConnectionRefused) as mapping:
        connections.create_connection(store, settings, _webhook(name="other", mapping="version: 9"))
    assert mapping.value.errors["mapping"]


# --- update -----------------------------------------------------------------------------


def test_a_form_keeps_blank_secrets_and_removes_blank_others(store: Store) -> None:
    record = store.create_connection(
        name="so",
        location_id="loc_so",
        ghl_token="pit-so",
        crm_url="https://so.example/xml",
        crm_kind="smartoffice",
        crm_settings={
            "auth": "direct",
            "office": "Main",
            "user": "api",
            "password": "pw-kept",
            "stats_contact_id": "Contact.1.2",
        },
    )
    merged = connections.merged_settings(
        record, {"password": "", "office": "Branch", "stats_contact_id": ""}
    )

    updated = connections.update_connection(store, record, crm_settings=merged)

    assert updated.crm_settings["password"] == "pw-kept"
    assert updated.crm_settings["office"] == "Branch"
    assert "stats_contact_id" not in updated.crm_settings


def test_update_refuses_a_token_for_oauth_and_bad_settings(store: Store) -> None:
    oauth = store.create_connection(
        name="o", location_id="", ghl_token="", ghl_auth="oauth", crm_url="http://crm.example/o"
    )
    with pytest.raises(ConnectionRefused) as refused:
        connections.update_connection(
            store, oauth, ghl_token="pit-x", crm_settings={"secret": "nope"}
        )
    assert set(refused.value.errors) == {"ghl_token", "crm_settings.secret"}
    assert store.get_connection(oauth.id) == oauth


def test_update_turns_the_stores_refusal_into_a_field(
    store: Store, record: ConnectionRecord
) -> None:
    with pytest.raises(ConnectionRefused) as refused:
        connections.update_connection(store, record, stats_interval_seconds=5)
    assert "stats_interval_seconds" in refused.value.errors


# --- secrets and state ------------------------------------------------------------------


def test_rotate_then_retire(store: Store, record: ConnectionRecord) -> None:
    rotated = connections.rotate_secret(store, record)
    assert rotated.what == "webhook secret"
    assert len(rotated.active) == 2
    assert rotated.active[1] == record.webhook_secrets[0]

    retired = connections.rotate_secret(store, record, retire=True)
    assert retired.active == (rotated.active[0],)


def test_rotate_a_token_connection(store: Store) -> None:
    token = store.create_connection(
        name="t",
        location_id="loc_t",
        ghl_token="pit-t",
        crm_url="http://crm.example/t",
        inbound_auth="token",
    )
    rotated = connections.rotate_secret(store, token)
    assert rotated.what == "inbound token"
    assert rotated.active[1] == token.inbound_token


def test_activate_releases_the_waiting_events(
    store: Store, celery: Celery, settings: Settings, record: ConnectionRecord
) -> None:
    assert connections.activate(store, celery, settings, record) is None  # active already
    store.park_connection(record.id, "GHL refused the token")
    event, _ = store.record_event(connection_id=record.id, type="statistics.requested", payload={})
    assert store.mark_waiting(event.id, "the connection is parked") is not None
    parked = store.get_connection(record.id)
    assert parked is not None

    done = connections.activate(store, celery, settings, parked)

    assert done == connections.Activation("parked", "GHL refused the token", 1)
    released = store.get_event(event.id)
    assert released is not None
    assert released.status == EventStatus.QUEUED


def test_disconnect_then_activate_is_refused(
    store: Store, celery: Celery, settings: Settings, record: ConnectionRecord
) -> None:
    assert connections.disconnect(store, record)
    gone = store.get_connection(record.id)
    assert gone is not None
    assert gone.status == ConnectionStatus.DISCONNECTED
    assert not connections.is_connected(gone)
    assert not connections.disconnect(store, gone)

    with pytest.raises(ConnectionRefused) as refused:
        connections.activate(store, celery, settings, gone)
    assert "has no GHL token" in refused.value.messages


def test_delete(store: Store, record: ConnectionRecord) -> None:
    assert connections.delete_connection(store, "acme") == (record.id, "acme")
    assert store.get_connection(record.id) is None
    assert connections.delete_connection(store, "acme") is None
