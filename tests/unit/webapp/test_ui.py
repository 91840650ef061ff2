"""The read-only overview page (signed in as an admin)."""

from __future__ import annotations

from flask.testing import FlaskClient

from store import ConnectionRecord, Store
from tests.unit.webapp.conftest import PUBLIC_URL


def test_an_empty_bridge_says_how_to_start(admin_client: FlaskClient) -> None:
    answer = admin_client.get("/")

    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "No connection yet: <code>socialbridge connections add --help</code>" in page
    assert "No event yet: <code>socialbridge demo send post.published</code>" in page
    assert '<span class="queued">queued: 0</span>' in page


def test_connections_events_and_counts_are_listed(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload={}, webhook_id="msg_1"
    )
    store.mark_dead(event.id, "ghl: Invalid JWT (HTTP 401)", "auth")
    store.park_connection(connection.id, "credentials refused")

    page = admin_client.get("/").get_data(as_text=True)

    assert f"<code>{connection.id}</code>" in page
    assert f"<code>{PUBLIC_URL}/webhooks/crm/{connection.id}</code>" in page
    assert '<td class="parked">parked: credentials refused</td>' in page
    assert f"<code>{event.id}</code>" in page
    assert "ghl: Invalid JWT (HTTP 401)" in page
    assert '<span class="dead">dead: 1</span>' in page
    # Secrets never reach the page.
    assert connection.ghl_token not in page
    assert connection.webhook_secrets[0] not in page
    assert connection.crm_secret not in page


def test_names_are_escaped(admin_client: FlaskClient, store: Store) -> None:
    store.create_connection(
        name="<script>alert(1)</script>",
        location_id="loc_x",
        ghl_token="t",
        crm_url="http://crm.example/x",
    )

    page = admin_client.get("/").get_data(as_text=True)

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_oauth_connection_waiting_for_its_install_links_to_it(
    admin_client: FlaskClient, store: Store
) -> None:
    waiting = store.create_connection(
        name="oauth-agency", location_id="", ghl_token="", ghl_auth="oauth", crm_url=PUBLIC_URL
    )
    event, _ = store.record_event(
        connection_id=waiting.id, type="post.published", payload={}, webhook_id="msg_2"
    )
    store.mark_waiting(event.id, "connection is needs_reauth")

    page = admin_client.get("/").get_data(as_text=True)

    assert "(chosen at install)" in page
    assert f'<a href="/oauth/ghl/start?connection={waiting.id}">Connect GHL</a>' in page
    assert '<span class="waiting">waiting: 1</span>' in page
