"""The JSON API's write endpoints, called with API tokens: replays, retries now, connection
changes and mappings. Each answers with what the console's service function did; a viewer is refused
every one (403); a body or id it cannot use is 400 or 404; no answer holds a secret, but for
the credential a creation or rotation has just generated (in that answer only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from socialbridge.config import Settings
from store import ConnectionRecord, EventRecord, Store, UserRole
from tests.brokerutil import queue_length
from tests.unit.webapp.conftest import ADMIN_EMAIL, PASSWORD, SECRET_KEY, VIEWER_EMAIL
from webapp import create_app
from workers.services import Services

VALID = """\
version: 1
inbound:
  type: {path: $.action, map: {published: post.published}}
  fields:
    post_id: $.post.id
    ghl_post_id: $.post.ghl_id
"""
INVALID = VALID.replace("ghl_post_id:", "ghl_post_idd:")  # line 6
BODY = {"action": "published", "post": {"id": "crm-1", "ghl_id": "post_demo_1"}}
# Nothing listens on port 9: a CRM that cannot be reached, at once.
FAR_CRM = "http://127.0.0.1:9/hooks"


@dataclass
class Api:
    """A script's client: every call carries the token; every answer is kept."""

    client: FlaskClient
    token: str
    answers: list[str] = field(default_factory=list)

    def call(
        self, method: str, path: str, body: Any = None, status: int | None = None
    ) -> dict[str, Any]:
        answer = self.client.open(
            path,
            method=method,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        text = answer.get_data(as_text=True)
        self.answers.append(text)
        if status is not None:
            assert answer.status_code == status, f"{method} {path}: {text}"
        assert answer.mimetype == "application/json", text
        found: dict[str, Any] = answer.get_json()
        found["_status"] = answer.status_code
        return found


@pytest.fixture
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    """The web app with GHL answered by the sandbox, in process: a check and a preview read
    GHL."""
    settings = Settings.from_mapping(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "secret_key": SECRET_KEY,
            "public_url": "https://bridge.example",
            "ghl_base_url": "http://ghl.sandbox",
            "tag_cache_ttl": 0,
            "crm_timeout": 2,
        }
    )
    ghl = httpx.WSGITransport(app=create_sandbox_ghl_app(rate_limit=10_000))
    built = create_app(settings, services=Services(settings, ghl_transport=ghl))
    yield built
    built.extensions["socialbridge"].dispose()
    built.extensions["task_publisher"].close()
    built.extensions["celery"].close()


@pytest.fixture
def connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="acme",
        location_id=DEFAULT_LOCATION,
        ghl_token=DEFAULT_TOKEN,
        crm_url=FAR_CRM,
    )


def _api(client: FlaskClient, store: Store, email: str, role: UserRole) -> Api:
    user = store.add_user(email, PASSWORD, role)
    _, token = store.create_api_token(user.id)
    return Api(client, token)


@pytest.fixture
def admin(client: FlaskClient, store: Store) -> Api:
    return _api(client, store, ADMIN_EMAIL, UserRole.ADMIN)


@pytest.fixture
def viewer(client: FlaskClient, store: Store) -> Api:
    return _api(client, store, VIEWER_EMAIL, UserRole.VIEWER)


def record(store: Store, connection: ConnectionRecord, status: str = "dead") -> EventRecord:
    payload = {"type": "post.published", "data": {"post_id": "crm-1"}}
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload=payload
    )
    if status == "dead":
        event = store.mark_dead(event.id, "ghl: refused for good", "permanent")
    return event


def secrets_of(found: ConnectionRecord) -> list[str]:
    values = [
        found.ghl_token,
        *found.webhook_secrets,
        *found.inbound_tokens,
        *(str(value) for key, value in found.crm_settings.items() if key == "secret"),
    ]
    return [value for value in values if value]


# --- replays --------------------------------------------------------------------------------


def test_replay_queues_a_dead_event_again(
    admin: Api, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    dead = record(store, connection)

    found = admin.call("POST", f"/api/events/{dead.id}/replay", status=200)

    assert found["event_id"] == dead.id
    assert found["type"] == "post.published"
    assert (found["was"], found["status"]) == ("dead", "queued")
    assert found["task_id"]
    after = store.get_event(dead.id)
    assert after is not None
    assert after.status == "queued"
    assert queue_length(redis_url) == 1


def test_replay_of_an_event_under_way_is_409_and_of_none_404(
    admin: Api, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    queued = record(store, connection, "queued")

    busy = admin.call("POST", f"/api/events/{queued.id}/replay", status=409)
    missing = admin.call("POST", "/api/events/evt_nope/replay", status=404)
    odd = admin.call("POST", f"/api/events/{queued.id}/replay", {"force": True}, status=400)

    assert busy["error"] == "not_finished"
    assert busy["event_status"] == "queued"
    assert busy["message"] == f"{queued.id}: still queued, left alone"
    assert missing == {"error": "not_found", "message": "No event evt_nope.", "_status": 404}
    assert odd["errors"] == {"force": ["Unknown field."]}
    assert queue_length(redis_url) == 0


def test_replay_dead_queues_every_dead_event_of_the_connection(
    admin: Api, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    dead = {record(store, connection).id for _ in range(2)}
    record(store, connection, "queued")

    found = admin.call("POST", f"/api/connections/{connection.id}/replay-dead", status=200)

    assert found["connection_id"] == connection.id
    assert {item["event_id"] for item in found["replayed"]} == dead
    assert queue_length(redis_url) == 2
    assert admin.call("POST", "/api/connections/con_nope/replay-dead", status=404)["message"] == (
        "No connection con_nope."
    )


def retrying(store: Store, connection: ConnectionRecord) -> EventRecord:
    """An event whose first attempt failed, its next due in an hour."""
    event = record(store, connection, "queued")
    store.start_attempt(event.id, "task-1", lease_seconds=20)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return store.mark_retrying(event.id, "ghl: 503", due)


def test_retry_now_sends_a_retrying_event_at_once(
    admin: Api, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    event = retrying(store, connection)

    found = admin.call("POST", f"/api/events/{event.id}/retry-now", status=200)

    assert found["event_id"] == event.id
    assert found["type"] == "post.published"
    assert (found["was"], found["status"]) == ("retrying", "queued")
    assert found["task_id"]
    after = store.get_event(event.id)
    assert after is not None
    assert (after.status, after.attempts, after.next_attempt_at) == ("queued", 1, None)
    assert queue_length(redis_url) == 1


def test_retry_now_of_an_event_not_retrying_is_409_and_of_none_404(
    admin: Api, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    dead = record(store, connection)

    refused = admin.call("POST", f"/api/events/{dead.id}/retry-now", status=409)
    missing = admin.call("POST", "/api/events/evt_nope/retry-now", status=404)

    assert refused["error"] == "not_retrying"
    assert refused["event_status"] == "dead"
    assert refused["message"] == f"{dead.id}: dead, not waiting for a retry; left alone"
    assert missing == {"error": "not_found", "message": "No event evt_nope.", "_status": 404}
    assert queue_length(redis_url) == 0


def test_retry_now_of_a_connection_sends_its_retrying_events(
    admin: Api, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    mine = {retrying(store, connection).id for _ in range(2)}
    dead = record(store, connection)

    found = admin.call("POST", f"/api/connections/{connection.id}/retry-now", status=200)

    assert found["connection_id"] == connection.id
    assert {item["event_id"] for item in found["sent"]} == mine
    assert {(item["was"], item["status"]) for item in found["sent"]} == {("retrying", "queued")}
    assert queue_length(redis_url) == 2
    left = store.get_event(dead.id)
    assert left is not None
    assert left.status == "dead"
    again = admin.call("POST", f"/api/connections/{connection.id}/retry-now", status=200)
    assert again["sent"] == []
    assert admin.call("POST", "/api/connections/con_nope/retry-now", status=404)["message"] == (
        "No connection con_nope."
    )


# --- connections ----------------------------------------------------------------------------


def test_create_stores_a_connection_and_reveals_its_new_webhook_secret_once(
    admin: Api, store: Store
) -> None:
    found = admin.call(
        "POST",
        "/api/connections",
        {
            "name": "new one",
            "location_id": DEFAULT_LOCATION,
            "ghl_token": DEFAULT_TOKEN,
            "crm_url": FAR_CRM,
            "mapping": VALID,
            "stats_interval_seconds": 7200,
        },
        status=201,
    )

    created = store.get_connection(found["connection"]["id"])
    assert created is not None
    assert created.name == "new one"
    assert created.crm_kind == "webhook"
    assert created.stats_interval_seconds == 7200
    assert found["connection"]["has_mapping"] is True
    assert found["revealed"] == {"what": "webhook secret", "value": created.webhook_secrets[0]}
    (version,) = store.list_mapping_versions(created.id)
    assert version.author == ADMIN_EMAIL
    # The GHL token and the generated outbound signing secret never come back.
    text = admin.answers[-1]
    assert DEFAULT_TOKEN not in text
    assert str(created.crm_settings["secret"]) not in text
    assert found["connection"]["crm_settings"] == {"secret": "(set, write-only)"}
    assert admin.call("GET", f"/api/connections/{created.id}", status=200)["name"] == "new one"
    assert created.webhook_secrets[0] not in admin.answers[-1]


def test_create_of_a_token_connection_reveals_its_inbound_token(admin: Api, store: Store) -> None:
    found = admin.call(
        "POST",
        "/api/connections",
        {
            "name": "tokened",
            "location_id": "loc_t",
            "ghl_token": "pit-t",
            "crm_url": FAR_CRM,
            "inbound_auth": "token",
        },
        status=201,
    )

    created = store.get_connection(found["connection"]["id"])
    assert created is not None
    assert found["revealed"] == {"what": "inbound token", "value": created.inbound_token}


def test_create_refuses_what_it_cannot_store_with_errors_by_field(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    missing = admin.call("POST", "/api/connections", {"crm_url": FAR_CRM}, status=400)
    typo = admin.call("POST", "/api/connections", {"name": "x", "crm_ulr": FAR_CRM}, status=400)
    incomplete = admin.call("POST", "/api/connections", {"name": "x", "crm_url": FAR_CRM})
    taken = admin.call(
        "POST",
        "/api/connections",
        {"name": "acme", "location_id": "l", "ghl_token": "t", "crm_url": FAR_CRM},
        status=400,
    )
    not_json = admin.client.post(
        "/api/connections",
        data="{",
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    a_list = admin.call("POST", "/api/connections", ["name"], status=400)

    assert missing["error"] == "invalid_body"
    assert missing["errors"] == {"name": ["Missing data for required field."]}
    assert typo["errors"] == {"crm_ulr": ["Unknown field."]}
    assert incomplete["_status"] == 400
    assert incomplete["error"] == "refused"
    assert set(incomplete["errors"]) == {"location_id", "ghl_token"}
    assert taken["errors"] == {"name": ["a connection named 'acme' exists already"]}
    assert not_json.status_code == 400
    assert not_json.get_json()["error"] == "invalid_body"
    assert a_list["errors"] == {"_body": ["Expected a JSON object."]}
    assert [c.name for c in store.list_connections()] == ["acme"]


def test_update_changes_only_what_is_given_and_keeps_secrets(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    found = admin.call(
        "PATCH",
        f"/api/connections/{connection.id}",
        {"name": "acme two", "stats_interval_seconds": 600, "ghl_token": "pit-new-token"},
        status=200,
    )

    after = store.get_connection(connection.id)
    assert after is not None
    assert (after.name, after.stats_interval_seconds) == ("acme two", 600)
    assert after.ghl_token == "pit-new-token"
    assert after.crm_url == connection.crm_url
    assert after.crm_settings == connection.crm_settings  # the signing secret kept
    assert found["connection"]["name"] == "acme two"
    assert "pit-new-token" not in admin.answers[-1]


def test_update_replaces_a_setting_given_and_refuses_a_bad_one(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    new_secret = "whsec_" + "QUJD" * 8
    admin.call(
        "PATCH",
        f"/api/connections/{connection.id}",
        {"crm_settings": {"secret": new_secret}},
        status=200,
    )
    bad = admin.call(
        "PATCH",
        f"/api/connections/{connection.id}",
        {"crm_settings": {"colour": "blue"}},
        status=400,
    )
    wrong_type = admin.call(
        "PATCH", f"/api/connections/{connection.id}", {"stats_interval_seconds": "10"}, status=400
    )
    missing = admin.call("PATCH", "/api/connections/con_nope", {"name": "x"}, status=404)

    after = store.get_connection(connection.id)
    assert after is not None
    assert after.crm_settings == {"secret": new_secret}
    assert new_secret not in admin.answers[0]
    assert bad["error"] == "refused"
    assert list(bad["errors"]) == ["crm_settings.colour"]
    assert list(wrong_type["errors"]) == ["stats_interval_seconds"]
    assert missing["error"] == "not_found"


def test_check_reports_both_sides(admin: Api, connection: ConnectionRecord) -> None:
    found = admin.call("POST", f"/api/connections/{connection.id}/check", status=200)

    assert found["ghl"]
    assert {line["outcome"] for line in found["ghl"]} <= {"ok", "failed", "skipped", "info"}
    assert [line for line in found["ghl"] if line["outcome"] == "failed"] == []
    assert found["crm"]["ok"] is False  # nothing listens there
    assert found["crm"]["detail"]
    assert found["ok"] is False
    assert found["failures"] == 1
    assert admin.call("POST", "/api/connections/con_nope/check", status=404)


def test_rotate_reveals_the_new_secret_and_retire_keeps_only_it(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    rotated = admin.call("POST", f"/api/connections/{connection.id}/rotate-secret", status=200)
    after = store.get_connection(connection.id)
    assert after is not None
    assert rotated == {
        "connection_id": connection.id,
        "what": "webhook secret",
        "active": 2,
        "revealed": {"what": "webhook secret", "value": after.webhook_secrets[0]},
        "_status": 200,
    }
    assert connection.webhook_secrets[0] not in admin.answers[-1]

    retired = admin.call(
        "POST", f"/api/connections/{connection.id}/rotate-secret", {"retire": True}, status=200
    )
    final = store.get_connection(connection.id)
    assert final is not None
    assert final.webhook_secrets == (after.webhook_secrets[0],)
    assert retired["active"] == 1
    assert "revealed" not in retired
    assert final.webhook_secrets[0] not in admin.answers[-1]


def test_disconnect_then_activate(
    admin: Api, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    store.park_connection(connection.id, "GHL refused the token")

    activated = admin.call("POST", f"/api/connections/{connection.id}/activate", status=200)
    again = admin.call("POST", f"/api/connections/{connection.id}/activate", status=200)
    disconnected = admin.call(
        "POST", f"/api/connections/{connection.id}/disconnect", {"reason": "moving"}, status=200
    )
    twice = admin.call("POST", f"/api/connections/{connection.id}/disconnect", status=200)
    refused = admin.call("POST", f"/api/connections/{connection.id}/activate", status=409)

    assert activated["activated"] is True
    assert activated["was"] == "parked"
    assert activated["reason"] == "GHL refused the token"
    assert activated["connection"]["state"] == "active"
    assert again["activated"] is False
    assert disconnected["disconnected"] is True
    assert disconnected["connection"]["state"] == "disconnected"
    assert disconnected["connection"]["reason"] == "moving"
    assert twice["disconnected"] is False
    assert refused["error"] == "refused"
    assert list(refused["errors"]) == ["ghl_token"]


def test_delete_removes_the_connection(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    found = admin.call("DELETE", f"/api/connections/{connection.id}", status=200)

    assert found["deleted"] == {"id": connection.id, "name": "acme"}
    assert store.get_connection(connection.id) is None
    admin.call("DELETE", f"/api/connections/{connection.id}", status=404)


# --- mappings -------------------------------------------------------------------------------


def test_a_mapping_is_saved_as_a_version_and_read_back_with_its_history(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    base = f"/api/connections/{connection.id}/mapping"
    empty = admin.call("GET", base, status=200)

    saved = admin.call("PUT", base, {"text": VALID}, status=201)
    current = admin.call("GET", base, status=200)
    one = admin.call("GET", f"{base}/versions/1", status=200)

    assert empty["text"] is None
    assert empty["valid"] is None
    assert empty["versions"] == []
    assert saved["number"] == 1
    assert saved["author"] == ADMIN_EMAIL
    assert current["text"] == VALID
    assert current["valid"] is True
    assert current["problems"] == []
    assert current["summary"]
    assert [(v["number"], v["current"]) for v in current["versions"]] == [(1, True)]
    assert one["text"] == VALID
    assert admin.call("GET", f"{base}/versions/9", status=404)["error"] == "not_found"
    assert admin.call("GET", "/api/connections/con_nope/mapping", status=404)


def test_an_invalid_mapping_is_refused_with_its_problems_at_their_line(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    base = f"/api/connections/{connection.id}/mapping"

    refused = admin.call("PUT", base, {"text": INVALID}, status=400)
    checked = admin.call("POST", f"{base}/check", {"text": INVALID}, status=200)
    valid = admin.call("POST", f"{base}/check", {"text": VALID}, status=200)
    no_text = admin.call("PUT", base, {}, status=400)

    assert refused["error"] == "invalid_mapping"
    assert [problem["line"] for problem in refused["problems"]] == [6]
    assert checked["valid"] is False
    assert checked["problems"] == refused["problems"]
    assert valid["valid"] is True
    assert no_text["errors"] == {"text": ["Missing data for required field."]}
    assert store.list_mapping_versions(connection.id) == []


def test_preview_shows_what_a_body_would_become_and_stores_nothing(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    base = f"/api/connections/{connection.id}/mapping/preview"

    found = admin.call("POST", base, {"text": VALID, "body": BODY}, status=200)
    invalid = admin.call("POST", base, {"text": INVALID, "body": BODY}, status=400)
    no_body = admin.call("POST", base, {"text": VALID}, status=400)

    assert found["ok"] is True
    assert found["event"]["data"]["post_id"] == "crm-1"
    (write,) = found["writes"]
    assert write["type"] == "post.tags_synced"
    assert write["requests"][0]["url"] == FAR_CRM
    assert invalid["error"] == "invalid_mapping"
    assert [problem["line"] for problem in invalid["problems"]] == [6]
    assert list(no_body["errors"]) == ["body"]
    assert store.list_events() == []
    after = store.get_connection(connection.id)
    assert after is not None
    assert after.mapping is None
    for secret in secrets_of(connection):
        assert secret not in admin.answers[0]


def test_roll_back_makes_an_old_version_current_as_a_new_one(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    other = VALID.replace("$.post.ghl_id", "$.post.ghl")
    store.save_mapping(connection.id, VALID)
    store.save_mapping(connection.id, other)
    base = f"/api/connections/{connection.id}/mapping"

    restored = admin.call("POST", f"{base}/versions/1/rollback", status=201)
    missing = admin.call("POST", f"{base}/versions/7/rollback", status=404)

    assert restored["number"] == 3
    assert restored["restored_from"] == 1
    assert restored["author"] == ADMIN_EMAIL
    after = store.get_connection(connection.id)
    assert after is not None
    assert after.mapping == VALID
    assert missing["message"] == "connection acme has no mapping version 7"


# --- roles and secrets ----------------------------------------------------------------------


def test_a_viewer_is_refused_every_write_and_nothing_changes(
    viewer: Api, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    dead = record(store, connection)
    waiting = retrying(store, connection)
    store.save_mapping(connection.id, VALID)
    cid = connection.id
    writes = [
        ("POST", f"/api/events/{dead.id}/replay", None),
        ("POST", f"/api/connections/{cid}/replay-dead", None),
        ("POST", f"/api/events/{waiting.id}/retry-now", None),
        ("POST", f"/api/connections/{cid}/retry-now", None),
        ("POST", "/api/connections", {"name": "x", "crm_url": FAR_CRM}),
        ("PATCH", f"/api/connections/{cid}", {"name": "renamed"}),
        ("POST", f"/api/connections/{cid}/check", None),
        ("POST", f"/api/connections/{cid}/rotate-secret", None),
        ("POST", f"/api/connections/{cid}/activate", None),
        ("POST", f"/api/connections/{cid}/disconnect", None),
        ("DELETE", f"/api/connections/{cid}", None),
        ("PUT", f"/api/connections/{cid}/mapping", {"text": VALID.replace("ghl_id", "g")}),
        ("POST", f"/api/connections/{cid}/mapping/versions/1/rollback", None),
    ]

    for method, path, body in writes:
        found = viewer.call(method, path, body, status=403)
        assert found["error"] == "forbidden", path
        assert found["message"].startswith("Only an admin may change this"), path

    after = store.get_connection(cid)
    assert after is not None
    assert (after.name, after.webhook_secrets, after.status, after.has_ghl_token) == (
        connection.name,
        connection.webhook_secrets,
        connection.status,
        True,
    )
    assert len(store.list_connections()) == 1
    assert len(store.list_mapping_versions(cid)) == 1
    event = store.get_event(dead.id)
    assert event is not None
    assert event.status == "dead"
    assert store.get_event(waiting.id) == waiting
    assert queue_length(redis_url) == 0


def test_a_viewer_reads_checks_and_previews_mappings(
    viewer: Api, store: Store, connection: ConnectionRecord
) -> None:
    base = f"/api/connections/{connection.id}/mapping"

    viewer.call("GET", base, status=200)
    assert viewer.call("POST", f"{base}/check", {"text": VALID}, status=200)["valid"] is True
    viewer.call("POST", f"{base}/preview", {"text": VALID, "body": BODY}, status=200)


def test_no_answer_holds_a_stored_secret(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    tokened = store.create_connection(
        name="tokened",
        location_id=DEFAULT_LOCATION,
        ghl_token=DEFAULT_TOKEN,
        crm_url=FAR_CRM,
        inbound_auth="token",
    )
    for found in (connection, tokened):
        cid = found.id
        admin.call("GET", f"/api/connections/{cid}", status=200)
        admin.call("PATCH", f"/api/connections/{cid}", {"stats_interval_seconds": 900}, 200)
        admin.call("POST", f"/api/connections/{cid}/check", status=200)
        admin.call("PUT", f"/api/connections/{cid}/mapping", {"text": VALID}, status=201)
        admin.call("GET", f"/api/connections/{cid}/mapping", status=200)
        admin.call("POST", f"/api/connections/{cid}/mapping/preview", {"body": BODY}, 200)
        admin.call("POST", f"/api/connections/{cid}/disconnect", status=200)
        admin.call("GET", "/api/connections", status=200)
        admin.call("GET", "/api/overview", status=200)

    assert len(admin.answers) == 18
    for text in admin.answers:
        for found in (connection, tokened):
            for secret in secrets_of(found):
                assert secret not in text
        assert admin.token not in text


def test_every_endpoint_refuses_a_bad_body_with_400_and_an_unknown_id_with_404(
    admin: Api, store: Store, connection: ConnectionRecord
) -> None:
    dead = record(store, connection)
    store.save_mapping(connection.id, VALID)
    # Each endpoint, with a body it accepts: an unknown field added to it must be refused.
    endpoints: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/events/{event}/replay", {}),
        ("POST", "/api/connections/{cid}/replay-dead", {}),
        ("POST", "/api/events/{event}/retry-now", {}),
        ("POST", "/api/connections/{cid}/retry-now", {}),
        ("PATCH", "/api/connections/{cid}", {"name": "acme"}),
        ("POST", "/api/connections/{cid}/check", {"post_id": None}),
        ("POST", "/api/connections/{cid}/rotate-secret", {"retire": False}),
        ("POST", "/api/connections/{cid}/activate", {}),
        ("POST", "/api/connections/{cid}/disconnect", {"reason": "r"}),
        ("DELETE", "/api/connections/{cid}", {}),
        ("PUT", "/api/connections/{cid}/mapping", {"text": VALID}),
        ("POST", "/api/connections/{cid}/mapping/check", {"text": VALID}),
        ("POST", "/api/connections/{cid}/mapping/preview", {"body": BODY}),
        ("POST", "/api/connections/{cid}/mapping/versions/1/rollback", {}),
    ]

    for method, template, body in endpoints:
        path = template.format(event=dead.id, cid=connection.id)
        bad = admin.call(method, path, {**body, "extra": 1}, status=400)
        assert bad["error"] == "invalid_body", path
        assert bad["errors"] == {"extra": ["Unknown field."]}, path
        unknown = template.format(event="evt_nope", cid="con_nope")
        missing = admin.call(method, unknown, body, status=404)
        assert missing["error"] == "not_found", unknown

    # Nothing was changed by any of them.
    after = store.get_connection(connection.id)
    assert after is not None
    assert after.webhook_secrets == connection.webhook_secrets
    assert len(store.list_mapping_versions(connection.id)) == 1
    event = store.get_event(dead.id)
    assert event is not None
    assert event.status == "dead"


def test_the_analytics_api_takes_a_token_too(viewer: Api, connection: ConnectionRecord) -> None:
    found = viewer.call("GET", f"/api/connections/{connection.id}/tags/top", status=200)

    assert found["tags"] == []
