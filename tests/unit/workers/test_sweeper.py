"""The recovery sweep on a real store and a real Redis: what is due goes back on the queue."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from celery import Celery

from store import ConnectionRecord, EventRecord
from tests.brokerutil import queued_tasks
from tests.unit.workers.conftest import Bridge
from workers.dispatch import EnqueueError, enqueue_event
from workers.schedules import record_statistics_event
from workers.sweeper import LOCK_KEY, Sweeper, broker_messages, sweep

LEASE = 20


def new_event(bridge: Bridge) -> EventRecord:
    """A statistics event of the test's one connection, ``queued`` as recorded."""
    connection = bridge.store.list_connections()[0]
    return record_statistics_event(bridge.store, connection.id, source="cli")


def status_of(bridge: Bridge, event: EventRecord) -> str:
    found = bridge.store.get_event(event.id)
    assert found is not None
    return found.status


@pytest.fixture(autouse=True)
def connection(bridge: Bridge) -> ConnectionRecord:
    return bridge.connection()


def run_sweep(
    bridge: Bridge, celery: Celery, *, after: float = 0.0, messages: int | None = 0
) -> list[str]:
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=after)
    return sweep(
        bridge.store,
        lambda event: enqueue_event(celery, event),
        bridge.settings,
        now=now,
        messages=messages,
    )


def test_a_due_retry_is_enqueued_and_one_not_yet_due_is_not(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    soon, later = new_event(bridge), new_event(bridge)
    for event, wait in ((soon, 5), (later, 300)):
        bridge.store.start_attempt(event.id, "task-1", lease_seconds=LEASE)
        bridge.store.mark_retrying(
            event.id, "GHL 500", dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
        )

    enqueued = run_sweep(bridge, celery, after=10)

    assert enqueued == [soon.id]
    assert status_of(bridge, soon) == "queued"
    assert status_of(bridge, later) == "retrying"
    assert [task.args[0] for task in queued_tasks(redis_url)] == [soon.id]
    # No countdown: the message is due the moment it is sent.
    assert [task.eta for task in queued_tasks(redis_url)] == [None]


def test_an_attempt_whose_lease_ran_out_is_enqueued_again(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    dead_attempt, live_attempt = new_event(bridge), new_event(bridge)
    bridge.store.start_attempt(dead_attempt.id, "task-dead", lease_seconds=3)
    bridge.store.start_attempt(live_attempt.id, "task-live", lease_seconds=600)

    enqueued = run_sweep(bridge, celery, after=5)

    assert enqueued == [dead_attempt.id]
    assert status_of(bridge, dead_attempt) == "queued"
    assert status_of(bridge, live_attempt) == "processing"


def test_a_renewed_lease_keeps_the_attempt_its_own(bridge: Bridge) -> None:
    event = new_event(bridge)
    bridge.store.start_attempt(event.id, "task-1", lease_seconds=3)

    assert bridge.store.renew_lease(event.id, "task-1", lease_seconds=600)
    assert not bridge.store.renew_lease(event.id, "task-other", lease_seconds=600)
    renewed = bridge.store.get_event(event.id)
    assert renewed is not None
    assert renewed.lease_expires_at is not None
    assert renewed.lease_expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=500)


def test_queued_events_count_as_lost_only_when_redis_holds_fewer_messages(
    bridge: Bridge, celery: Celery
) -> None:
    waiting = [new_event(bridge) for _ in range(3)]
    lost_after = bridge.settings.queued_lost_after + 1

    # Three messages for three queued events: a backlog waiting its turn, nothing lost.
    assert run_sweep(bridge, celery, after=lost_after, messages=3) == []
    # Fewer messages than events in flight: some were lost; the stale ones go again.
    enqueued = run_sweep(bridge, celery, after=lost_after, messages=1)

    assert sorted(enqueued) == sorted(event.id for event in waiting)
    # Each starts a new wait: the next sweep does not send them again at once.
    assert run_sweep(bridge, celery, after=lost_after, messages=0) == []


def test_a_fresh_queued_event_is_left_alone(bridge: Bridge, celery: Celery) -> None:
    new_event(bridge)

    assert run_sweep(bridge, celery, messages=0) == []


def test_done_and_dead_events_are_never_swept(bridge: Bridge, celery: Celery) -> None:
    done, dead = new_event(bridge), new_event(bridge)
    bridge.store.mark_done(done.id)
    bridge.store.mark_dead(dead.id, "GHL 400", "permanent")

    assert run_sweep(bridge, celery, after=3600, messages=None) == []


def test_an_enqueue_failure_stops_the_sweep_and_loses_nothing(
    bridge: Bridge, celery_without_redis: Celery
) -> None:
    event = new_event(bridge)
    bridge.store.start_attempt(event.id, "task-1", lease_seconds=3)

    with pytest.raises(EnqueueError):
        run_sweep(bridge, celery_without_redis, after=5)

    # Claimed as queued: the lost-message rule finds it once Redis answers again.
    assert status_of(bridge, event) == "queued"


def test_broker_messages_counts_waiting_and_unacknowledged(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert broker_messages(client) == 0
        enqueue_event(celery, new_event(bridge))
        client.hset("unacked", "tag-1", "{}")
        assert broker_messages(client) == 2
    finally:
        client.close()


def test_one_sweep_per_interval_whichever_process_asks(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    settings = bridge.settings.replace(redis_url=redis_url, sweep_interval=30.0)
    first, second = Sweeper(celery, settings), Sweeper(celery, settings)
    try:
        assert first.run_once() == []
        # The lock outlives the sweep for the interval: another process skips its turn.
        assert second.run_once() is None
        client = redis.Redis.from_url(redis_url)
        try:
            assert 0 < client.pttl(LOCK_KEY) <= 30_000
            client.delete(LOCK_KEY)
        finally:
            client.close()
        assert second.run_once() == []
    finally:
        first.stop()
        second.stop()
