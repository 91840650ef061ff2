"""console.replay: one event, or every dead one of a connection, queued again on Redis; and
retrying events sent now instead of when their backoff ends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from celery import Celery

from console.replay import (
    NotEnqueued,
    NotFinished,
    NotRetrying,
    RetryNotSent,
    replay_dead,
    replay_event,
    retry_all_now,
    retry_now,
)
from socialbridge.config import Settings
from socialbridge.embedded_redis import free_port
from store import ConnectionRecord, EventRecord, Store
from tests.brokerutil import queue_length, queued_tasks
from tests.unit.console.conftest import SECRET_KEY
from tests.unit.console.eventutil import record
from workers.celery_app import make_celery


def celery_on(redis_url: str) -> Celery:
    return make_celery(Settings.from_mapping({"secret_key": SECRET_KEY, "redis_url": redis_url}))


@pytest.fixture
def celery(redis_url: str) -> Iterator[Celery]:
    app = celery_on(redis_url)
    yield app
    app.close()


def test_a_dead_event_is_queued_again_with_a_fresh_budget(
    store: Store, celery: Celery, redis_url: str
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    dead = record(store, acme, "dead", error="ghl: down")

    replayed = replay_event(store, celery, dead)

    [task] = queued_tasks(redis_url)
    assert (replayed.event_id, replayed.was, replayed.status) == (dead.id, "dead", "queued")
    assert replayed.task_id == task.id
    assert task.args == [dead.id, dead.payload]
    after = store.get_event(dead.id)
    assert after is not None
    assert (after.status, after.attempts, after.replays) == ("queued", 0, 1)
    assert after.last_error == "ghl: down"


def test_an_event_under_way_is_left_alone(store: Store, celery: Celery, redis_url: str) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    queued = record(store, acme)

    with pytest.raises(NotFinished, match="still queued, left alone"):
        replay_event(store, celery, queued)

    assert queue_length(redis_url) == 0


def test_replay_dead_takes_only_that_connections_dead_events(
    store: Store, celery: Celery, redis_url: str
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    zeta = store.create_connection(name="zeta", location_id="loc_z", ghl_token="t")
    dead = {record(store, acme, "dead").id for _ in range(2)}
    record(store, acme, "done")
    other = record(store, zeta, "dead")

    replayed = replay_dead(store, celery, acme.id)

    assert {r.event_id for r in replayed} == dead
    assert queue_length(redis_url) == 2
    still = store.get_event(other.id)
    assert still is not None
    assert still.status == "dead"


def test_replay_dead_of_no_connection_takes_every_connections(
    store: Store, celery: Celery, redis_url: str
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    zeta = store.create_connection(name="zeta", location_id="loc_z", ghl_token="t")
    dead = {record(store, acme, "dead").id, record(store, zeta, "dead").id}
    record(store, zeta, "done")

    replayed = replay_dead(store, celery, None)

    assert {r.event_id for r in replayed} == dead
    assert queue_length(redis_url) == 2


def test_replay_dead_the_broker_refuses_stops_there_saying_what_it_queued(
    store: Store,
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    dead = [record(store, acme, "dead") for _ in range(2)]
    nowhere = celery_on(f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(NotEnqueued, match="left dead; try again") as refused:
        replay_dead(store, nowhere, acme.id)
    nowhere.close()

    assert refused.value.replayed == []
    for event in dead:
        after = store.get_event(event.id)
        assert after is not None
        assert after.status == "dead"


def test_a_replay_the_broker_refuses_leaves_the_event_dead(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    dead = record(store, acme, "dead")
    nowhere = celery_on(f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(NotEnqueued, match="left dead; try again"):
        replay_event(store, nowhere, dead)
    nowhere.close()

    after = store.get_event(dead.id)
    assert after is not None
    assert after.status == "dead"
    assert after.last_error is not None
    assert after.last_error.startswith("replay could not be enqueued: ")


def retrying(store: Store, connection: ConnectionRecord) -> EventRecord:
    event = record(store, connection)
    store.start_attempt(event.id, "task-1", lease_seconds=20)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return store.mark_retrying(event.id, "ghl: 503", due)


def test_a_retrying_event_is_sent_now_keeping_its_attempts(
    store: Store, celery: Celery, redis_url: str
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    event = retrying(store, acme)

    sent = retry_now(store, celery, event)

    [task] = queued_tasks(redis_url)
    assert (sent.event_id, sent.was, sent.status, sent.task_id) == (
        event.id,
        "retrying",
        "queued",
        task.id,
    )
    assert task.args == [event.id, event.payload]
    after = store.get_event(event.id)
    assert after is not None
    assert (after.status, after.attempts, after.replays, after.next_attempt_at) == (
        "queued",
        1,
        0,
        None,
    )


def test_retry_now_racing_the_sweep_sends_the_event_once(
    store: Store, celery: Celery, redis_url: str
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    event = retrying(store, acme)
    # The sweep (its time come) took the event between the page's read and the press.
    assert store.claim_for_sweep(now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))

    with pytest.raises(NotRetrying, match="queued, not waiting for a retry"):
        retry_now(store, celery, event)

    assert queue_length(redis_url) == 0  # the sweep sends it, not us


def test_retry_all_now_takes_only_that_connections_retrying_events(
    store: Store, celery: Celery, redis_url: str
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    zeta = store.create_connection(name="zeta", location_id="loc_z", ghl_token="t")
    mine = {retrying(store, acme).id for _ in range(2)}
    record(store, acme, "dead")
    other = retrying(store, zeta)

    sent = retry_all_now(store, celery, acme.id)

    assert {s.event_id for s in sent} == mine
    assert queue_length(redis_url) == 2
    assert store.get_event(other.id) == other


def test_a_retry_now_the_broker_refuses_is_left_queued_for_the_sweep(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    event = retrying(store, acme)
    nowhere = celery_on(f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(RetryNotSent, match="the recovery sweep sends it"):
        retry_now(store, nowhere, event)
    nowhere.close()

    after = store.get_event(event.id)
    assert after is not None
    # Queued without a message: what the sweep looks for (stale_queued, QUEUED_LOST_AFTER).
    assert after.status == "queued"
