"""The recovery sweep on a real store and a real Redis: what is due goes back on the queue."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import redis
from celery import Celery

from store import ConnectionRecord, EventRecord
from tests.brokerutil import queued_tasks
from tests.unit.workers.conftest import Bridge
from workers.celery_app import QUEUE
from workers.dispatch import EnqueueError, enqueue_event
from workers.schedules import record_statistics_event
from workers.sweeper import LOCK_KEY, UNACKED_KEY, Sweeper, events_on_broker, sweep

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
    bridge: Bridge, celery: Celery, *, after: float = 0.0, on_broker: set[str] | None = None
) -> list[str]:
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=after)
    return sweep(
        bridge.store,
        lambda event: enqueue_event(celery, event),
        bridge.settings,
        now=now,
        on_broker=lambda: set() if on_broker is None else on_broker,
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


def test_a_queued_event_is_sent_again_only_when_redis_has_no_message_for_it(
    bridge: Bridge, celery: Celery
) -> None:
    waiting, lost = new_event(bridge), new_event(bridge)
    lost_after = bridge.settings.queued_lost_after + 1

    # `waiting` has its message in Redis (a backlog taking its turn); `lost` has none.
    enqueued = run_sweep(bridge, celery, after=lost_after, on_broker={waiting.id})

    assert enqueued == [lost.id]
    # It starts a new wait: the next sweep does not send it again at once.
    assert run_sweep(bridge, celery, after=lost_after, on_broker={waiting.id}) == []


def test_a_fresh_queued_event_is_left_alone(bridge: Bridge, celery: Celery) -> None:
    new_event(bridge)

    assert run_sweep(bridge, celery) == []


def test_done_and_dead_events_are_never_swept(bridge: Bridge, celery: Celery) -> None:
    done, dead = new_event(bridge), new_event(bridge)
    bridge.store.mark_done(done.id)
    bridge.store.mark_dead(dead.id, "GHL 400", "permanent")

    assert run_sweep(bridge, celery, after=3600) == []


def test_an_enqueue_failure_stops_the_sweep_and_loses_nothing(
    bridge: Bridge, celery_without_redis: Celery
) -> None:
    event = new_event(bridge)
    bridge.store.start_attempt(event.id, "task-1", lease_seconds=3)

    with pytest.raises(EnqueueError):
        run_sweep(bridge, celery_without_redis, after=5)

    # Claimed as queued: the lost-message rule finds it once Redis answers again.
    assert status_of(bridge, event) == "queued"


def test_the_events_on_the_broker_are_read_from_the_queue_and_the_unacknowledged(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    waiting, taken = new_event(bridge), new_event(bridge)
    enqueue_event(celery, waiting)
    enqueue_event(celery, taken)
    client = redis.Redis.from_url(redis_url)
    try:
        assert events_on_broker(client) == {waiting.id, taken.id}
        # A worker takes one: kombu moves it to the unacknowledged hash, as it is.
        message = client.rpop(QUEUE)
        assert message is not None
        client.hset(UNACKED_KEY, "tag-1", json.dumps([json.loads(message), "", QUEUE]))
        client.hset(UNACKED_KEY, "tag-2", b"not json")  # never ours to judge
        client.lpush(QUEUE, json.dumps({"headers": {"id": "other-task"}}))
        assert events_on_broker(client) == {waiting.id, taken.id}
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
