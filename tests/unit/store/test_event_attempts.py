"""The attempt history: a row per attempt, opened by the claim and closed with the outcome in
the transaction that records it on the event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from store import AttemptOutcome, ConnectionRecord, EventRecord, EventStatus, NotFound, Store
from store.event_attempts import ERROR_MAX_LENGTH, LOST_ERROR
from store.models import EventAttemptRow

LEASE = 20
PAYLOAD = {"type": "post.published", "timestamp": "2025-01-01T10:00:00+00:00", "data": {}}


def _record(store: Store, connection: ConnectionRecord) -> EventRecord:
    event, created = store.record_event(
        connection_id=connection.id, type="post.published", payload=PAYLOAD
    )
    assert created
    return event


def _later(seconds: float = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_claim_opens_a_running_attempt_and_done_closes_it(
    store: Store, connection: ConnectionRecord
) -> None:
    event = _record(store, connection)
    assert store.attempts_of(event.id) == []

    claimed = store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    assert claimed is not None
    [running] = store.attempts_of(event.id)
    assert (running.number, running.replay, running.task_id) == (1, 0, "task-1")
    assert running.started_at == claimed.started_at
    assert (running.outcome, running.finished_at, running.took) == (None, None, None)

    done = store.mark_done(event.id, writeback="post.tags_synced, webhook-id x")
    [finished] = store.attempts_of(event.id)
    assert finished.outcome == AttemptOutcome.DONE
    assert finished.finished_at == done.finished_at
    assert finished.took == done.finished_at - claimed.started_at  # type: ignore[operator]
    assert finished.writeback == "post.tags_synced, webhook-id x"
    assert (finished.error, finished.error_kind) == (None, None)


def test_every_outcome_is_kept_in_order(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.mark_retrying(event.id, "GHL answered 503", datetime.now(UTC))
    store.start_attempt(event.id, "task-2", lease_seconds=LEASE)
    store.mark_retrying(
        event.id, "unexpected error: KeyError('x')", datetime.now(UTC), unexpected=True
    )
    store.start_attempt(event.id, "task-3", lease_seconds=LEASE)
    dead = store.mark_dead(event.id, "GHL answered 404", "permanent")

    attempts = store.attempts_of(event.id)
    assert [(a.number, a.task_id, a.outcome, a.error_kind, a.error) for a in attempts] == [
        (1, "task-1", "retrying", "retryable", "GHL answered 503"),
        (2, "task-2", "retrying", "unexpected", "unexpected error: KeyError('x')"),
        (3, "task-3", "dead", "permanent", "GHL answered 404"),
    ]
    # The event's own record agrees with its latest attempt.
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 3, attempts[-1].error)
    assert dead.finished_at == attempts[-1].finished_at


def test_an_attempt_given_back_leaves_its_number_to_the_next(
    store: Store, connection: ConnectionRecord
) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.park_connection(connection.id, "credentials refused")
    waiting = store.mark_waiting(
        event.id, "connection is parked: credentials refused", attempt="task-1"
    )
    assert waiting is not None
    assert waiting.attempts == 0
    store.activate_connection(connection.id)
    assert store.start_attempt(event.id, "task-2", lease_seconds=LEASE) is not None
    deferred = store.defer_attempt(event.id, "task-2", reason="no rate-limit slot for 90 s")
    assert deferred is not None
    assert (deferred.status, deferred.attempts) == ("queued", 0)
    assert store.start_attempt(event.id, "task-3", lease_seconds=LEASE) is not None
    store.mark_done(event.id)

    assert [(a.number, a.task_id, a.outcome, a.error) for a in store.attempts_of(event.id)] == [
        (1, "task-1", "waiting", "connection is parked: credentials refused"),
        (1, "task-2", "deferred", "no rate-limit slot for 90 s"),
        (1, "task-3", "done", None),
    ]


def test_a_deferral_to_a_far_slot_is_retrying_and_only_its_owner_defers(
    store: Store, connection: ConnectionRecord
) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    assert store.defer_attempt(event.id, "task-other", reason="x") is None
    slot = _later(600)
    retrying = store.defer_attempt(
        event.id, "task-1", reason="no slot for 600 s", next_attempt_at=slot
    )
    assert retrying is not None
    assert (retrying.status, retrying.attempts, retrying.next_attempt_at) == ("retrying", 0, slot)
    assert retrying.last_error == "no slot for 600 s"
    [attempt] = store.attempts_of(event.id)
    assert (attempt.outcome, attempt.error) == ("deferred", "no slot for 600 s")
    # Once given back, the attempt cannot be given back again.
    assert store.defer_attempt(event.id, "task-1", reason="again") is None
    assert len(store.attempts_of(event.id)) == 1


def test_an_attempt_whose_lease_ran_out_is_lost(store: Store, connection: ConnectionRecord) -> None:
    swept = _record(store, connection)
    reclaimed = _record(store, connection)
    for event in (swept, reclaimed):
        store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
        store.renew_lease(event.id, "task-1", lease_seconds=-1)  # its worker died

    taken = store.claim_for_sweep(now=datetime.now(UTC))
    assert {e.id for e in taken} == {swept.id, reclaimed.id}
    # A message redelivered before the sweep came claims the event over the lost attempt.
    store.start_attempt(swept.id, "task-2", lease_seconds=LEASE)
    store.renew_lease(swept.id, "task-2", lease_seconds=-1)
    store.start_attempt(swept.id, "task-3", lease_seconds=LEASE)

    assert [(a.task_id, a.outcome, a.error) for a in store.attempts_of(swept.id)] == [
        ("task-1", "lost", LOST_ERROR),
        ("task-2", "lost", LOST_ERROR),
        ("task-3", None, None),
    ]
    [lost] = store.attempts_of(reclaimed.id)
    assert (lost.outcome, lost.finished_at is not None) == ("lost", True)


def test_waiting_without_an_attempt_closes_a_lost_one(
    store: Store, connection: ConnectionRecord
) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.renew_lease(event.id, "task-1", lease_seconds=-1)
    store.park_connection(connection.id, "held")

    assert store.mark_waiting(event.id, "connection is parked: held") is not None
    [attempt] = store.attempts_of(event.id)
    assert attempt.outcome == "lost"


def test_a_replay_counts_its_attempts_afresh(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.mark_dead(event.id, "refused", "permanent")
    store.requeue(event.id)
    store.start_attempt(event.id, "task-r1", lease_seconds=LEASE)
    store.mark_done(event.id)

    assert [(a.replay, a.number, a.outcome) for a in store.attempts_of(event.id)] == [
        (0, 1, "dead"),
        (1, 1, "done"),
    ]


def test_a_long_error_is_cut(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.mark_dead(event.id, "x" * (ERROR_MAX_LENGTH * 3), "invalid")

    [attempt] = store.attempts_of(event.id)
    assert attempt.error is not None
    assert len(attempt.error) == ERROR_MAX_LENGTH
    assert attempt.error.endswith("…")
    # The event keeps its whole last error, as before.
    stored = store.get_event(event.id)
    assert stored is not None
    assert stored.last_error == "x" * (ERROR_MAX_LENGTH * 3)


def test_an_outcome_without_a_running_attempt_adds_none(
    store: Store, connection: ConnectionRecord
) -> None:
    # An event recorded before the history existed, or one that dies before any attempt
    # (its connection gone): the outcome is recorded on the event, the history stays empty.
    event = _record(store, connection)
    store.mark_dead(event.id, "connection no longer exists", "permanent")
    assert store.attempts_of(event.id) == []
    assert store.attempts_of("evt_unknown") == []


def test_attempts_go_with_their_event(store: Store, connection: ConnectionRecord) -> None:
    kept = _record(store, connection)
    store.start_attempt(kept.id, "task-1", lease_seconds=LEASE)
    discarded = _record(store, connection)
    # An attempt row on an event about to be discarded (a discard never follows a claim in
    # the code; the cascade is what retention would rely on too).
    with store._database.core_transaction() as sql:
        sql.execute(
            insert(EventAttemptRow.__table__),
            {
                "event_id": discarded.id,
                "replay": 0,
                "number": 1,
                "task_id": "t",
                "started_at": datetime.now(UTC),
            },
        )
    store.discard_event(discarded.id)
    assert store.attempts_of(discarded.id) == []
    assert len(store.attempts_of(kept.id)) == 1

    store.delete_connection(connection.id)
    assert store.attempts_of(kept.id) == []


def test_retry_now_queues_a_retrying_event_once(store: Store, connection: ConnectionRecord) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.mark_retrying(event.id, "GHL answered 503", _later())

    queued = store.retry_now(event.id)
    assert queued is not None
    assert (queued.status, queued.next_attempt_at, queued.attempts) == ("queued", None, 1)
    assert queued.last_error == "GHL answered 503"
    # Taken already: neither a second retry-now nor the sweep takes it again.
    assert store.retry_now(event.id) is None
    assert store.claim_for_sweep(now=_later(7200)) == []
    # The attempt claims it at once, its backoff skipped.
    assert store.start_attempt(event.id, "task-2", lease_seconds=LEASE) is not None


def test_retry_now_loses_to_the_sweep_that_came_first(
    store: Store, connection: ConnectionRecord
) -> None:
    event = _record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    store.mark_retrying(event.id, "timeout", datetime.now(UTC) - timedelta(seconds=1))
    assert [e.id for e in store.claim_for_sweep(now=datetime.now(UTC))] == [event.id]

    assert store.retry_now(event.id) is None
    stored = store.get_event(event.id)
    assert stored is not None
    assert stored.status == EventStatus.QUEUED


@pytest.mark.parametrize("status", ["queued", "done", "dead", "waiting"])
def test_retry_now_leaves_other_statuses_alone(
    store: Store, connection: ConnectionRecord, status: str
) -> None:
    event = _record(store, connection)
    if status != "queued":
        store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
    if status == "done":
        store.mark_done(event.id)
    elif status == "dead":
        store.mark_dead(event.id, "refused", "permanent")
    elif status == "waiting":
        store.park_connection(connection.id, "held")
        store.mark_waiting(event.id, "connection is parked: held", attempt="task-1")
    before = store.get_event(event.id)

    assert store.retry_now(event.id) is None
    assert store.get_event(event.id) == before


def test_retry_now_of_an_unknown_event(store: Store) -> None:
    with pytest.raises(NotFound):
        store.retry_now("evt_unknown")
