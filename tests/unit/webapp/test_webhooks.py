"""`POST /webhooks/crm/<connection_id>`: the receiver's public contract, answer by answer."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from standardwebhooks import Webhook

from schemas.events import dump_event, load_event
from socialbridge.embedded_redis import free_port
from store import ConnectionRecord, Store
from store.connection_cache import CONNECTION_CACHE_SECONDS, ConnectionCache
from tests.brokerutil import queue_length, queued_tasks
from tests.unit.webapp.conftest import (
    SECRET_KEY,
    AppFactory,
    event_body,
    new_secret,
    send,
    send_chunked,
    signed_headers,
)

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


def test_a_secret_rotated_by_another_process_verifies_once_the_cache_lets_go(
    client: FlaskClient, connection: ConnectionRecord, store: Store, database_url: str
) -> None:
    # The CLI is another process: its change reaches this one's cached connection only
    # after CONNECTION_CACHE_SECONDS (store/connection_cache.py); the clock is moved by hand.
    clock = [0.0]
    store.__dict__["_connection_cache"] = ConnectionCache(clock=lambda: clock[0])
    assert send(client, connection).status_code == 202
    cli = Store(database_url, SECRET_KEY)
    try:
        new = cli.add_webhook_secret(connection.id)
    finally:
        cli.dispose()

    before = send(client, connection, secret=new)
    clock[0] += CONNECTION_CACHE_SECONDS
    after = send(client, connection, secret=new)

    assert before.status_code == 401
    assert after.status_code == 202


def test_a_connection_removed_by_another_process_is_404_while_still_cached(
    client: FlaskClient,
    connection: ConnectionRecord,
    store: Store,
    database_url: str,
    redis_url: str,
) -> None:
    assert send(client, connection).status_code == 202
    cli = Store(database_url, SECRET_KEY)
    try:
        assert cli.delete_connection(connection.id)
    finally:
        cli.dispose()
    drained = queue_length(redis_url)

    answer = send(client, connection)

    assert answer.status_code == 404
    assert answer.get_json()["message"] == f"No connection '{connection.id}'."
    assert store.list_events() == []
    assert queue_length(redis_url) == drained
    assert store.cached_connection(connection.id) is None


def test_a_webhook_opens_no_cookie_session(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    client.set_cookie("session", "not-a-signed-session")

    answer = send(client, connection)

    assert answer.status_code == 202
    assert "Set-Cookie" not in answer.headers


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


def test_a_chunked_body_over_the_limit_is_413_not_cut_and_judged(
    make_app: AppFactory, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    small = make_app(webhook_max_bytes=2048).test_client()
    bigger = event_body("post.published", {"post_id": "p", "title": "x" * 3000})

    answer = send_chunked(small, connection, bigger)

    assert answer.status_code == 413
    assert answer.get_json() == {
        "error": "request_entity_too_large",
        "message": "Body is larger than the limit of 2048 bytes.",
    }
    assert nothing_accepted(store, redis_url)


def test_a_chunked_body_under_the_limit_is_accepted(
    make_app: AppFactory, connection: ConnectionRecord, store: Store
) -> None:
    small = make_app(webhook_max_bytes=2048).test_client()
    body = event_body("post.published", {"post_id": "p", "title": "x" * 400})

    answer = send_chunked(small, connection, body)

    assert answer.status_code == 202
    [event] = store.list_events()
    assert event.payload["data"]["title"] == "x" * 400


@pytest.mark.parametrize(("extra", "status"), [(0, 202), (1, 413)])
def test_the_limit_is_inclusive_however_the_body_is_sent(
    make_app: AppFactory, connection: ConnectionRecord, extra: int, status: int
) -> None:
    small = make_app(webhook_max_bytes=2048).test_client()
    # Whitespace after the JSON brings the body to exactly the limit, plus `extra`.
    base = event_body("post.published", {"post_id": "p"})
    body = base + b" " * (2048 + extra - len(base))
    assert len(body) == 2048 + extra

    assert send(small, connection, body=body).status_code == status
    assert send_chunked(small, connection, body).status_code == status


def test_a_body_that_stops_short_of_its_content_length_is_400(
    client: FlaskClient, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    body = event_body("post.published", {"post_id": "p"})

    # Content-Length promises more than arrives: the client went away mid-body.
    answer = client.post(
        f"/webhooks/crm/{connection.id}",
        input_stream=io.BytesIO(body),
        headers=signed_headers(connection, body),
        environ_overrides={"CONTENT_LENGTH": str(len(body) + 10)},
    )

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_request"
    assert nothing_accepted(store, redis_url)


class BrokenChunks(io.BytesIO):
    """A de-chunking stream that meets bad framing, raising as a server's parser does."""

    def read(self, size: int | None = -1) -> bytes:
        raise RuntimeError("Invalid chunk size: 'zz'")

    def readinto(self, buffer: Any) -> int:
        raise RuntimeError("Invalid chunk size: 'zz'")


def test_a_chunked_body_with_broken_framing_is_400(
    client: FlaskClient, connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    answer = client.post(
        f"/webhooks/crm/{connection.id}",
        input_stream=BrokenChunks(),
        headers={**signed_headers(connection, b"{}"), "transfer-encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert answer.status_code == 400
    assert answer.get_json() == {
        "error": "bad_request",
        "message": "The body could not be read: Invalid chunk size: 'zz'",
    }
    assert nothing_accepted(store, redis_url)


# --- 415 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "Content-Type 'text/plain'"),
        ("application/x-www-form-urlencoded", "Content-Type 'application/x-www-form-urlencoded'"),
        ("application/jsonx", "Content-Type 'application/jsonx'"),
        ("text/json", "Content-Type 'text/json'"),
        ("", "no Content-Type"),
    ],
)
def test_a_signed_body_that_is_not_declared_json_is_415(
    client: FlaskClient,
    connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    content_type: str,
    shown: str,
) -> None:
    answer = send(client, connection, headers={"content-type": content_type})

    assert answer.status_code == 415
    assert answer.get_json() == {
        "error": "unsupported_media_type",
        "message": "The body must be JSON, sent as Content-Type application/json "
        f"(or application/*+json); this request has {shown}.",
    }
    assert nothing_accepted(store, redis_url)


def test_without_any_content_type_header_the_answer_is_415(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    body = event_body("post.published", {"post_id": "p"})
    headers = signed_headers(connection, body)
    del headers["content-type"]

    answer = client.post(f"/webhooks/crm/{connection.id}", data=body, headers=headers)

    assert answer.status_code == 415
    assert answer.get_json()["message"].endswith("this request has no Content-Type.")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/cloudevents+json",
        "application/vnd.crm.event+json; version=2",
    ],
)
def test_json_media_types_with_any_parameters_are_accepted(
    client: FlaskClient, connection: ConnectionRecord, content_type: str
) -> None:
    answer = send(client, connection, headers={"content-type": content_type})

    assert answer.status_code == 202


def test_an_unsigned_request_learns_401_whatever_its_content_type(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    answer = send(client, connection, secret=new_secret(), headers={"content-type": "text/plain"})

    assert answer.status_code == 401


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


# --- hostile bodies: always a 422 that says what and where -----------------------------------


def raw_event(data: str, *, event_type: str = "post.published", envelope: str = "") -> bytes:
    """An event body written by hand, so it can hold what json.dumps never writes."""
    head = f'{{"type": "{event_type}", "timestamp": "2026-01-01T00:00:00Z"{envelope}'
    return f'{head}, "data": {data}}}'.encode()


def nested(depth: int) -> bytes:
    """A post.published event whose `data.extra` nests arrays so the body is `depth` deep."""
    inner = "[" * (depth - 2) + "]" * (depth - 2)
    return raw_event(f'{{"post_id": "p", "extra": {inner}}}')


def test_json_32_levels_deep_is_read_and_judged_by_the_schema(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    answer = send(client, connection, body=nested(32))

    assert answer.status_code == 422
    assert answer.get_json() == {"errors": {"data.extra": ["Unknown field."]}}


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_json_nested_deeper_than_32_levels_is_422_naming_the_limit(
    client: FlaskClient, connection: ConnectionRecord, store: Store, redis_url: str, depth: int
) -> None:
    answer = send(client, connection, body=nested(depth))

    assert answer.status_code == 422
    assert answer.get_json() == {"errors": {"_body": ["JSON is nested deeper than 32 levels."]}}
    assert nothing_accepted(store, redis_url)


def test_brackets_inside_strings_do_not_count_as_nesting(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    title = "[{" * 100

    answer = send(client, connection, data={"post_id": "p", "title": title})

    assert answer.status_code == 202


SURROGATE = "Contains U+D800 (a lone surrogate), which is not allowed in text."
NUL = "Contains U+0000 (NUL), which is not allowed in text."


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        pytest.param(
            {"post_id": "p", "title": "a\ud800b"}, {"data.title": [SURROGATE]}, id="title"
        ),
        pytest.param({"post_id": "p\u0000"}, {"data.post_id": [NUL]}, id="nul-id"),
        pytest.param(
            {"post_id": "p", "tag_ids": ["ok", "\udfff"]},
            {"data.tag_ids.1": [SURROGATE.replace("D800", "DFFF")]},
            id="list-item",
        ),
        pytest.param(
            {"post_id": "p", "ti\u0000tle": "t"},
            {
                "data.ti\\u0000tle": [
                    "The field name contains U+0000 (NUL), which is not allowed in text."
                ]
            },
            id="key",
        ),
        pytest.param(
            {"post_id": "p", "extra": {"deeper": ["\ud800"]}},
            {"data.extra.deeper.0": [SURROGATE]},
            id="nested",
        ),
    ],
)
def test_text_with_lone_surrogates_or_nul_is_422_naming_the_field(
    client: FlaskClient,
    connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    data: dict[str, Any],
    errors: dict[str, list[str]],
) -> None:
    # json.dumps escapes NUL and surrogates as \u0000 and \ud800: what a hostile CRM sends.
    event_type = "tag.details_requested" if "tag_ids" in data else "post.published"
    body = event_body(event_type, data)
    assert b"\\u" in body

    answer = send(client, connection, body=body)

    assert answer.status_code == 422
    assert answer.get_json() == {"errors": errors}
    assert nothing_accepted(store, redis_url)


def test_a_lone_surrogate_in_the_event_type_is_422(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    body = raw_event('{"post_id": "p"}', event_type="post.published\\ud800")

    answer = send(client, connection, body=body)

    assert answer.status_code == 422
    assert answer.get_json() == {"errors": {"type": [SURROGATE]}}


def test_a_surrogate_pair_is_one_character_and_accepted(
    client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    body = raw_event('{"post_id": "p", "title": "\\ud83d\\ude00"}')

    answer = send(client, connection, body=body)

    assert answer.status_code == 202
    [event] = store.list_events()
    assert event.payload["data"]["title"] == "\N{GRINNING FACE}"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param(b"[]", {"_body": ["Expected a JSON object."]}, id="list"),
        pytest.param(b"12", {"_body": ["Expected a JSON object."]}, id="number"),
        pytest.param(b'"text"', {"_body": ["Expected a JSON object."]}, id="string"),
        pytest.param(b"null", {"_body": ["Expected a JSON object."]}, id="null"),
        pytest.param(
            b"",
            {"_body": ["Body is not valid JSON: Expecting value: line 1 column 1 (char 0)"]},
            id="empty",
        ),
        pytest.param(
            b"1" * 5000,
            {"_body": ["Body is not valid JSON: a number has 5000 digits; at most 100."]},
            id="huge-int",
        ),
        pytest.param(
            raw_event('{"post_id": 1e999}'),
            {"_body": ["Body is not valid JSON: the number 1e999 is out of range."]},
            id="infinite-float",
        ),
        pytest.param(
            raw_event('{"post_id": NaN}'),
            {"_body": ["Body is not valid JSON: NaN is not a JSON value."]},
            id="nan",
        ),
        pytest.param(
            raw_event('{"post_id": -Infinity}'),
            {"_body": ["Body is not valid JSON: -Infinity is not a JSON value."]},
            id="infinity",
        ),
        pytest.param(
            raw_event('{"post_id": 12345678901234567890}'),
            {"data.post_id": ["Not a valid string."]},
            id="big-int-where-a-string-goes",
        ),
        pytest.param(
            raw_event('{"post_id": "a", "post_id": "b"}'),
            {"data.post_id": ["Given more than once in one object; give it once."]},
            id="duplicate-key",
        ),
        pytest.param(
            raw_event("{}", envelope=', "type": "post.published"'),
            {"type": ["Given more than once in one object; give it once."]},
            id="duplicate-envelope-key",
        ),
        pytest.param(
            b'\xef\xbb\xbf{"type": "post.published"}',
            {
                "_body": [
                    "Body is not valid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig): "
                    "line 1 column 1 (char 0)"
                ]
            },
            id="bom",
        ),
        pytest.param(
            b'{"type": "post.published", "timestamp": "9999-12-31T23:00:00-05:00", '
            b'"data": {"post_id": "p"}}',
            {"timestamp": ["Out of range: in UTC it must fall between years 1 and 9999."]},
            id="timestamp-past-9999-in-utc",
        ),
        pytest.param(
            raw_event('{"post_id": "p", "published_at": "0001-01-01T00:00:00+01:00"}'),
            {"data.published_at": ["Out of range: in UTC it must fall between years 1 and 9999."]},
            id="published-before-year-1-in-utc",
        ),
    ],
)
def test_bodies_python_would_choke_on_are_422_with_a_clear_message(
    client: FlaskClient,
    connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    body: bytes,
    errors: dict[str, list[str]],
) -> None:
    answer = send(client, connection, body=body)

    assert answer.status_code == 422
    assert answer.get_json() == {"errors": errors}
    assert nothing_accepted(store, redis_url)


# --- hostile headers and paths: never sent to the database ----------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("con%00abc", "No connection 'con\\x00abc'."),
        ("con_%C3%A9", "No connection 'con_\\xe9'."),
        ("con_%F0%9F%98%80", "No connection 'con_\\U0001f600'."),
        ("con_%ff", "No connection 'con_\\ufffd'."),
        ("c" * 201, f"No connection '{'c' * 201}'."),
    ],
)
def test_a_connection_id_that_is_not_plain_ascii_is_404_without_a_lookup(
    client: FlaskClient, connection: ConnectionRecord, path: str, message: str
) -> None:
    answer = client.post(f"/webhooks/crm/{path}", data=b"{}")

    assert answer.status_code == 404
    assert answer.get_json() == {"error": "not_found", "message": message}


@pytest.mark.parametrize("webhook_id", ["msg\x00x", "msg_\xe9", "msg\x7f", "msg\tx"])
def test_a_webhook_id_with_control_or_non_ascii_characters_is_401(
    client: FlaskClient,
    connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    webhook_id: str,
) -> None:
    answer = send(client, connection, webhook_id=webhook_id)

    assert answer.status_code == 401
    assert answer.get_json() == {
        "error": "invalid_signature",
        "message": "webhook-id must be printable ASCII: no control or non-ASCII characters.",
    }
    assert nothing_accepted(store, redis_url)


@pytest.mark.parametrize("timestamp", ["\xb2\xb3", "1" * 21, "-1", "1.5"])
def test_a_timestamp_of_odd_digits_or_too_many_is_named(
    client: FlaskClient, connection: ConnectionRecord, timestamp: str
) -> None:
    answer = send(client, connection, headers={"webhook-timestamp": timestamp})

    assert answer.status_code == 401
    assert answer.get_json()["message"] == (
        "webhook-timestamp must be whole seconds since the Unix epoch."
    )


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
