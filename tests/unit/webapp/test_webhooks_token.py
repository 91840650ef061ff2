"""`POST /webhooks/crm/<id>` for connections that authenticate by Bearer token, and mappings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from store import ConnectionRecord, Store
from tests.brokerutil import queue_length, queued_tasks
from tests.unit.webapp.conftest import event_body, send

# The example: a CRM's own body shape, mapped to our three event types.
MAPPING = """\
version: 1
inbound:
  type:
    path: $.event
    map:
      social_post_published: post.published
      tag_info: tag.details_requested
      stats: statistics.requested
  id: $.delivery.id
  fields:
    post_id: $.post.id
    ghl_post_id: $.post.ghl_id
    tag_ids: $.post.tags[*].id
    record.contact_id: $.contact.id
"""


@pytest.fixture
def token_connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="so",
        location_id="loc_demo",
        ghl_token="pit-sandbox-demo",
        crm_url="http://so.example/xml",
        inbound_auth="token",
    )


@pytest.fixture
def mapped_connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="so-mapped",
        location_id="loc_demo",
        ghl_token="pit-sandbox-demo",
        crm_url="http://so.example/xml",
        inbound_auth="token",
        mapping=MAPPING,
    )


def post(
    client: FlaskClient,
    connection: ConnectionRecord,
    body: bytes,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> TestResponse:
    sent = {"content-type": "application/json"}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    return client.post(f"/webhooks/crm/{connection.id}", data=body, headers=sent)


def crm_body(event: str, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "event": event,
        "delivery": {"id": "d-1"},
        "post": {"id": "crm-7", "ghl_id": "post_demo_1", "tags": [{"id": "t1"}, {"id": "t2"}]},
        "contact": {"id": "Contact.1.31"},
    }
    body.update(extra)
    return json.dumps(body).encode()


# --- token authentication ------------------------------------------------------------------


def test_the_bearer_token_is_accepted_and_the_body_hash_deduplicates(
    client: FlaskClient, token_connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    body = event_body("post.published", {"post_id": "crm-1", "record": {"contact_id": "C.1.2"}})

    first = post(client, token_connection, body, token=token_connection.inbound_token)
    again = post(client, token_connection, body, token=token_connection.inbound_token)

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json() == {"event_id": first.get_json()["event_id"], "status": "duplicate"}
    [event] = store.list_events()
    assert event.webhook_id == "body-sha256:" + hashlib.sha256(body).hexdigest()
    # data.record is stored with the event and crosses the broker with it.
    assert event.payload["data"]["record"] == {"contact_id": "C.1.2"}
    assert queue_length(redis_url) == 1


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "Missing Authorization header"),
        ("Bearer ", "must be 'Bearer <token>'"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <token>'"),
        ("Bearer sbt_not-the-token", "not this connection's inbound token"),
    ],
)
def test_a_missing_or_wrong_token_is_401_and_nothing_is_accepted(
    client: FlaskClient,
    token_connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    authorization: str | None,
    reason: str,
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    answer = post(client, token_connection, event_body("statistics.requested", {}), headers=headers)
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_token"
    assert reason in answer.get_json()["message"]
    assert store.list_events() == []
    assert queue_length(redis_url) == 0


def test_a_token_connection_refuses_a_valid_signature(
    client: FlaskClient, token_connection: ConnectionRecord, store: Store
) -> None:
    # It was created for tokens: a signature, even by its own (unused) secret, is not a way in.
    answer = send(client, token_connection, "statistics.requested", {})
    assert answer.status_code == 401
    assert store.list_events() == []


def test_a_signing_connection_refuses_a_bearer_token(
    client: FlaskClient, connection: ConnectionRecord, token_connection: ConnectionRecord
) -> None:
    body = event_body("statistics.requested", {})
    answer = post(client, connection, body, token=token_connection.inbound_token)
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_signature"


def test_during_a_rotation_both_tokens_work_and_after_it_only_the_new_one(
    client: FlaskClient, token_connection: ConnectionRecord, store: Store
) -> None:
    old = token_connection.inbound_token
    new = store.add_inbound_token(token_connection.id)
    rotated = store.get_connection(token_connection.id)
    assert rotated is not None
    for number, token in enumerate((old, new)):
        body = event_body("post.published", {"post_id": f"p-{number}"})
        assert post(client, rotated, body, token=token).status_code == 202
    store.retire_inbound_tokens(token_connection.id)
    retired = store.get_connection(token_connection.id)
    assert retired is not None
    body = event_body("post.published", {"post_id": "p-after"})
    assert post(client, retired, body, token=old).status_code == 401
    assert post(client, retired, body, token=new).status_code == 202


# --- mappings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crm_event", "event_type", "data", "task_name"),
    [
        (
            "social_post_published",
            "post.published",
            {
                "post_id": "crm-7",
                "ghl_post_id": "post_demo_1",
                "record": {"contact_id": "Contact.1.31"},
            },
            "flows.sync_post_tags",
        ),
        (
            "tag_info",
            "tag.details_requested",
            {"post_id": "crm-7", "tag_ids": ["t1", "t2"], "record": {"contact_id": "Contact.1.31"}},
            "flows.attach_tag_details",
        ),
        (
            "stats",
            "statistics.requested",
            {"record": {"contact_id": "Contact.1.31"}},
            "flows.sync_statistics",
        ),
    ],
)
def test_a_mapped_body_becomes_each_event_type(
    client: FlaskClient,
    mapped_connection: ConnectionRecord,
    store: Store,
    redis_url: str,
    crm_event: str,
    event_type: str,
    data: dict[str, Any],
    task_name: str,
) -> None:
    answer = post(
        client, mapped_connection, crm_body(crm_event), token=mapped_connection.inbound_token
    )

    assert answer.status_code == 202, answer.get_json()
    [event] = store.list_events()
    assert event.type == event_type
    # Fields the event type does not have (tag_ids of a post, the post of statistics) are left.
    assert event.payload["data"] == data
    # The mapping's id is the delivery key.
    assert event.webhook_id == "id:d-1"
    [task] = queued_tasks(redis_url)
    assert task.name == task_name


def test_the_mapped_id_makes_a_redelivery_a_duplicate_even_if_the_body_changed(
    client: FlaskClient, mapped_connection: ConnectionRecord, store: Store
) -> None:
    token = mapped_connection.inbound_token
    first = post(client, mapped_connection, crm_body("stats"), token=token)
    again = post(client, mapped_connection, crm_body("stats", resent=True), token=token)
    assert (first.status_code, again.status_code) == (202, 200)
    assert len(store.list_events()) == 1


def test_a_body_that_maps_to_an_invalid_event_names_the_field_and_its_jsonpath(
    client: FlaskClient, mapped_connection: ConnectionRecord, store: Store, redis_url: str
) -> None:
    body = crm_body("tag_info", post={"id": "crm-7", "tags": []})

    answer = post(client, mapped_connection, body, token=mapped_connection.inbound_token)

    assert answer.status_code == 422
    errors = answer.get_json()["errors"]
    # No tag matched: the field is left out, so the event lacks its required tag_ids.
    assert list(errors) == ["data.tag_ids"]
    assert "$.post.tags[*].id" in errors["data.tag_ids"][0]
    assert store.list_events() == []
    assert queue_length(redis_url) == 0


def test_a_body_whose_type_is_not_mapped_is_422_naming_type(
    client: FlaskClient, mapped_connection: ConnectionRecord, store: Store
) -> None:
    answer = post(
        client,
        mapped_connection,
        crm_body("contact_deleted"),
        token=mapped_connection.inbound_token,
    )
    assert answer.status_code == 422
    assert "type" in answer.get_json()["errors"]
    assert store.list_events() == []


def test_mapped_ids_that_differ_only_in_lone_surrogates_are_two_deliveries(
    client: FlaskClient, mapped_connection: ConnectionRecord, store: Store
) -> None:
    token = mapped_connection.inbound_token
    # JSON escapes of two different lone surrogates: the ids are different text.
    bodies = [
        b'{"event": "stats", "delivery": {"id": "d-' + escape + b'"}}'
        for escape in (rb"\udbff", rb"\udc00")
    ]
    answers = [post(client, mapped_connection, body, token=token) for body in bodies]
    assert [answer.status_code for answer in answers] == [202, 202]
    keys = {event.webhook_id for event in store.list_events()}
    assert len(keys) == 2
    assert all(key is not None and key.startswith("id-sha256:") for key in keys)


# --- browsers (a bookmarklet on the CRM's page) --------------------------------------------


def test_a_browser_may_preflight_and_post_to_a_token_connection(
    client: FlaskClient, token_connection: ConnectionRecord
) -> None:
    preflight = client.options(
        f"/webhooks/crm/{token_connection.id}",
        headers={
            "origin": "https://app.ixactcontact.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-methods"] == "POST"
    assert set(preflight.headers["access-control-allow-headers"].split(", ")) == {
        "authorization",
        "content-type",
    }
    body = event_body("statistics.requested", {})
    accepted = post(client, token_connection, body, token=token_connection.inbound_token)
    refused = post(client, token_connection, body, token="sbt_wrong")
    # The page may read the answer either way; the token alone decides what is accepted.
    assert (accepted.status_code, refused.status_code) == (202, 401)
    for answer in (accepted, refused):
        assert answer.headers["access-control-allow-origin"] == "*"


def test_a_signature_connection_gives_browsers_nothing(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    preflight = client.options(
        f"/webhooks/crm/{connection.id}",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 204
    assert "access-control-allow-origin" not in preflight.headers
    answer = send(client, connection, "statistics.requested", {})
    assert answer.status_code == 202
    assert "access-control-allow-origin" not in answer.headers


def test_a_preflight_for_an_unknown_connection_is_404(client: FlaskClient) -> None:
    assert client.options("/webhooks/crm/con_0123456789abcdef").status_code == 404
