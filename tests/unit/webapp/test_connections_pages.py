"""The connections pages through Flask's test client, on a real store and Redis."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from store import ConnectionRecord, ConnectionStatus, EventStatus, Store, UserRole
from tests.unit.webapp.conftest import PASSWORD, AppFactory, csrf_of, sign_in


def _post(client: FlaskClient, path: str, **data: str) -> tuple[int, str]:
    answer = client.post(path, data={**data, "csrf_token": csrf_of(client)})
    return answer.status_code, answer.get_data(as_text=True)


def test_the_list_shows_each_connection_with_its_state(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    page = admin_client.get("/connections").get_data(as_text=True)

    assert connection.name in page
    assert connection.id in page
    assert "New connection" in page
    assert 'class="active"' in page


def test_a_viewer_reads_but_changes_nothing(
    viewer_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    page = viewer_client.get(f"/connections/{connection.id}").get_data(as_text=True)
    assert connection.name in page
    assert "Send test event" not in page
    assert "New connection" not in viewer_client.get("/connections").get_data(as_text=True)

    assert viewer_client.get("/connections/new").status_code == 403
    assert viewer_client.get(f"/connections/{connection.id}/delete").status_code == 403
    for action in ("rotate", "disconnect", "delete", "test-event", "check", "edit"):
        status, _ = _post(viewer_client, f"/connections/{connection.id}/{action}")
        assert status == 403, action
    status, _ = _post(viewer_client, "/connections", name="x", crm_kind="webhook")
    assert status == 403
    after = store.get_connection(connection.id)
    assert after is not None
    assert after.webhook_secrets == connection.webhook_secrets
    assert store.list_events(connection_id=connection.id) == []


def test_a_post_without_its_csrf_token_changes_nothing(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    answer = admin_client.post(f"/connections/{connection.id}/rotate")

    assert answer.status_code == 400
    after = store.get_connection(connection.id)
    assert after is not None
    assert after.webhook_secrets == connection.webhook_secrets


def test_the_form_is_made_from_the_kinds_settings_schema(admin_client: FlaskClient) -> None:
    page = admin_client.get("/connections/new?kind=smartoffice").get_data(as_text=True)

    # A choice of the schema (OneOf) is a select; a secret is a password input.
    assert re.search(r'<select id="setting-auth" name="setting.auth">', page)
    assert re.search(r'name="setting.password" type="password"', page)
    assert 'name="setting.office" type="text"' in page
    assert 'name="crm_url"' in page  # SmartOffice's XML Engine URL
    ixact = admin_client.get("/connections/new?kind=ixact").get_data(as_text=True)
    assert 'name="setting.smtp_port" type="number"' in ixact
    assert 'name="crm_url"' not in ixact  # IXACT is reached by email: no URL


def test_an_admin_creates_a_connection_and_sees_its_secret_once(
    admin_client: FlaskClient, store: Store
) -> None:
    status, page = _post(
        admin_client,
        "/connections",
        crm_kind="webhook",
        name="acme",
        ghl_auth="pit",
        location_id="loc_acme",
        ghl_token="pit-acme",
        crm_url="https://crm.example/hooks",
        inbound_auth="signature",
    )

    assert status == 201
    created = store.find_connection("acme")
    assert created is not None
    assert created.crm_kind == "webhook"
    assert created.crm_settings["secret"].startswith("whsec_")  # generated
    assert created.webhook_secrets[0] in page  # shown this once
    assert f"https://bridge.example/webhooks/crm/{created.id}" in page
    later = admin_client.get(f"/connections/{created.id}").get_data(as_text=True)
    assert created.webhook_secrets[0] not in later
    assert created.crm_settings["secret"] not in later


def test_a_refused_form_names_each_field_and_stores_nothing(
    admin_client: FlaskClient, store: Store
) -> None:
    status, page = _post(
        admin_client,
        "/connections",
        crm_kind="smartoffice",
        name="so",
        ghl_auth="pit",
        location_id="loc_so",
        ghl_token="pit-so",
        crm_url="https://so.example/xml",
        **{"setting.office": "Main", "setting.user": "api"},
    )

    assert status == 400
    assert 'id="problem-crm_settings-password"' in page
    assert "Required with auth=direct." in page
    assert store.find_connection("so") is None
    # What was typed stays in the form, to be corrected.
    assert 'value="Main"' in page


def test_secrets_are_write_only_when_editing(admin_client: FlaskClient, store: Store) -> None:
    record = store.create_connection(
        name="so",
        location_id="loc_so",
        ghl_token="pit-so",
        crm_url="https://so.example/xml",
        crm_kind="smartoffice",
        crm_settings={"auth": "direct", "office": "Main", "user": "api", "password": "hunter2-x"},
    )
    form = admin_client.get(f"/connections/{record.id}/edit").get_data(as_text=True)
    assert "hunter2-x" not in form
    assert "pit-so" not in form
    assert 'value="Main"' in form

    status, _ = _post(
        admin_client,
        f"/connections/{record.id}/edit",
        name="so",
        crm_url="https://so.example/xml",
        ghl_token="",
        **{"setting.auth": "direct", "setting.office": "Branch", "setting.user": "api",
           "setting.password": ""},
    )  # fmt: skip

    assert status == 303
    after = store.get_connection(record.id)
    assert after is not None
    assert after.crm_settings["office"] == "Branch"
    assert after.crm_settings["password"] == "hunter2-x"  # blank: unchanged
    assert after.ghl_token == "pit-so"


def test_rotate_then_retire(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    status, page = _post(admin_client, f"/connections/{connection.id}/rotate")

    assert status == 200
    rotated = store.get_connection(connection.id)
    assert rotated is not None
    assert len(rotated.webhook_secrets) == 2
    assert rotated.webhook_secrets[0] in page
    assert "Keep only the newest" in page

    status, _ = _post(admin_client, f"/connections/{connection.id}/rotate", retire="1")
    assert status == 303
    retired = store.get_connection(connection.id)
    assert retired is not None
    assert retired.webhook_secrets == (rotated.webhook_secrets[0],)


def test_disconnect_then_activate_needs_a_token(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    status, _ = _post(admin_client, f"/connections/{connection.id}/disconnect")
    assert status == 303
    after = store.get_connection(connection.id)
    assert after is not None
    assert after.status == ConnectionStatus.DISCONNECTED
    assert after.status_reason == "disconnected in the console by admin@example.com"
    assert not after.has_ghl_token

    status, page = _post(admin_client, f"/connections/{connection.id}/activate")
    assert status == 409
    assert "has no GHL token" in page


def test_delete_needs_the_name_typed(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    confirm = admin_client.get(f"/connections/{connection.id}/delete")
    assert confirm.status_code == 200
    assert "Type its name to confirm" in confirm.get_data(as_text=True)

    status, _ = _post(admin_client, f"/connections/{connection.id}/delete", confirm_name="nope")
    assert status == 400
    assert store.get_connection(connection.id) is not None

    status, _ = _post(
        admin_client, f"/connections/{connection.id}/delete", confirm_name=connection.name
    )
    assert status == 303
    assert store.get_connection(connection.id) is None


def test_a_test_event_runs_the_receivers_path(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    status, page = _post(
        admin_client, f"/connections/{connection.id}/test-event", event_type="post.published"
    )

    assert status == 200
    events = store.list_events(connection_id=connection.id)
    assert len(events) == 1
    event = events[0]
    assert event.id in page
    assert event.type == "post.published"
    assert event.status == EventStatus.QUEUED
    assert event.payload["data"]["post_id"] == "crm-post-1"
    assert event.webhook_id  # keyed by its signed webhook-id, as a CRM's delivery is


def _far_client(make_app: AppFactory) -> tuple[FlaskClient, Store]:
    """An admin's client of an app whose GHL is out of reach (nothing listens on port 9)."""
    app: Flask = make_app(ghl_base_url="http://127.0.0.1:9", crm_timeout=2)
    app_store: Store = app.extensions["socialbridge"].store
    app_store.add_user("ops@example.com", PASSWORD, UserRole.ADMIN)
    client = app.test_client()
    assert sign_in(client, "ops@example.com").status_code == 302
    return client, app_store


def test_a_test_event_that_cannot_be_made_is_explained(make_app: AppFactory) -> None:
    client, store = _far_client(make_app)
    record = store.create_connection(
        name="tags", location_id="loc_t", ghl_token="pit-t", crm_url="http://crm.example/t"
    )

    # No tag ids given: it asks GHL for the location's first tags, and GHL is out of reach.
    status, page = _post(
        client, f"/connections/{record.id}/test-event", event_type="tag.details_requested"
    )

    assert status == 400
    assert "could not list tags" in page
    assert store.list_events(connection_id=record.id) == []


def test_check_shows_both_sides(make_app: AppFactory) -> None:
    client, store = _far_client(make_app)
    record = store.create_connection(
        name="far", location_id="loc_far", ghl_token="pit-far", crm_url="http://127.0.0.1:9/x"
    )

    status, page = _post(client, f"/connections/{record.id}/check")

    # GHL and the CRM both out of reach: the check says so, a line for each side.
    assert status == 200
    assert 'id="check-result"' in page
    assert re.search(r"<th>GHL</th><td>FAILED</td>", page)
    assert re.search(r"<th>CRM</th><td>FAILED</td>", page)


def test_an_oauth_connection_offers_the_install(admin_client: FlaskClient, store: Store) -> None:
    record = store.create_connection(
        name="o", location_id="", ghl_token="", ghl_auth="oauth", crm_url="http://crm.example/o"
    )
    page = admin_client.get(f"/connections/{record.id}").get_data(as_text=True)

    assert f'href="https://bridge.example/oauth/ghl/start?connection={record.id}"' in page
    assert "Connect to HighLevel" in page
    assert "waiting: waiting for its GHL install" in page
    # Its GHL tokens come from the install: the edit form asks for none.
    form = admin_client.get(f"/connections/{record.id}/edit").get_data(as_text=True)
    assert 'name="ghl_token"' not in form


def test_a_pit_connection_has_no_install_button(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    page = admin_client.get(f"/connections/{connection.id}").get_data(as_text=True)
    assert "Connect to HighLevel" not in page
