from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from store import ConnectionRecord, EventRecord, EventStatus, NotFound, Store
from store.events import NewEvent

LEASE = 20
PAYLOAD = {
    "type": "post.published",
    "timestamp": "2025-01-01T10:00:00+00:00",
    "data": {"post_id": "p1", "tags": ["a", "b"], "count": 2, "nested": {"ok": True}},
}


def _record(
    store: Store, connection: ConnectionRecord, webhook_id: str | None = None, **extra: str
) -> EventRecord:
    event, created = store.record_event(
        connection_id=connection.id,
        type=extra.pop("type", "post.published"),
        payload=PAYLOAD,
        webhook_id=webhook_id,
        **extra,
    )
    assert created
    return event


def test_record_event_logs_a_queued_event(store: Store, connection: ConnectionRecord) -> None:
    event, created = store.record_event(
        connection_id=connection.id, type="post.published", payload=PAYLOAD, webhook_id="msg_1"
    )
    assert created is True
    assert re.fullmatch(r"evt_[0-9a-f]{24}", event.id)
    assert (event.status, event.attempts, event.source) == ("queued", 0, "webhook")
    assert event.replays == 0
    assert event.updated_at == event.created_at
    assert (event.webhook_id, event.type, event.payload) == ("msg_1", "post.published", PAYLOAD)
    assert event.last_error is None
    assert event.task_id is None
    assert event.started_at is event.finished_at is event.next_attempt_at is None
    assert event.created_at.tzinfo == UTC
    assert store.get_event(event.id) == event


def test_the_same_webhook_id_is_recorded_once(store: Store, connection: ConnectionRecord) -> None:
    first = _record(store, connection, "msg_1")
    again, created = store.record_event(
        connection_id=connection.id, type="post.published", payload={"other": 1}, webhook_id="msg_1"
    )
    assert created is False
    assert again == first
    assert len(store.list_events()) == 1


def test_webhook_ids_are_scoped_to_their_connection(
    store: Store, connection: ConnectionRecord
) -> None:
    other = store.create_connection(
        name="other", location_id="loc_2", ghl_token="t", crm_url="http://crm.test"
    )
    _record(store, connection, "msg_1")
    _record(store, other, "msg_1")
    assert len(store.list_events()) == 2


def test_events_without_webhook_id_never_collide(
    store: Store, connection: ConnectionRecord
) -> None:
    scheduled = _record(store, connection, type="statistics.requested", source="schedule")
    from_cli = _record(store, connection, type="statistics.requested", source="cli")
    assert scheduled.webhook_id is from_cli.webhook_id is None
    assert (scheduled.source, from_cli.source) == ("schedule", "cli")
    assert len(store.list_events()) == 2


def test_record_event_checks_connection_and_source(
    store: Store, connection: ConnectionRecord
) -> None:
    with pytest.raises(NotFound):
        store.record_event(
            connection_id="con_0000000000000000", type="t", payload={}, webhook_id="msg_1"
        )
    with pytest.raises(ValueError, match="source"):
        store.record_event(connection_id=connection.id, type="t", payload={}, source="fax")
    assert store.list_events() == []


def test_concurrent_deliveries_of_one_webhook_create_one_event(
    store: Store, connection: ConnectionRecord
) -> None:
    threads_per_delivery, deliveries = 4, 5
    results: list[tuple[str, EventRecord, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_per_delivery * deliveries)

    def deliver(webhook_id: str) -> None:
        try:
            barrier.wait()
            event, created = store.record_event(
                connection_id=connection.id,
                type="post.published",
                payload=PAYLOAD,
                webhook_id=webhook_id,
            )
            results.append((webhook_id, event, created))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [
        threading.Thread(target=deliver, args=(f"msg_{n}",))
        for n in range(deliveries)
        for _ in range(threads_per_delivery)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for n in range(deliveries):
        mine = [
            (event, created) for webhook_id, event, created in results if webhook_id == f"msg_{n}"
        ]
        assert len(mine) == threads_per_delivery
        assert sum(created for _, created in mine) == 1
        assert len({event.id for event, _ in mine}) == 1
    assert len(store.list_events(limit=100)) == deliveries


def test_discard_event_lets_the_retried_delivery_in(
    store: Store, connection: ConnectionRecord
) -> None:
    first = _record(store, connection, "msg_1")
    store.discard_event(first.id)
    assert store.get_event(first.id) is None
    store.discard_event(first.id)  # nothing to discard: no error

    retried = _record(store, connection, "msg_1")
    assert retried.id != first.id


def test_list_events_filters_newest_first(store: Store, connection: ConnectionRecord) -> None:
    other = store.create_connection(
        name="other", location_id="loc_2", ghl_token="t", crm_url="http://crm.test"
    )
    a = _record(store, connection, "a")
    b = _record(store, connection, "b", type="tag.details_requested")
    c = _record(store, other, "c")
    store.start_attempt(b.id, None, lease_seconds=LEASE)

    assert [e.id for e in store.list_events()] == [c.id, b.id, a.id]
    assert [e.id for e in store.list_events(limit=2)] == [c.id, b.id]
    assert [e.id for e in store.list_events(connection_id=connection.id)] == [b.id, a.id]
    assert [e.id for e in store.list_events(status="queued")] == [c.id, a.id]
    assert [e.id for e in store.list_events(type="tag.details_requested")] == [b.id]
    assert store.list_events(connection_id=other.id, status="processing") == []
    with pytest.raises(ValueError, match="limit"):
        store.list_events(limit=0)


def test_an_event_goes_through_its_life(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection, "msg_1")

    started = store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    assert started is not None
    assert (started.status, started.attempts, started.task_id) == ("processing", 1, "task-1")
    assert started.started_at is not None
    assert started.started_at.tzinfo == UTC

    later = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    retrying = store.mark_retrying(event.id, "ghl: unavailable (HTTP 503)", later)
    assert (retrying.status, retrying.last_error) == ("retrying", "ghl: unavailable (HTTP 503)")
    assert retrying.next_attempt_at == later
    assert retrying.next_attempt_at is not None
    assert retrying.next_attempt_at.tzinfo == UTC
    assert retrying.attempts == 1

    # Not due before 2030: a message arriving now claims nothing.
    assert store.start_attempt(event.id, "task-early", lease_seconds=LEASE) is None
    store.mark_retrying(event.id, "ghl: unavailable (HTTP 503)", datetime.now(UTC))
    again = store.start_attempt(event.id, "task-2", lease_seconds=LEASE)
    assert again is not None
    assert (again.status, again.attempts, again.task_id) == ("processing", 2, "task-2")
    assert again.next_attempt_at is None
    assert again.lease_expires_at is not None
    assert again.lease_expires_at > datetime.now(UTC) + timedelta(seconds=LEASE - 5)

    dead = store.mark_dead(event.id, "ghl: bad request (HTTP 422)", "permanent")
    assert (dead.status, dead.last_error, dead.error_kind, dead.attempts) == (
        "dead",
        "ghl: bad request (HTTP 422)",
        "permanent",
        2,
    )
    assert dead.finished_at is not None
    assert dead.lease_expires_at is None

    replayed = store.requeue(event.id)
    assert (replayed.status, replayed.attempts) == ("queued", 0)
    assert replayed.last_error == "ghl: bad request (HTTP 422)"
    assert replayed.finished_at is replayed.started_at is None
    assert replayed.task_id is None
    assert replayed.error_kind is None

    store.start_attempt(event.id, "task-3", lease_seconds=LEASE)
    done = store.mark_done(event.id)
    assert (done.status, done.attempts) == ("done", 1)
    assert done.finished_at is not None
    assert done.updated_at >= done.created_at
    assert store.get_event(event.id) == done


def test_status_changes_of_an_unknown_event(store: Store) -> None:
    missing = "evt_000000000000000000000000"
    with pytest.raises(NotFound):
        store.start_attempt(missing, None, lease_seconds=LEASE)
    with pytest.raises(NotFound):
        store.mark_done(missing)
    with pytest.raises(NotFound):
        store.mark_retrying(missing, "e", datetime.now(UTC))
    with pytest.raises(NotFound):
        store.mark_dead(missing, "e", "permanent")
    with pytest.raises(ValueError, match="error kind"):
        store.mark_dead(missing, "e", "bad luck")
    with pytest.raises(NotFound):
        store.requeue(missing)
    assert store.get_event(missing) is None


def test_naive_datetimes_are_refused(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)
    with pytest.raises(ValueError, match="timezone"):
        store.mark_retrying(event.id, "e", datetime(2030, 1, 1))
    unchanged = store.get_event(event.id)
    assert unchanged is not None
    assert unchanged.status == "queued"


def test_concurrent_attempts_claim_the_event_once(
    store: Store, connection: ConnectionRecord
) -> None:
    # Six deliveries of one message at once (a redelivery racing the first run): one works.
    event = _record(store, connection)
    barrier = threading.Barrier(6)
    claimed: list[EventRecord | None] = []

    def attempt(number: int) -> None:
        barrier.wait()
        claimed.append(store.start_attempt(event.id, f"task-{number}", lease_seconds=LEASE))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [record for record in claimed if record is not None]
    assert len(winners) == 1
    counted = store.get_event(event.id)
    assert counted is not None
    assert counted.attempts == 1
    assert counted.task_id == winners[0].task_id


def test_an_attempt_whose_lease_ran_out_can_be_claimed_again(
    store: Store, connection: ConnectionRecord
) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    assert store.start_attempt(event.id, "task-2", lease_seconds=LEASE) is None

    # Let the lease lapse, as it does when the worker dies and stops renewing it.
    store.renew_lease(event.id, "task-1", lease_seconds=-1)
    taken = store.start_attempt(event.id, "task-3", lease_seconds=LEASE)
    assert taken is not None
    assert (taken.attempts, taken.task_id) == (2, "task-3")
    # The dead attempt's keeper learns it lost the event.
    assert not store.renew_lease(event.id, "task-1", lease_seconds=LEASE)


def test_done_and_dead_events_are_never_claimed(store: Store, connection: ConnectionRecord) -> None:
    done, dead = _record(store, connection, "a"), _record(store, connection, "b")
    store.mark_done(done.id)
    store.mark_dead(dead.id, "e", "permanent")
    assert store.start_attempt(done.id, "t", lease_seconds=LEASE) is None
    assert store.start_attempt(dead.id, "t", lease_seconds=LEASE) is None


def test_unexpected_errors_are_counted_apart(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)
    soon = datetime.now(UTC)
    store.mark_retrying(event.id, "GHL 500", soon)
    crashed = store.mark_retrying(event.id, "unexpected error: KeyError()", soon, unexpected=True)
    assert crashed.unexpected_errors == 1
    assert store.requeue(event.id).unexpected_errors == 0


def test_count_events_by_status(store: Store, connection: ConnectionRecord) -> None:
    assert store.count_events_by_status() == {status.value: 0 for status in EventStatus}
    first = _record(store, connection, "a")
    _record(store, connection, "b")
    dead = _record(store, connection, "c")
    store.start_attempt(first.id, None, lease_seconds=LEASE)
    store.mark_dead(dead.id, "e", "permanent")
    assert store.count_events_by_status() == {
        "queued": 1,
        "processing": 1,
        "done": 0,
        "retrying": 0,
        "waiting": 0,
        "dead": 1,
    }


def test_event_groups_count_by_type_and_status(store: Store, connection: ConnectionRecord) -> None:
    assert store.event_groups() == {}
    first = _record(store, connection, "a")
    _record(store, connection, "b")
    details = _record(store, connection, "c", type="tag.details_requested")
    store.start_attempt(first.id, None, lease_seconds=LEASE)
    store.mark_done(first.id)
    store.mark_dead(details.id, "e", "permanent")

    assert store.event_groups() == {
        ("post.published", "done"): 1,
        ("post.published", "queued"): 1,
        ("tag.details_requested", "dead"): 1,
    }


def test_oldest_queued_since_is_the_earliest_queued_update(
    store: Store, connection: ConnectionRecord
) -> None:
    assert store.oldest_queued_since() is None
    first = _record(store, connection, "a")
    second = _record(store, connection, "b")
    store.start_attempt(first.id, None, lease_seconds=LEASE)

    oldest = store.oldest_queued_since()

    assert oldest == store.get_event(second.id).updated_at
    assert oldest.tzinfo is not None


# The recovery sweep's claim, and the replay count.

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def _claim(
    store: Store,
    *,
    now: datetime,
    lost: tuple[str, ...] = (),
    queued_before: datetime | None = None,
    limit: int = 100,
) -> list[str]:
    found = store.claim_for_sweep(
        now=now, lost_queued=lost, queued_before=queued_before, limit=limit
    )
    return [event.id for event in found]


def test_every_replay_counts(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection, "msg_1")
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.mark_dead(event.id, "e", "permanent")

    first = store.requeue(event.id)
    assert (first.replays, first.attempts, first.status) == (1, 0, "queued")
    store.start_attempt(event.id, "task-2", lease_seconds=LEASE)
    assert store.mark_done(event.id).replays == 1  # other changes keep the count
    second = store.requeue(event.id)
    assert second.replays == 2
    assert store.get_event(event.id) == second


def test_concurrent_replays_count_every_replay(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)
    barrier = threading.Barrier(5)

    def replay() -> None:
        barrier.wait()
        store.requeue(event.id)

    threads = [threading.Thread(target=replay) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    replayed = store.get_event(event.id)
    assert replayed is not None
    assert replayed.replays == 5


def test_state_changes_move_updated_at(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)
    started = store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    assert started.updated_at == started.started_at
    assert started.updated_at > event.updated_at
    retrying = store.mark_retrying(event.id, "e", datetime.now(UTC) + timedelta(minutes=1))
    assert retrying.updated_at > started.updated_at
    dead = store.mark_dead(event.id, "e", "permanent")
    assert dead.updated_at > retrying.updated_at
    requeued = store.requeue(event.id)
    assert requeued.updated_at > dead.updated_at


def test_the_sweep_claims_each_status_by_its_own_rule(
    store: Store, connection: ConnectionRecord
) -> None:
    queued = _record(store, connection, "queued")
    processing = _record(store, connection, "processing")
    store.start_attempt(processing.id, "task-p", lease_seconds=LEASE)
    due = datetime.now(UTC) + timedelta(minutes=5)
    retrying = store.mark_retrying(_record(store, connection, "retrying").id, "e", due)
    store.mark_done(_record(store, connection, "done").id)
    store.mark_dead(_record(store, connection, "dead").id, "e", "permanent")
    now = datetime.now(UTC)

    assert _claim(store, now=now) == []
    # Due retries and lapsed leases are taken; queued events only when named as lost.
    later = due + timedelta(seconds=1)
    assert _claim(store, now=later, limit=1) == [processing.id]  # oldest first
    assert _claim(store, now=later) == [retrying.id]
    # Those two are queued from `later` on; the recorded one has waited since before.
    assert store.stale_queued(before=later) == [queued.id]
    assert _claim(store, now=later, lost=(queued.id,), queued_before=queued.updated_at) == []
    assert _claim(store, now=later, lost=(queued.id,), queued_before=later) == [queued.id]
    statuses = {e.id: e.status for e in store.list_events()}
    assert [statuses[e.id] for e in (queued, processing, retrying)] == ["queued"] * 3
    # Each is queued from `later` on: nothing is taken twice.
    assert store.stale_queued(before=later) == []
    assert _claim(store, now=later, lost=(queued.id,), queued_before=later) == []


def test_the_sweep_checks_its_arguments(store: Store) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="limit"):
        _claim(store, now=now, limit=0)
    with pytest.raises(ValueError, match="limit"):
        store.stale_queued(before=now, limit=0)
    with pytest.raises(ValueError, match="timezone"):
        _claim(store, now=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        store.stale_queued(before=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="queued_before"):
        _claim(store, now=now, lost=("evt_1",))


def test_a_repeat_of_a_discarded_event_is_recorded_afresh(
    store: Store, connection: ConnectionRecord
) -> None:
    # What the receiver does when the queue refused an event: the CRM's retry is new.
    first, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload={}, webhook_id="msg_1"
    )
    store.discard_event(first.id)

    again, created = store.record_event(
        connection_id=connection.id, type="post.published", payload={}, webhook_id="msg_1"
    )

    assert created
    assert again.id != first.id
    assert store.get_event(again.id) == again
    with pytest.raises(NotFound):
        store.record_event(connection_id="con_gone", type="t", payload={}, webhook_id="m")


def test_record_events_logs_several_in_one_call_in_their_order(
    store: Store, connection: ConnectionRecord
) -> None:
    old = _record(store, connection, "msg_old")
    other = store.create_connection(
        name="other", location_id="loc_2", ghl_token="t", crm_url="http://crm.test"
    )

    results = store.record_events(
        [
            NewEvent(connection.id, "post.published", {"n": 1}, "msg_1"),
            NewEvent(connection.id, "post.published", {"n": 2}, "msg_old"),
            NewEvent(other.id, "post.published", {"n": 3}, "msg_1"),
            NewEvent(connection.id, "post.published", {"n": 4}, "msg_1"),
            NewEvent(connection.id, "statistics.requested", {}, None, "schedule"),
        ]
    )

    [(first, c1), (repeat_old, c2), (elsewhere, c3), (repeat_first, c4), (scheduled, c5)] = results
    assert (c1, c2, c3, c4, c5) == (True, False, True, False, True)
    assert repeat_old == old
    assert repeat_first == first
    assert elsewhere.connection_id == other.id
    assert (scheduled.source, scheduled.webhook_id) == ("schedule", None)
    for event in (first, elsewhere, scheduled):
        assert store.get_event(event.id) == event
    assert len(store.list_events()) == 4
    assert store.record_events([]) == []


def test_record_events_writes_nothing_when_a_connection_is_gone(
    store: Store, connection: ConnectionRecord
) -> None:
    with pytest.raises(IntegrityError):
        store.record_events(
            [
                NewEvent(connection.id, "post.published", {}, "msg_1"),
                NewEvent("con_0000000000000000", "post.published", {}, "msg_2"),
            ]
        )
    with pytest.raises(ValueError, match="source"):
        store.record_events([NewEvent(connection.id, "t", {}, source="fax")])

    assert store.list_events() == []


def test_an_attempt_is_owned_by_its_task_id_and_number(
    store: Store, connection: ConnectionRecord
) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    assert store.owns_attempt(event.id, "task-1", 1, live_lease=True)
    assert not store.owns_attempt(event.id, "task-2", 1)

    # The lease runs out: the attempt still owns the event until another takes it.
    assert store.renew_lease(event.id, "task-1", lease_seconds=-1, attempt=1)
    assert store.owns_attempt(event.id, "task-1", 1)
    assert not store.owns_attempt(event.id, "task-1", 1, live_lease=True)

    # Redis delivers the same message again: same task id, attempt 2.
    assert store.start_attempt(event.id, "task-1", lease_seconds=LEASE) is not None
    assert not store.owns_attempt(event.id, "task-1", 1)
    assert not store.renew_lease(event.id, "task-1", lease_seconds=LEASE, attempt=1)
    assert store.owns_attempt(event.id, "task-1", 2, live_lease=True)
    assert store.renew_lease(event.id, "task-1", lease_seconds=LEASE, attempt=2)

    store.mark_done(event.id)
    assert not store.owns_attempt(event.id, "task-1", 2)
