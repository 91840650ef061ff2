"""The webhook contract as a CRM meets it over HTTP: signatures, bodies, sizes, outages."""

from __future__ import annotations

import datetime as dt
import json

import httpx

from sandbox.server import ServerThread
from socialbridge.embedded_redis import EmbeddedRedis
from tests.functional.harness import System
from webapp import create_app


def test_a_wrong_secret_is_refused_and_nothing_is_recorded(bridge: System) -> None:
    connection = bridge.new_connection()
    other = "whsec_" + "A" * 32

    answer = bridge.send(connection, "post.published", {"post_id": "p"}, secret=other)

    assert answer.status_code == 401
    assert answer.json()["message"] == "No signature matches this connection's webhook secrets."
    assert bridge.store.list_events(connection_id=connection.id) == []


def test_a_stale_signature_is_refused(bridge: System) -> None:
    connection = bridge.new_connection()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)

    answer = bridge.send(connection, "post.published", {"post_id": "p"}, timestamp=old)

    assert answer.status_code == 401
    assert "too old" in answer.json()["message"]


def test_missing_signature_headers_are_named(bridge: System) -> None:
    connection = bridge.new_connection()

    answer = bridge.http.post(
        f"{bridge.web_url}/webhooks/crm/{connection.id}", json={"type": "post.published"}
    )

    assert answer.status_code == 401
    assert answer.json()["message"] == (
        "Missing header(s): webhook-id, webhook-timestamp, webhook-signature."
    )


def test_a_rotated_secret_and_the_previous_one_both_verify(bridge: System) -> None:
    connection = bridge.new_connection()
    new_secret = bridge.store.add_webhook_secret(connection.id)
    rotated = bridge.store.get_connection(connection.id)
    assert rotated is not None

    with_new = bridge.send(rotated, "statistics.requested", {}, secret=new_secret)
    with_old = bridge.send(
        rotated, "statistics.requested", {}, secret=connection.webhook_secrets[0]
    )

    assert with_new.status_code == 202
    assert with_old.status_code == 202
    for answer in (with_new, with_old):
        bridge.wait_for(answer.json()["event_id"])


def test_invalid_bodies_get_field_errors(bridge: System) -> None:
    connection = bridge.new_connection()

    missing = bridge.send(connection, "tag.details_requested", {"post_id": "p", "tag_ids": []})
    unknown_type = bridge.send(connection, "post.deleted", {"post_id": "p"})
    extra = bridge.send(connection, "post.published", {"post_id": "p", "colour": "red"})
    not_json = bridge.send(connection, "x", {}, body=b"{not json")
    bad_range = bridge.send(
        connection, "statistics.requested", {"start_date": "2026-02-01", "end_date": "2026-01-01"}
    )

    assert missing.status_code == 422
    assert missing.json() == {"errors": {"data.tag_ids": ["Give between 1 and 500 tag ids."]}}
    assert unknown_type.status_code == 422
    assert "Unknown event type" in unknown_type.json()["errors"]["type"][0]
    assert extra.json() == {"errors": {"data.colour": ["Unknown field."]}}
    assert not_json.status_code == 422
    assert "not valid JSON" in not_json.json()["errors"]["_body"][0]
    assert bad_range.json() == {
        "errors": {"data.end_date": ["end_date must not be before start_date."]}
    }
    assert bridge.store.list_events(connection_id=connection.id) == []


def test_another_location_is_refused(bridge: System) -> None:
    connection = bridge.new_connection()

    answer = bridge.send(connection, "post.published", {"post_id": "p", "location_id": "loc_x"})

    assert answer.status_code == 422
    assert list(answer.json()["errors"]) == ["data.location_id"]


def test_unknown_connection_is_404(bridge: System) -> None:
    answer = bridge.http.post(f"{bridge.web_url}/webhooks/crm/con_missing", content=b"{}")

    assert answer.status_code == 404
    assert answer.json()["message"] == "No connection 'con_missing'."


def test_a_body_over_256_kib_is_413(bridge: System) -> None:
    connection = bridge.new_connection()
    big = json.dumps(
        {
            "type": "post.published",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"post_id": "p", "title": "x" * (300 * 1024)},
        }
    ).encode()

    answer = bridge.send(connection, "post.published", {}, body=big)

    assert answer.status_code == 413
    assert "262144 bytes" in answer.json()["message"]


def test_when_the_queue_is_down_the_answer_is_503_and_nothing_is_kept(
    bridge: System, tmp_path: object
) -> None:
    connection = bridge.new_connection()
    # A web process whose Redis is stopped: recording works, enqueueing cannot.
    from pathlib import Path

    redis = EmbeddedRedis(Path(str(tmp_path)) / "redis")
    redis.start()
    redis.stop()
    app = create_app(bridge.settings.replace(redis_url=redis.url))
    with ServerThread(app) as web:
        system = System(
            settings=bridge.settings,
            store=bridge.store,
            web_url=web.url,
            ghl_url=bridge.ghl_url,
            crm_url=bridge.crm_url,
            worker=bridge.worker,
            http=httpx.Client(timeout=30),
        )
        answer = system.send(connection, "post.published", {"post_id": "p"}, webhook_id="msg_q")
    app.extensions["socialbridge"].dispose()

    assert answer.status_code == 503
    assert answer.json()["message"] == "The queue is unavailable; retry later."
    assert bridge.store.list_events(connection_id=connection.id) == []
    # The CRM's retry, once the queue is back, is a first delivery.
    retried = bridge.send(connection, "post.published", {"post_id": "p"}, webhook_id="msg_q")
    assert retried.status_code == 202
    bridge.wait_for(retried.json()["event_id"])
