"""Waiting events: `mark_waiting` while the connection is not active, and their release, in
order, by whatever makes it active again (`activate_connection`, a completed install)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from store import ConnectionRecord, EventRecord, NotFound, Store

LEASE = 20
REASON = "connection is parked: credentials refused: ghl: Invalid JWT (HTTP 401)"
PAYLOAD = {
    "type": "post.published",
    "timestamp": "2026-11-30T10:00:00+00:00",
    "data": {"post_id": "p1"},
}


def _record(store: Store, connection: ConnectionRecord) -> EventRecord:
    event, created = store.record_event(
        connection_id=connection.id, type="post.published", payload=PAYLOAD
    )
    assert created
    return event


def _status(store: Store, event: EventRecord) -> tuple[str, int]:
    stored = store.get_event(event.id)
    assert stored is not None
    return stored.status, stored.attempts


@pytest.fixture
def parked(store: Store, connection: ConnectionRecord) -> ConnectionRecord:
    store.park_connection(connection.id, "credentials refused: ghl: Invalid JWT (HTTP 401)")
    return connection


# --- mark_waiting ---------------------------------------------------------------------------


def test_a_queued_event_of_a_parked_connection_waits_with_the_reason(
    store: Store, parked: ConnectionRecord
) -> None:
    event = _record(store, parked)

    waiting = store.mark_waiting(event.id, REASON)

    assert waiting is not None
    assert waiting == store.get_event(event.id)
    assert (waiting.status, waiting.last_error, waiting.attempts) == ("waiting", REASON, 0)
    assert (waiting.next_attempt_at, waiting.lease_expires_at, waiting.finished_at) == (
        None,
        None,
        None,
    )
    assert waiting.error_kind is None
    assert waiting.updated_at >= event.updated_at


def test_a_due_retry_waits_with_its_attempts_as_they_were(
    store: Store, parked: ConnectionRecord
) -> None:
    event = _record(store, parked)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.mark_retrying(event.id, "ghl: unavailable (HTTP 503)", datetime.now(UTC))

    waiting = store.mark_waiting(event.id, REASON)

    assert waiting is not None
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at) == ("waiting", 1, None)


def test_a_waiting_event_takes_the_newer_reason(store: Store, parked: ConnectionRecord) -> None:
    event = _record(store, parked)
    store.mark_waiting(event.id, REASON)

    again = store.mark_waiting(event.id, "connection is parked: settled otherwise")

    assert again is not None
    assert (again.status, again.last_error) == (
        "waiting",
        "connection is parked: settled otherwise",
    )


def test_nothing_waits_on_an_active_connection(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)

    assert store.mark_waiting(event.id, REASON) is None

    assert store.get_event(event.id) == event


@pytest.mark.parametrize("end", ["done", "dead"])
def test_a_finished_event_never_waits(store: Store, parked: ConnectionRecord, end: str) -> None:
    event = _record(store, parked)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    finished = (
        store.mark_done(event.id)
        if end == "done"
        else store.mark_dead(event.id, "ghl: gone (HTTP 400)", "permanent")
    )

    assert store.mark_waiting(event.id, REASON) is None

    assert store.get_event(event.id) == finished


def test_an_event_running_under_a_live_lease_is_left_to_its_attempt(
    store: Store, parked: ConnectionRecord
) -> None:
    event = _record(store, parked)
    running = store.start_attempt(event.id, "task-running", lease_seconds=LEASE)

    assert store.mark_waiting(event.id, REASON) is None

    assert store.get_event(event.id) == running


def test_an_event_whose_attempt_died_waits_and_that_attempt_still_counts(
    store: Store, parked: ConnectionRecord
) -> None:
    event = _record(store, parked)
    store.start_attempt(event.id, "task-killed", lease_seconds=-1)  # its lease lapsed at once

    waiting = store.mark_waiting(event.id, REASON)

    assert waiting is not None
    assert (waiting.status, waiting.attempts) == ("waiting", 1)


def test_the_attempt_that_found_the_problem_is_given_back(
    store: Store, parked: ConnectionRecord
) -> None:
    event = _record(store, parked)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.mark_retrying(event.id, "ghl: unavailable (HTTP 503)", datetime.now(UTC))
    store.start_attempt(event.id, "task-2", lease_seconds=LEASE)

    waiting = store.mark_waiting(event.id, REASON, attempt="task-2")

    assert waiting is not None
    # The 503 counted; the attempt that met the refusal does not.
    assert (waiting.status, waiting.attempts, waiting.task_id) == ("waiting", 1, "task-2")


def test_only_the_attempt_that_holds_the_event_gives_its_attempt_back(
    store: Store, parked: ConnectionRecord
) -> None:
    event = _record(store, parked)
    # task-1's lease lapsed and the sweep gave the event to task-2.
    store.start_attempt(event.id, "task-1", lease_seconds=-1)
    running = store.start_attempt(event.id, "task-2", lease_seconds=LEASE)

    assert store.mark_waiting(event.id, REASON, attempt="task-1") is None

    assert store.get_event(event.id) == running


def test_an_unknown_event_cannot_wait(store: Store) -> None:
    with pytest.raises(NotFound):
        store.mark_waiting("evt_000000000000000000000000", REASON)


# --- release --------------------------------------------------------------------------------


def test_activation_releases_every_waiting_event_in_the_order_they_came(
    store: Store, parked: ConnectionRecord
) -> None:
    events = [_record(store, parked) for _ in range(5)]
    # Marked in the reverse order: the release follows when they came, not when they waited.
    for event in reversed(events):
        assert store.mark_waiting(event.id, REASON) is not None

    released = store.activate_connection(parked.id)

    assert [e.id for e in released] == [e.id for e in events]
    assert {(e.status, e.task_id, e.last_error) for e in released} == {("queued", None, REASON)}
    assert [store.get_event(e.id) for e in events] == released
    assert store.activate_connection(parked.id) == []  # nothing is released twice


def test_activation_releases_only_this_connections_waiting_events(
    store: Store, parked: ConnectionRecord
) -> None:
    other = store.create_connection(
        name="other", location_id="loc_other", ghl_token="t", crm_url="http://crm.test/o"
    )
    store.park_connection(other.id, "credentials refused")
    mine = _record(store, parked)
    theirs = _record(store, other)
    retrying = _record(store, parked)
    store.start_attempt(retrying.id, "task-1", lease_seconds=LEASE)
    later = datetime.now(UTC) + timedelta(minutes=5)
    store.mark_retrying(retrying.id, "ghl: unavailable (HTTP 503)", later)
    for event in (mine, theirs):
        store.mark_waiting(event.id, REASON)

    released = store.activate_connection(parked.id)

    assert [e.id for e in released] == [mine.id]
    assert _status(store, theirs) == ("waiting", 0)
    assert _status(store, retrying) == ("retrying", 1)  # not waiting: the sweep's to send


def test_a_connection_without_a_token_cannot_be_activated_and_its_events_keep_waiting(
    store: Store, connection: ConnectionRecord
) -> None:
    store.disconnect_connection(connection.id, "GHL sent UNINSTALL")
    event = _record(store, connection)
    store.mark_waiting(event.id, "connection is disconnected: GHL sent UNINSTALL")

    with pytest.raises(ValueError, match="has no GHL token"):
        store.activate_connection(connection.id)

    assert _status(store, event) == ("waiting", 0)


def test_a_new_token_and_an_activation_bring_a_disconnected_connection_back(
    store: Store, connection: ConnectionRecord
) -> None:
    store.disconnect_connection(connection.id, "disconnected by an operator")
    event = _record(store, connection)
    store.mark_waiting(event.id, "connection is disconnected: disconnected by an operator")

    store.update_connection(connection.id, ghl_token="a-new-private-integration-token")
    released = store.activate_connection(connection.id)

    assert [e.id for e in released] == [event.id]


def test_a_completed_install_releases_the_waiting_events_and_a_refresh_does_not(
    store: Store,
) -> None:
    connection = store.create_connection(
        name="oauth", location_id="", ghl_token="", ghl_auth="oauth", crm_url="http://crm.test/a"
    )
    events = [_record(store, connection) for _ in range(3)]
    for event in events:
        assert store.mark_waiting(event.id, "connection is needs_reauth: not authorized yet")
    expires = datetime.now(UTC) + timedelta(hours=24)

    def save(authorized: bool) -> list[EventRecord]:
        _, released = store.save_oauth_tokens(
            connection.id,
            access_token="access",
            refresh_token="refresh",
            expires_at=expires,
            scopes=["socialplanner/tag.readonly"],
            location_id="loc_a",
            company_id="comp_a",
            authorized=authorized,
        )
        return released

    assert save(authorized=False) == []  # a refresh of a connection that is not active
    assert _status(store, events[0]) == ("waiting", 0)
    released = save(authorized=True)

    assert [e.id for e in released] == [e.id for e in events]
    assert {e.status for e in released} == {"queued"}


# --- the race -------------------------------------------------------------------------------


@pytest.mark.parametrize("activate_after", [0.0, 0.002, 0.005, 0.01, 0.03])
def test_no_event_is_left_waiting_when_attempts_and_an_activation_race(
    store: Store, connection: ConnectionRecord, activate_after: float
) -> None:
    # Six workers put twelve events of a parked connection to waiting while an operator
    # activates it. Whatever the interleaving, an event either waited and was released by the
    # activation, or found the connection active and was left queued to run: none is left
    # waiting on an active connection.
    store.park_connection(connection.id, "credentials refused")
    events = [_record(store, connection) for _ in range(12)]
    workers = 6
    barrier = threading.Barrier(workers + 1)
    marked: dict[str, EventRecord | None] = {}
    released: list[EventRecord] = []
    errors: list[BaseException] = []

    def mark(chunk: list[EventRecord]) -> None:
        try:
            barrier.wait()
            for event in chunk:
                marked[event.id] = store.mark_waiting(event.id, REASON)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    def activate() -> None:
        try:
            barrier.wait()
            time.sleep(activate_after)
            released.extend(store.activate_connection(connection.id))
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=mark, args=(events[n::workers],)) for n in range(workers)
    ] + [threading.Thread(target=activate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    active = store.get_connection(connection.id)
    assert active is not None
    assert active.status == "active"
    assert store.list_events(connection_id=connection.id, status="waiting") == []
    waited = {event_id for event_id, record in marked.items() if record is not None}
    # Released: exactly the events that waited, in the order they came.
    assert [e.id for e in released] == [e.id for e in events if e.id in waited]
    assert {_status(store, event) for event in events} == {("queued", 0)}
