"""The overview page and its fragment (signed in), through Flask's test client."""

from __future__ import annotations

from flask.testing import FlaskClient

from store import ConnectionRecord, Store


def test_an_empty_bridge_says_how_to_start(admin_client: FlaskClient) -> None:
    answer = admin_client.get("/")

    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "No connection yet: <code>socialbridge connections add --help</code>" in page
    assert '<dd id="queue-depth">0</dd>' in page
    assert '<dd id="oldest-queued">none queued</dd>' in page
    # The refresh script is a file of its own (the CSP runs no inline script).
    assert '<script src="/static/overview.js" defer></script>' in page
    assert 'data-refresh-url="/overview"' in page


def test_each_connection_shows_state_reason_and_counts(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload={}, webhook_id="msg_1"
    )
    store.mark_dead(event.id, "ghl: Invalid JWT (HTTP 401)", "auth")
    store.park_connection(connection.id, "credentials refused")

    page = admin_client.get("/").get_data(as_text=True)

    assert (
        '<td class="state state-parked">parked<br><small>credentials refused</small></td>' in page
    )
    assert f'href="/events?connection={connection.id}&amp;status=dead">1</a>' in page
    assert '<dd class="dead" id="total-dead">1</dd>' in page
    assert "never" in page  # no success yet
    assert "limiter off" not in page  # the test settings run the limiter
    # Secrets never reach the page.
    assert connection.ghl_token not in page
    assert connection.webhook_secrets[0] not in page
    assert connection.crm_secret not in page


def test_the_fragment_is_the_content_without_the_page(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    answer = admin_client.get("/overview")

    assert answer.status_code == 200
    fragment = answer.get_data(as_text=True)
    assert "<html" not in fragment
    assert "<script" not in fragment
    assert f'id="connection-{connection.id}"' in fragment
    assert "Read at" in fragment


def test_the_fragment_needs_sign_in(client: FlaskClient) -> None:
    answer = client.get("/overview")

    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/signin")


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


def test_an_oauth_connection_not_installed_yet_is_waiting(
    admin_client: FlaskClient, store: Store
) -> None:
    waiting = store.create_connection(
        name="oauth-agency", location_id="", ghl_token="", ghl_auth="oauth", crm_url="http://x"
    )
    event, _ = store.record_event(
        connection_id=waiting.id, type="post.published", payload={}, webhook_id="msg_2"
    )
    store.mark_waiting(event.id, "connection is needs_reauth")

    page = admin_client.get("/").get_data(as_text=True)

    assert "(chosen at install)" in page
    assert (
        '<td class="state state-waiting">waiting<br><small>waiting for its GHL install</small>'
        in page
    )
    assert '<td class="count waiting">1</td>' in page
    assert f'<a href="/oauth/ghl/start?connection={waiting.id}">Connect GHL</a>' in page


def test_a_viewer_reads_the_overview(viewer_client: FlaskClient) -> None:
    assert viewer_client.get("/").status_code == 200
    assert viewer_client.get("/overview").status_code == 200
