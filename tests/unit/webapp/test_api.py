"""The console's JSON API: `/api/overview`, `/api/events`, `/api/connections`, read only."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from flask.testing import FlaskClient

from store import ConnectionRecord, EventRecord, Store
from tests.unit.webapp.conftest import csrf_of


def record(
    store: Store, connection: ConnectionRecord, status: str = "queued", **data: str
) -> EventRecord:
    payload = {"type": "post.published", "data": {"post_id": "crm-1", **data}}
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload=payload
    )
    if status == "dead":
        event = store.mark_dead(event.id, "ghl: refused for good", "permanent")
    return event


def _json(client: FlaskClient, path: str, status: int = 200) -> Any:
    answer = client.get(path)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    return answer.get_json()


def _utc(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    assert moment.utcoffset() == dt.timedelta(0)
    return moment


# --- the overview ---------------------------------------------------------------------------


def test_the_overview_has_each_connection_counts_and_the_queue(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    record(store, connection, "dead")
    record(store, connection)

    found = _json(viewer_client, "/api/overview")

    _utc(found["at"])
    assert found["recent_totals"]["dead"] == 1
    assert found["recent_totals"]["queued"] == 1
    assert isinstance(found["queue"]["depth"], int)
    assert "oldest_queued_age_seconds" in found["queue"]
    (row,) = found["connections"]
    assert row["id"] == connection.id
    assert row["name"] == "acme"
    assert row["state"] == "active"
    assert row["reason"] == ""
    assert row["recent"]["dead"] == 1
    assert row["recent"]["done"] == 0
    assert row["last_success"] is None
    assert row["headroom"] is None  # the limiter never counted this location


def test_the_overview_says_why_a_connection_is_not_active(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    store.disconnect_connection(connection.id, "removed by hand")

    (row,) = _json(viewer_client, "/api/overview")["connections"]

    assert row["state"] == "disconnected"
    assert row["reason"] == "removed by hand"


# --- events ---------------------------------------------------------------------------------


def test_events_are_listed_newest_first_with_iso_utc_times(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    older = record(store, connection)
    newer = record(store, connection, "dead")

    found = _json(viewer_client, "/api/events")

    assert [e["id"] for e in found["events"]] == [newer.id, older.id]
    assert found["next_cursor"] is None
    first = found["events"][0]
    assert first["connection_id"] == connection.id
    assert first["connection_name"] == "acme"
    assert first["type"] == "post.published"
    assert first["status"] == "dead"
    assert first["last_error"] == "ghl: refused for good"
    assert first["error_kind"] == "permanent"
    assert _utc(first["created_at"]) == newer.created_at.astimezone(dt.UTC)
    assert "payload" not in first  # the list is light; the detail has it


def test_events_filter_by_connection_type_and_status(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    other = store.create_connection(name="other", location_id="loc_2", ghl_token="pit-2")
    dead = record(store, connection, "dead")
    record(store, connection)
    record(store, other, "dead")

    found = _json(
        viewer_client, f"/api/events?connection={connection.id}&status=dead&type=post.published"
    )

    assert [e["id"] for e in found["events"]] == [dead.id]
    assert _json(viewer_client, "/api/events?type=statistics.requested")["events"] == []


def test_events_filter_by_time(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event = record(store, connection)
    past = (event.created_at - dt.timedelta(hours=1)).astimezone(dt.UTC)
    future = (event.created_at + dt.timedelta(hours=1)).astimezone(dt.UTC)

    def ids(query: str) -> list[str]:
        return [e["id"] for e in _json(viewer_client, f"/api/events?{query}")["events"]]

    assert ids(f"since={past:%Y-%m-%dT%H:%M:%SZ}") == [event.id]
    assert ids(f"since={future:%Y-%m-%dT%H:%M:%SZ}") == []
    assert ids(f"until={past:%Y-%m-%dT%H:%M:%S}") == []  # no offset: UTC
    # An offset is honoured: the same moment as `future`, two hours east.
    east = future.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert ids(urlencode({"until": east.isoformat()})) == [event.id]


def test_events_come_in_pages_with_a_cursor(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    made = [record(store, connection) for _ in range(51)]

    first = _json(viewer_client, f"/api/events?connection={connection.id}")
    assert len(first["events"]) == 50
    assert first["next_cursor"]
    second = _json(
        viewer_client,
        "/api/events?" + urlencode({"connection": connection.id, "after": first["next_cursor"]}),
    )

    assert second["next_cursor"] is None
    seen = [e["id"] for e in first["events"] + second["events"]]
    assert sorted(seen) == sorted(e.id for e in made)
    assert second["events"][0]["id"] == made[0].id  # the oldest, on the last page


def test_a_bad_events_parameter_is_400_naming_it(
    viewer_client: FlaskClient, connection: ConnectionRecord
) -> None:
    cases = {
        "status=lost": "status: expected one of",
        "type=post.lost": "type: expected one of",
        "connection=nope": "connection: no such connection",
        "since=yesterday": "since: expected an ISO 8601",
        "until=2026-13-01": "until: expected an ISO 8601",
        "after=garbled": "after: not a cursor",
    }
    for query, message in cases.items():
        found = _json(viewer_client, f"/api/events?{query}", 400)
        assert found["message"].startswith(message), (query, found)


def test_an_event_in_detail(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    dead = record(store, connection, "dead", title="Open house")

    found = _json(viewer_client, f"/api/events/{dead.id}")

    assert found["id"] == dead.id
    assert found["status"] == "dead"
    assert found["payload"] == dead.payload
    assert found["payload"]["data"]["title"] == "Open house"
    assert found["replayable"] is True
    assert found["writes"] == []
    assert found["post"] is None
    assert found["connection_name"] == "acme"
    _utc(found["updated_at"])


def test_an_unknown_event_is_404(viewer_client: FlaskClient) -> None:
    found = _json(viewer_client, "/api/events/ev_nope", 404)

    assert found["message"] == "No event ev_nope."


# --- connections ----------------------------------------------------------------------------


def test_connections_are_listed_without_secrets(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    tokened = store.create_connection(
        name="tokened", location_id="loc_t", ghl_token="pit-tokened", inbound_auth="token"
    )

    answer = viewer_client.get("/api/connections")
    found = answer.get_json()

    assert answer.status_code == 200
    assert [c["name"] for c in found["connections"]] == ["acme", "tokened"]
    assert found["connections"][0]["state"] == "active"
    _assert_no_secret(answer.get_data(as_text=True), connection, tokened)


def test_a_connection_as_its_page_shows_it_without_secrets(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    store.add_webhook_secret(connection.id)
    rotated = store.get_connection(connection.id)
    assert rotated is not None

    answer = viewer_client.get(f"/api/connections/{connection.id}")
    found = answer.get_json()

    assert answer.status_code == 200
    assert found["id"] == connection.id
    assert found["crm_kind"] == "webhook"
    assert found["crm_url"] == "http://crm.example/hooks/acme"
    assert found["crm_settings"] == {"secret": "(set, write-only)"}
    assert found["inbound_auth"] == "signature"
    assert found["credentials_accepted"] == 2
    assert found["webhook_url"] == f"https://bridge.example/webhooks/crm/{connection.id}"
    assert found["install_url"] is None
    assert found["has_mapping"] is False
    _utc(found["created_at"])
    _assert_no_secret(answer.get_data(as_text=True), rotated)


def test_a_token_connection_shows_no_token(viewer_client: FlaskClient, store: Store) -> None:
    tokened = store.create_connection(
        name="tokened", location_id="loc_t", ghl_token="pit-tokened", inbound_auth="token"
    )

    answer = viewer_client.get(f"/api/connections/{tokened.id}")

    assert answer.get_json()["credentials_accepted"] == 1
    _assert_no_secret(answer.get_data(as_text=True), tokened)


def test_an_unknown_connection_is_404(viewer_client: FlaskClient) -> None:
    found = _json(viewer_client, "/api/connections/nope", 404)

    assert found["message"] == "No connection nope."


def _assert_no_secret(text: str, *records: ConnectionRecord) -> None:
    json.loads(text)
    for found in records:
        secrets = [
            found.ghl_token,
            *found.webhook_secrets,
            *found.inbound_tokens,
            *(str(value) for value in found.crm_settings.values()),
        ]
        assert all(secrets), found
        for secret in secrets:
            assert secret not in text


# --- sign-in --------------------------------------------------------------------------------


def test_the_api_needs_a_sign_in_and_answers_401(
    client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event = record(store, connection)
    paths = [
        "/api/overview",
        "/api/events",
        f"/api/events/{event.id}",
        "/api/connections",
        f"/api/connections/{connection.id}",
    ]
    for path in paths:
        found = _json(client, path, 401)
        assert found == {"error": "unauthorized", "message": "Sign in first."}, path


def test_an_admin_reads_it_too(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event = record(store, connection)

    assert _json(admin_client, "/api/events")["events"][0]["id"] == event.id
    assert _json(admin_client, f"/api/connections/{connection.id}")["name"] == "acme"


def test_the_api_changes_nothing(admin_client: FlaskClient, connection: ConnectionRecord) -> None:
    for path in ("/api/overview", "/api/events", f"/api/connections/{connection.id}"):
        answer = admin_client.post(path, headers={"X-CSRF-Token": csrf_of(admin_client)})
        assert answer.status_code == 405, path
