"""Per-connection statistics schedules, kept in Redis by RedBeat.

Beat runs `schedules.reconcile` every minute; it makes the RedBeat entries match the active
connections in the store (new connection: entry added; interval changed: updated; removed or
parked: deleted). Each entry fires `schedules.sync_statistics`, which records an event and
queues the same statistics flow a webhook would.

Beat also runs `schedules.recover_stale` every minute: an event whose message was lost (a task
killed by the hard time limit is acknowledged by Celery; Redis can lose its data) would stay
`queued`, `processing` or `retrying` for ever; the sweep puts it back on the queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from celery import Celery, Task, shared_task
from celery.schedules import schedule
from redbeat import RedBeatSchedulerEntry
from redbeat.schedulers import get_redis

from schemas.events import STATISTICS_REQUESTED, CrmEvent, StatisticsRequested, dump_event
from socialbridge.config import Settings
from socialbridge.logs import get_logger
from store import ConnectionRecord, EventRecord, Store
from workers.dispatch import enqueue_event

log = get_logger(__name__)

ENTRY_PREFIX = "stats:"


def entry_name(connection_id: str) -> str:
    return f"{ENTRY_PREFIX}{connection_id}"


def reconcile_schedules(app: Celery, connections: Iterable[ConnectionRecord]) -> dict[str, int]:
    """Make the RedBeat entries equal the active connections; return what changed."""
    wanted = {entry_name(c.id): c for c in connections if c.status == "active"}
    redis = get_redis(app)
    prefix = app.redbeat_conf.key_prefix
    existing = {
        key.decode() if isinstance(key, bytes) else key
        for key in redis.scan_iter(match=f"{prefix}{ENTRY_PREFIX}*")
    }
    changes = {"added": 0, "updated": 0, "removed": 0}
    for key in existing:
        name = key[len(prefix) :]
        if name not in wanted:
            RedBeatSchedulerEntry.from_key(key, app=app).delete()
            changes["removed"] += 1
    for name, connection in wanted.items():
        interval = dt.timedelta(seconds=connection.stats_interval_seconds)
        key = f"{prefix}{name}"
        if key in existing:
            current = RedBeatSchedulerEntry.from_key(key, app=app)
            if current.schedule.run_every == interval:
                continue
            changes["updated"] += 1
        else:
            changes["added"] += 1
        RedBeatSchedulerEntry(
            name=name,
            task="schedules.sync_statistics",
            schedule=schedule(run_every=interval),
            args=[connection.id],
            options={"expires": max(60, connection.stats_interval_seconds // 2)},
            app=app,
        ).save()
    if any(changes.values()):
        log.info("schedules.reconciled", **changes)
    return changes


def record_statistics_event(store: Store, connection_id: str, source: str) -> EventRecord:
    """An event for a statistics run nobody sent a webhook for (schedule or CLI)."""
    event = CrmEvent(
        type=STATISTICS_REQUESTED,
        timestamp=dt.datetime.now(dt.UTC),
        data=StatisticsRequested(),
    )
    record, _ = store.record_event(
        connection_id=connection_id,
        type=STATISTICS_REQUESTED,
        payload=dump_event(event),
        source=source,
    )
    return record


# How long past its deadline an event must be before the sweep believes its message is gone.
STALE_GRACE = dt.timedelta(minutes=5)


def recover_stale_events(
    app: Celery, store: Store, settings: Settings, *, now: dt.datetime | None = None
) -> list[str]:
    """Re-enqueue events nothing will run any more; return their ids.

    Deadlines: a `processing` attempt cannot outlive TASK_TIME_LIMIT; a `queued` or due
    `retrying` message not taken within BROKER_VISIBILITY_TIMEOUT was lost. Running an event
    twice is safe (flows are idempotent, a done event is skipped), losing it is not.
    """
    now = now or dt.datetime.now(dt.UTC)
    lost_after = dt.timedelta(seconds=settings.broker_visibility_timeout) + STALE_GRACE
    stale = store.find_stale_events(
        processing_started_before=now
        - dt.timedelta(seconds=settings.task_time_limit)
        - STALE_GRACE,
        queued_before=now - lost_after,
        retrying_due_before=now - lost_after,
    )
    recovered = []
    for event in stale:
        enqueue_event(app, event)
        store.touch_event(event.id)
        recovered.append(event.id)
        log.warning("event.recovered", event_id=event.id, status=event.status)
    return recovered


@shared_task(bind=True, name="schedules.recover_stale", acks_late=True, soft_time_limit=50)
def recover_stale(self: Task) -> list[str]:
    services = self.app.services
    return recover_stale_events(self.app, services.store, services.settings)


@shared_task(bind=True, name="schedules.reconcile", acks_late=True, soft_time_limit=50)
def reconcile(self: Task) -> dict[str, int]:
    store: Store = self.app.services.store
    return reconcile_schedules(self.app, store.list_connections())


@shared_task(bind=True, name="schedules.sync_statistics", acks_late=True, soft_time_limit=30)
def scheduled_statistics(self: Task, connection_id: str) -> Any:
    store: Store = self.app.services.store
    connection = store.get_connection(connection_id)
    if connection is None or connection.status != "active":
        log.info("schedules.skipped", connection_id=connection_id)
        return None
    event = record_statistics_event(store, connection_id, source="schedule")
    try:
        return enqueue_event(self.app, event)
    except Exception:
        store.discard_event(event.id)
        raise
