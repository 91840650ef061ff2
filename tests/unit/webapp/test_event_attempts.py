"""An event's attempts on its page and in `/api/events/<id>`, and "retry now" (admins only,
with CSRF) for events waiting on their backoff."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient

from store import ConnectionRecord, EventRecord, Store
from tests.brokerutil import queue_length, queued_tasks
from tests.unit.webapp.conftest import csrf_of

LEASE = 20


def record(store: Store, connection: ConnectionRecord) -> EventRecord:
    payload = {"type": "post.published", "data": {"post_id": "crm-1"}}
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload=payload
    )
    return event


def retrying(store: Store, connection: ConnectionRecord, error: str = "ghl: 503") -> EventRecord:
    """An event whose first attempt failed, its next due in an hour."""
    event = record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return store.mark_retrying(event.id, error, due)


def test_the_page_lists_every_attempt(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event = retrying(store, connection, "crm: <refused> (HTTP 503)")
    assert store.retry_now(event.id) is not None
    assert store.start_attempt(event.id, "task-2", lease_seconds=LEASE) is not None
    store.mark_done(event.id, writeback="post.tags_synced for CRM post crm-1, webhook-id w-1")

    page = admin_client.get(f"/events/{event.id}").get_data(as_text=True)

    table = page.split('id="attempts"')[1].split("</table>")[0]
    rows = table.split("<tbody>")[1].split("<tr>")[1:]
    assert len(rows) == 2
    assert '<td class="retrying">retrying</td>' in rows[0]
    assert "<td>retryable</td>" in rows[0]
    assert "crm: &lt;refused&gt; (HTTP 503)" in rows[0]  # escaped
    assert '<td class="done">done</td>' in rows[1]
    assert "webhook-id w-1" in rows[1]
    assert " ms</td>" in rows[1]  # how long it took


def test_a_running_attempt_and_an_event_without_history(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    running = record(store, connection)
    store.start_attempt(running.id, "task-1", lease_seconds=LEASE)
    # As events from before the history: a count and a last error, no rows.
    old = record(store, connection)
    store.mark_dead(old.id, "gave up", "permanent")

    running_page = admin_client.get(f"/events/{running.id}").get_data(as_text=True)
    old_page = admin_client.get(f"/events/{old.id}").get_data(as_text=True)

    assert '<td class="processing">running</td>' in running_page
    assert 'id="attempts"' not in old_page
    assert 'id="no-attempts"' in old_page


def test_the_api_carries_the_attempt_history(
    viewer_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event = retrying(store, connection)

    found = viewer_client.get(f"/api/events/{event.id}").get_json()

    assert found["attempts"] == 1  # the count, as listed
    assert found["retry_now"] is True
    [attempt] = found["attempt_history"]
    assert attempt["number"] == 1
    assert attempt["replay"] == 0
    assert attempt["task_id"] == "task-1"
    assert attempt["outcome"] == "retrying"
    assert attempt["error_kind"] == "retryable"
    assert attempt["error"] == "ghl: 503"
    assert attempt["writeback"] is None
    assert attempt["took_seconds"] >= 0
    assert dt.datetime.fromisoformat(attempt["finished_at"]) >= dt.datetime.fromisoformat(
        attempt["started_at"]
    )


def test_an_admin_retries_a_retrying_event_now(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    event = retrying(store, connection)
    page = admin_client.get(f"/events/{event.id}").get_data(as_text=True)
    assert f'action="/events/{event.id}/retry-now"' in page

    answer = admin_client.post(
        f"/events/{event.id}/retry-now", data={"csrf_token": csrf_of(admin_client)}
    )

    assert answer.status_code == 303
    after = store.get_event(event.id)
    assert after is not None
    assert (after.status, after.attempts, after.next_attempt_at) == ("queued", 1, None)
    [task] = queued_tasks(redis_url)
    assert task.args[0] == event.id
    assert "Sent now: queued as task" in admin_client.get(answer.headers["Location"]).get_data(
        as_text=True
    )

    # A second press finds it taken and sends nothing more.
    again = admin_client.post(
        f"/events/{event.id}/retry-now",
        data={"csrf_token": csrf_of(admin_client)},
        follow_redirects=True,
    )
    assert "queued, not waiting for a retry; left alone" in again.get_data(as_text=True)
    assert queue_length(redis_url) == 1


def test_an_admin_retries_every_retrying_event_of_a_connection_now(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord, redis_url: str
) -> None:
    for _ in range(2):
        retrying(store, connection)
    left = record(store, connection)  # queued: not retrying, left alone

    page = admin_client.get(f"/events?connection={connection.id}").get_data(as_text=True)
    assert f'action="/connections/{connection.id}/retry-now"' in page
    answer = admin_client.post(
        f"/connections/{connection.id}/retry-now",
        data={"csrf_token": csrf_of(admin_client)},
        follow_redirects=True,
    )

    assert "Sent 2 retrying event(s) of acme now." in answer.get_data(as_text=True)
    assert queue_length(redis_url) == 2
    assert store.list_events(connection_id=connection.id, status="retrying") == []
    assert store.get_event(left.id) == left


def test_a_viewer_may_not_retry_now_and_csrf_is_required(
    viewer_client: FlaskClient,
    admin_client: FlaskClient,
    store: Store,
    connection: ConnectionRecord,
    redis_url: str,
) -> None:
    event = retrying(store, connection)

    page = viewer_client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "/retry-now" not in page
    assert "An admin may retry it now." in page
    token = csrf_of(viewer_client)
    assert (
        viewer_client.post(f"/events/{event.id}/retry-now", data={"csrf_token": token}).status_code
        == 403
    )
    assert (
        viewer_client.post(
            f"/connections/{connection.id}/retry-now", data={"csrf_token": token}
        ).status_code
        == 403
    )
    assert admin_client.post(f"/events/{event.id}/retry-now").status_code == 400
    assert store.get_event(event.id) == event
    assert queue_length(redis_url) == 0


def test_a_waiting_event_says_its_connection_must_be_active_and_links_to_it(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event = record(store, connection)
    store.park_connection(connection.id, "credentials refused")
    assert store.mark_waiting(event.id, "connection is parked: credentials refused")

    page = admin_client.get(f"/events/{event.id}").get_data(as_text=True)

    note = page.split('id="waiting-note"')[1].split("</p>")[0]
    assert "cannot run until its connection is active again" in note
    assert f'<a href="/connections/{connection.id}">acme</a> is parked' in note
    assert "/retry-now" not in page
    assert "/replay" not in page
