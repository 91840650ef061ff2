"""`POST /webhooks/crm/<connection_id>`: the receiver's public contract, answer by answer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from standardwebhooks import Webhook

from schemas.events import dump_event, load_event
from socialbridge.embedded_redis import free_port
from store import ConnectionRecord, Store
from tests.brokerutil import queue_length, queued_tasks
from tests.unit.webapp.conftest import AppFactory, event_body, new_secret, send

NO_MATCH = "No signature matches this connection's webhook secrets."


def nothing_accepted(store: Store, redis_url: str) -> bool:
    return store.list_events() == [] and queue_length(redis_url) == 0


# --- 202 and 200 ----------------------------------------------------------------------------


def test_a_signed_event_is_recorded_queued_and_answered_202(
    client: FlaskClient, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    body = event_body("post.published", {"post_id": "crm-1", "ghl_post_id": "post_demo_1"})

    answer = send(client, connection, body=body, webhook_id="msg_1")

    assert answer.status_code == 202
    event_id = answer.get_json()["event_id"]
    assert answer.get_json() == {"event_id": event_id, "status": "queued"}
    event = store.get_event(event_id)
    assert event is not None
    assert event.status == "queued"
    assert event.source == "webhook"
    assert event.webhook_id == "msg_1"
    assert event.connection_id == connection.id
    assert event.type == "post.published"
    assert event.payload == dump_event(load_event(json.loads(body)))
    [task] = queued_tasks(redis_url)
    assert task.name == "flows.sync_post_tags"
    assert task.id.startswith(f"{event_id}-")
    assert task.args == [event_id, event.payload]


@pytest.mark.parametrize(
    ("event_type", "data", "task_name"),
    [
        ("tag.details_requested", {"post_id": "p", "tag_ids": ["t1"]}, "flows.attach_tag_details"),
        ("statistics.requested", {}, "flows.sync_statistics"),
    ],
)
def test_each_type_is_queued_for_its_task(
    client: FlaskClient,
    connection: ConnectionRecord,
    redis_url: str,
    event_type: str,
    data: dict[str, Any],
    task_name: str,
) -> None:
    answer = send(client, connection, event_type, data)

    assert answer.status_code == 202
    assert [task.name for task in queued_tasks(redis_url)] == [task_name]


def test_the_same_webhook_id_again_is_a_duplicate_and_runs_nothing(
    client: FlaskClient, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    first = send(client, connection, webhook_id="msg_dup")
    again = send(client, connection, webhook_id="msg_dup")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json() == {"event_id": first.get_json()["event_id"], "status": "duplicate"}
    assert len(store.list_events()) == 1
    assert queue_length(redis_url) == 1


def test_a_webhook_id_is_only_a_duplicate_within_its_connection(
    client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    other = store.create_connection(
        name="other", location_id="loc_other", ghl_token="t", crm_url="http://crm.example/o"
    )

    first = send(client, connection, webhook_id="msg_shared")
    second = send(client, other, webhook_id="msg_shared")

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.get_json()["event_id"] != second.get_json()["event_id"]


# --- 401 ------------------------------------------------------------------------------------


def test_a_wrong_secret_is_401_and_nothing_is_accepted(
    client: FlaskClient, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    answer = send(client, connection, secret=new_secret())

    assert answer.status_code == 401
    assert answer.get_json() == {"error": "invalid_signature", "message": NO_MATCH}
    assert nothing_accepted(store, redis_url)


def test_a_body_changed_after_signing_is_401(
    client: FlaskClient, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    signed = event_body("post.published", {"post_id": "crm-1"})
    when = dt.datetime.now(dt.UTC)
    signature = Webhook(connection.webhook_secrets[0]).sign("msg_t", when, signed.decode())

    tampered = send(
        client,
        connection,
        body=signed.replace(b"crm-1", b"crm-2"),
        timestamp=when,
        webhook_id="msg_t",
        headers={"webhook-signature": signature},
    )

    assert tampered.status_code == 401
    assert tampered.get_json()["message"] == NO_MATCH
    assert nothing_accepted(store, redis_url)


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        (dt.timedelta(minutes=-6), "Message timestamp too old (allowed: ±5 minutes)."),
        (dt.timedelta(minutes=6), "Message timestamp too new (allowed: ±5 minutes)."),
    ],
)
def test_a_signature_outside_five_minutes_is_401(
    client: FlaskClient,
    connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    shift: dt.timedelta,
    message: str,
) -> None:
    answer = send(client, connection, timestamp=dt.datetime.now(dt.UTC) + shift)

    assert answer.status_code == 401
    assert answer.get_json() == {"error": "invalid_signature", "message": message}
    assert nothing_accepted(store, redis_url)


def test_a_signature_four_minutes_old_is_accepted(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)

    assert send(client, connection, timestamp=old).status_code == 202


@pytest.mark.parametrize(
    ("left_out", "message"),
    [
        (
            ("webhook-id", "webhook-timestamp", "webhook-signature"),
            "Missing header(s): webhook-id, webhook-timestamp, webhook-signature.",
        ),
        (("webhook-signature",), "Missing header(s): webhook-signature."),
        (("webhook-id", "webhook-timestamp"), "Missing header(s): webhook-id, webhook-timestamp."),
    ],
)
def test_missing_signature_headers_are_named(
    client: FlaskClient,
    connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    left_out: tuple[str, ...],
    message: str,
) -> None:
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(dt.datetime.now(dt.UTC).timestamp())),
        "webhook-signature": "v1,AAAA",
    }
    for name in left_out:
        del headers[name]

    answer = client.post(
        f"/webhooks/crm/{connection.id}",
        data=event_body("post.published", {"post_id": "p"}),
        headers={"content-type": "application/json", **headers},
    )

    assert answer.status_code == 401
    assert answer.get_json() == {"error": "invalid_signature", "message": message}
    assert nothing_accepted(store, redis_url)


def test_a_malformed_signature_header_is_401(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    answer = send(client, connection, headers={"webhook-signature": "not-a-signature"})

    assert answer.status_code == 401
    assert answer.get_json()["message"] == "Malformed webhook-signature or body encoding."


def test_a_timestamp_that_is_not_whole_seconds_is_named(
    client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    answer = send(client, connection, headers={"webhook-timestamp": "2026-11-23T10:00:00Z"})

    assert answer.status_code == 401
    assert answer.get_json()["message"] == (
        "webhook-timestamp must be whole seconds since the Unix epoch."
    )
    assert store.list_events(connection_id=connection.id) == []


def test_a_webhook_id_longer_than_the_log_keeps_is_refused(
    client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    answer = send(client, connection, webhook_id="m" * 256)

    assert answer.status_code == 401
    assert answer.get_json()["message"] == "webhook-id is longer than 255 characters."
    assert send(client, connection, webhook_id="m" * 255).status_code == 202


def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new_one(
    client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    old = connection.webhook_secrets[0]
    new = store.add_webhook_secret(connection.id)

    assert send(client, connection, secret=new).status_code == 202
    assert send(client, connection, secret=old).status_code == 202

    store.retire_webhook_secrets(connection.id, keep=1)

    assert send(client, connection, secret=new).status_code == 202
    retired = send(client, connection, secret=old)
    assert retired.status_code == 401
    assert retired.get_json()["message"] == NO_MATCH


def test_several_signatures_in_one_header_are_allowed(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    body = event_body("statistics.requested", {})
    when = dt.datetime.now(dt.UTC)
    good = Webhook(connection.webhook_secrets[0]).sign("msg_multi", when, body.decode())
    stranger = Webhook(new_secret()).sign("msg_multi", when, body.decode())

    answer = send(
        client,
        connection,
        body=body,
        webhook_id="msg_multi",
        timestamp=when,
        headers={"webhook-signature": f"{stranger} {good}"},
    )

    assert answer.status_code == 202


# --- 404, 405, 413 --------------------------------------------------------------------------


def test_an_unknown_connection_is_404(client: FlaskClient) -> None:
    answer = client.post("/webhooks/crm/con_missing", data=b"{}")

    assert answer.status_code == 404
    assert answer.get_json() == {"error": "not_found", "message": "No connection 'con_missing'."}


def test_only_post_is_allowed(client: FlaskClient, connection: ConnectionRecord) -> None:
    answer = client.get(f"/webhooks/crm/{connection.id}")

    assert answer.status_code == 405
    assert answer.get_json()["error"] == "method_not_allowed"


def test_a_body_over_the_limit_is_413_and_nothing_is_accepted(
    make_app: AppFactory, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    small = make_app(webhook_max_bytes=2048).test_client()
    big = event_body("post.published", {"post_id": "p", "title": "x" * 400})
    bigger = event_body("post.published", {"post_id": "p", "title": "x" * 3000})

    assert send(small, connection, body=big).status_code == 202
    answer = send(small, connection, body=bigger)

    assert answer.status_code == 413
    assert answer.get_json() == {
        "error": "request_entity_too_large",
        "message": "Body is larger than the limit of 2048 bytes.",
    }
    assert len(store.list_events()) == 1
    assert queue_length(redis_url) == 1


# --- 422 ------------------------------------------------------------------------------------

PLATFORMS = "facebook, instagram, linkedin, google, pinterest, youtube, tiktok"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param(
            {"type": "post.published", "data": {}},
            {
                "timestamp": ["Missing data for required field."],
            },
            id="no-timestamp",
        ),
        pytest.param(
            {"type": "post.published", "timestamp": "now", "data": {"post_id": "p"}},
            {"timestamp": ["Not a valid datetime."]},
            id="bad-timestamp",
        ),
        pytest.param(
            {"type": "post.deleted", "timestamp": "2026-01-01T00:00:00Z", "data": {}},
            {
                "type": [
                    "Unknown event type; expected one of: post.published, "
                    "tag.details_requested, statistics.requested."
                ]
            },
            id="unknown-type",
        ),
        pytest.param(
            {"type": "post.published", "timestamp": "2026-01-01T00:00:00Z", "data": {}},
            {"data.post_id": ["Missing data for required field."]},
            id="no-post-id",
        ),
        pytest.param(
            {
                "type": "post.published",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"post_id": "p", "colour": "red"},
            },
            {"data.colour": ["Unknown field."]},
            id="unknown-field",
        ),
        pytest.param(
            {
                "type": "tag.details_requested",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"post_id": "p", "tag_ids": []},
            },
            {"data.tag_ids": ["Give between 1 and 500 tag ids."]},
            id="no-tag-ids",
        ),
        pytest.param(
            {
                "type": "statistics.requested",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"start_date": "2026-02-01", "end_date": "2026-01-01"},
            },
            {"data.end_date": ["end_date must not be before start_date."]},
            id="range-backwards",
        ),
        pytest.param(
            {
                "type": "statistics.requested",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"platforms": ["myspace"]},
            },
            {"data.platforms.0": [f"Must be one of: {PLATFORMS}."]},
            id="unknown-platform",
        ),
        pytest.param(
            {
                "type": "post.published",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"post_id": "p", "location_id": "loc_x"},
            },
            {"data.location_id": ["This connection serves location 'loc_demo', not 'loc_x'."]},
            id="foreign-location",
        ),
        pytest.param(
            {
                "type": "tag.details_requested",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"post_id": "p", "tag_ids": ["t"], "location_id": "loc_x"},
            },
            {"data.location_id": ["This connection serves location 'loc_demo', not 'loc_x'."]},
            id="foreign-location-details",
        ),
        pytest.param(["not", "an", "object"], {"_body": ["Expected a JSON object."]}, id="list"),
    ],
)
def test_an_invalid_body_is_422_with_field_errors(
    client: FlaskClient,
    connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    body: Any,
    errors: dict[str, list[str]],
) -> None:
    answer = send(client, connection, body=json.dumps(body).encode())

    assert answer.status_code == 422
    assert answer.get_json() == {"errors": errors}
    assert nothing_accepted(store, redis_url)


def test_a_body_that_is_not_json_is_422(
    client: FlaskClient, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    answer = send(client, connection, body=b"{not json")

    assert answer.status_code == 422
    [message] = answer.get_json()["errors"]["_body"]
    assert message.startswith("Body is not valid JSON: ")
    assert nothing_accepted(store, redis_url)


def test_a_refused_body_does_not_use_up_its_webhook_id(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    wrong = event_body("post.published", {})
    right = event_body("post.published", {"post_id": "p"})

    assert send(client, connection, body=wrong, webhook_id="msg_fix").status_code == 422
    assert send(client, connection, body=right, webhook_id="msg_fix").status_code == 202


# --- 503 ------------------------------------------------------------------------------------


def test_when_redis_is_unreachable_the_answer_is_503_and_nothing_is_kept(
    make_app: AppFactory, client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    down = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()

    answer = send(down, connection, webhook_id="msg_outage")

    assert answer.status_code == 503
    assert answer.get_json() == {
        "error": "unavailable",
        "message": "The queue is unavailable; retry later.",
    }
    assert store.list_events() == []
    # The CRM's retry once the queue is back is a first delivery, not a duplicate.
    retried = send(client, connection, webhook_id="msg_outage")
    assert retried.status_code == 202


def test_when_the_store_has_no_schema_the_answer_is_503(
    make_app: AppFactory, tmp_path: Any
) -> None:
    empty = make_app(database_url=f"sqlite:///{tmp_path / 'empty.db'}").test_client()

    answer = empty.post("/webhooks/crm/con_1", data=b"{}")

    assert answer.status_code == 503
    assert answer.get_json() == {
        "error": "unavailable",
        "message": "The event store is unavailable; retry later.",
    }
