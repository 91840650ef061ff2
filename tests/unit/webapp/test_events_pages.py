"""The events pages: the filtered list, one event, and the replays (admins only, with CSRF)."""

from __future__ import annotations

from flask.testing import FlaskClient

from store import ConnectionRecord, EventRecord, Store
from tests.brokerutil import queue_length
from tests.unit.webapp.conftest import csrf_of


def record(
    store: Store, connection: ConnectionRecord, status: str = "queued", **data: str
) -> EventRecord:
    payload = {"type": "post.published", "data": {"post_id": "crm-1", **data}}
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload=payload
    )
    if status == "dead":
        event = store.mark_dead(event.id, "ghl: refused <for good>", "permanent")
    return event


def test_the_list_filters_by_status(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    dead = record(store, connection, "dead")
    queued = record(store, connection)

    page = admin_client.get("/events?status=dead").get_data(as_text=True)

    assert f"/events/{dead.id}" in page
    assert f"/events/{queued.id}" not in page
    assert '<option value="dead" selected>dead</option>' in page
    # Errors are escaped.
    assert "ghl: refused &lt;for good&gt;" in page


def test_a_bad_filter_field_is_said_and_left_out(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event = record(store, connection)

    page = admin_client.get("/events?status=lost&from=soon").get_data(as_text=True)

    assert "status: expected one of" in page
    assert "from: expected a date and time" in page
    assert f"/events/{event.id}" in page


def test_pages_link_to_older_events(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    for _ in range(51):
        record(store, connection)

    first = admin_client.get(f"/events?connection={connection.id}").get_data(as_text=True)

    assert first.count('<a href="/events/ev') == 50
    assert 'rel="next">Older</a>' in first
    older = first.split('<a href="')[-1]  # the last link of the page: "Older"
    second = admin_client.get(older.split('"')[0].replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('<a href="/events/ev') == 1
    assert ">Newest</a>" in second
    assert 'rel="next"' not in second


def test_an_event_page_shows_payload_attempts_and_the_replay_button(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    dead = record(store, connection, "dead", title="Open <house>")

    page = admin_client.get(f"/events/{dead.id}").get_data(as_text=True)

    assert '<td class="dead" id="event-status">dead</td>' in page
    assert "Open &lt;house&gt;" in page  # the payload, escaped
    assert "ghl: refused &lt;for good&gt;" in page
    assert "<th>error kind</th><td>permanent</td>" in page
    assert f'action="/events/{dead.id}/replay"' in page
    assert 'name="csrf_token"' in page


def test_an_unknown_event_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/events/ev_nope").status_code == 404


def test_an_admin_replays_a_dead_event(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    dead = record(store, connection, "dead")

    answer = admin_client.post(
        f"/events/{dead.id}/replay", data={"csrf_token": csrf_of(admin_client)}
    )

    assert answer.status_code == 303
    after = store.get_event(dead.id)
    assert after is not None
    assert after.status == "queued"
    assert queue_length(redis_url) == 1
    page = admin_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Replayed: queued again as task" in page


def test_replaying_an_event_under_way_changes_nothing(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    queued = record(store, connection)

    answer = admin_client.post(
        f"/events/{queued.id}/replay",
        data={"csrf_token": csrf_of(admin_client)},
        follow_redirects=True,
    )

    assert "still queued, left alone" in answer.get_data(as_text=True)
    assert queue_length(redis_url) == 0


def test_an_admin_replays_every_dead_event_of_a_connection(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    for _ in range(3):
        record(store, connection, "dead")
    record(store, connection)

    page = admin_client.get(f"/events?connection={connection.id}").get_data(as_text=True)
    assert f'action="/connections/{connection.id}/replay-dead"' in page
    answer = admin_client.post(
        f"/connections/{connection.id}/replay-dead",
        data={"csrf_token": csrf_of(admin_client)},
        follow_redirects=True,
    )

    assert "Replayed 3 dead event(s) of acme." in answer.get_data(as_text=True)
    assert queue_length(redis_url) == 3


def test_a_viewer_sees_no_replay_button_and_is_refused(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    dead = record(store, connection, "dead")

    page = viewer_client.get(f"/events/{dead.id}").get_data(as_text=True)
    assert "/replay" not in page
    token = csrf_of(viewer_client)

    assert (
        viewer_client.post(f"/events/{dead.id}/replay", data={"csrf_token": token}).status_code
        == 403
    )
    assert (
        viewer_client.post(
            f"/connections/{connection.id}/replay-dead", data={"csrf_token": token}
        ).status_code
        == 403
    )
    after = store.get_event(dead.id)
    assert after is not None
    assert after.status == "dead"
    assert queue_length(redis_url) == 0


def test_a_replay_without_csrf_is_refused(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    dead = record(store, connection, "dead")

    assert admin_client.post(f"/events/{dead.id}/replay").status_code == 400
    after = store.get_event(dead.id)
    assert after is not None
    assert after.status == "dead"
