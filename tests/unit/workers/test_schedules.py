"""Statistics schedules: RedBeat entries in a real Redis made to match the connections."""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings

import pytest
import redis
from celery import Celery
from celery.schedules import schedule
from redbeat import RedBeatSchedulerEntry
from redbeat.schedulers import get_redis

from schemas.events import StatisticsRequested, load_event
from store import ConnectionRecord
from tests.brokerutil import queued_tasks
from tests.unit.workers.conftest import Bridge
from workers.dispatch import EnqueueError
from workers.schedules import (
    entry_name,
    reconcile_schedules,
    record_statistics_event,
)

PREFIX = "socialbridge:redbeat:"


def test_redbeat_gets_its_own_redis_options(celery: Celery) -> None:
    # Without `redbeat_redis_options`, celery-redbeat 2.4 falls back to the broker's transport
    # options with a DeprecationWarning; 2.5 drops the fallback.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_redis(celery).ping()

    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []


def stats_keys(redis_url: str) -> set[str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return set(client.scan_iter(match=f"{PREFIX}stats:*"))
    finally:
        client.close()


def entry(celery: Celery, connection: ConnectionRecord) -> RedBeatSchedulerEntry:
    return RedBeatSchedulerEntry.from_key(f"{PREFIX}{entry_name(connection.id)}", app=celery)


def test_entry_names_carry_the_connection_id() -> None:
    assert entry_name("con_1") == "stats:con_1"


def test_each_active_connection_gets_an_entry(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    daily = bridge.connection()
    hourly = bridge.connection(stats_interval_seconds=3600)

    changes = reconcile_schedules(celery, bridge.store.list_connections())

    assert changes == {"added": 2, "updated": 0, "removed": 0, "failed": 0}
    assert stats_keys(redis_url) == {f"{PREFIX}stats:{daily.id}", f"{PREFIX}stats:{hourly.id}"}
    saved = entry(celery, hourly)
    assert saved.task == "schedules.sync_statistics"
    assert saved.args == [hourly.id]
    assert saved.schedule.run_every == dt.timedelta(hours=1)
    # A run that could not start within half an interval is dropped: the next one comes.
    assert saved.options == {"expires": 1800}
    assert entry(celery, daily).schedule.run_every == dt.timedelta(days=1)


def test_short_intervals_expire_after_a_minute_at_least(bridge: Bridge, celery: Celery) -> None:
    # The store refuses intervals under 300 s; the floor still guards a record made otherwise.
    connection = dataclasses.replace(bridge.connection(), stats_interval_seconds=60)

    reconcile_schedules(celery, [connection])

    assert entry(celery, connection).options == {"expires": 60}


def test_nothing_changes_when_nothing_changed(bridge: Bridge, celery: Celery) -> None:
    bridge.connection()
    reconcile_schedules(celery, bridge.store.list_connections())

    again = reconcile_schedules(celery, bridge.store.list_connections())

    assert again == {"added": 0, "updated": 0, "removed": 0, "failed": 0}


def test_a_new_interval_updates_the_entry(bridge: Bridge, celery: Celery, redis_url: str) -> None:
    connection = bridge.connection()
    reconcile_schedules(celery, [connection])
    faster = dataclasses.replace(connection, stats_interval_seconds=900)

    changes = reconcile_schedules(celery, [faster])

    assert changes == {"added": 0, "updated": 1, "removed": 0, "failed": 0}
    assert entry(celery, connection).schedule.run_every == dt.timedelta(minutes=15)
    assert len(stats_keys(redis_url)) == 1


def test_parked_and_removed_connections_lose_their_entry(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    kept = bridge.connection()
    parked = bridge.connection()
    removed = bridge.connection()
    reconcile_schedules(celery, bridge.store.list_connections())
    bridge.store.park_connection(parked.id, "token refused")
    bridge.store.delete_connection(removed.id)

    changes = reconcile_schedules(celery, bridge.store.list_connections())

    assert changes == {"added": 0, "updated": 0, "removed": 2, "failed": 0}
    assert stats_keys(redis_url) == {f"{PREFIX}stats:{kept.id}"}
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        due = client.zrange(f"{PREFIX}:schedule", 0, -1)
    finally:
        client.close()
    assert due == [f"{PREFIX}stats:{kept.id}"]


def test_other_schedule_entries_are_left_alone(bridge: Bridge, celery: Celery) -> None:
    RedBeatSchedulerEntry(
        name="nightly-report",
        task="reports.nightly",
        schedule=schedule(run_every=dt.timedelta(days=1)),
        app=celery,
    ).save()

    changes = reconcile_schedules(celery, [])

    assert changes == {"added": 0, "updated": 0, "removed": 0, "failed": 0}
    kept = RedBeatSchedulerEntry.from_key(f"{PREFIX}nightly-report", app=celery)
    assert kept.task == "reports.nightly"


def test_the_reconcile_task_reads_the_connections_from_the_store(
    bridge: Bridge, celery: Celery
) -> None:
    bridge.connection()

    result = celery.tasks["schedules.reconcile"].apply()

    assert result.get() == {"added": 1, "updated": 0, "removed": 0, "failed": 0}


# --- a scheduled run ------------------------------------------------------------------------


def test_a_statistics_event_nobody_sent_is_recorded_with_its_source(bridge: Bridge) -> None:
    connection = bridge.connection()

    event = record_statistics_event(bridge.store, connection.id, source="cli")

    assert event.source == "cli"
    assert event.type == "statistics.requested"
    assert event.status == "queued"
    assert event.webhook_id is None
    loaded = load_event(event.payload)
    assert loaded.data == StatisticsRequested()
    assert event.payload["data"] == {}


def test_a_scheduled_run_records_and_enqueues_a_statistics_event(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    connection = bridge.connection()

    task_id = celery.tasks["schedules.sync_statistics"].apply(args=[connection.id]).get()

    [event] = bridge.store.list_events(connection_id=connection.id)
    assert event.source == "schedule"
    assert event.type == "statistics.requested"
    assert task_id.startswith(f"{event.id}-")
    [task] = queued_tasks(redis_url)
    assert task.name == "flows.sync_statistics"
    assert task.args == [event.id, event.payload]


@pytest.mark.parametrize("gone", ["parked", "removed"])
def test_a_scheduled_run_of_a_parked_or_removed_connection_does_nothing(
    bridge: Bridge, celery: Celery, redis_url: str, gone: str
) -> None:
    connection = bridge.connection()
    if gone == "parked":
        bridge.store.park_connection(connection.id, "token refused")
    else:
        bridge.store.delete_connection(connection.id)

    result = celery.tasks["schedules.sync_statistics"].apply(args=[connection.id]).get()

    assert result is None
    assert bridge.store.list_events() == []
    assert queued_tasks(redis_url) == []


def test_a_scheduled_run_that_cannot_be_enqueued_leaves_no_event(
    bridge: Bridge, celery_without_redis: Celery
) -> None:
    connection = bridge.connection()

    result = celery_without_redis.tasks["schedules.sync_statistics"].apply(args=[connection.id])

    assert isinstance(result.result, EnqueueError)
    assert bridge.store.list_events() == []


def test_a_connection_that_cannot_be_scheduled_never_holds_up_the_others(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    broken = bridge.connection()
    healthy = bridge.connection()
    # An interval no schedule can hold, as an older version could store it.
    impossible = dataclasses.replace(broken, stats_interval_seconds=9_223_372_036_854_775_807)

    changes = reconcile_schedules(celery, [impossible, healthy])

    assert changes == {"added": 1, "updated": 0, "removed": 0, "failed": 1}
    assert stats_keys(redis_url) == {f"{PREFIX}stats:{healthy.id}"}
