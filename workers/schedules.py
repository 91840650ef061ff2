"""Per-connection statistics schedules, kept in Redis by RedBeat.

Beat runs `schedules.reconcile` every minute; it makes the RedBeat entries match the active
connections in the store (new connection: entry added; interval changed: updated; removed or
parked: deleted). Each connection is reconciled on its own: one that cannot be scheduled is
logged and skipped, and never holds up the others. Each entry fires
`schedules.sync_statistics`, which records an event and queues the same statistics flow a
webhook would.

Lost messages and due retries are the recovery sweep's (workers/sweeper.py), not beat's.
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
    changes = {"added": 0, "updated": 0, "removed": 0, "failed": 0}
    for key in existing:
        name = key[len(prefix) :]
        if name not in wanted:
            try:
                RedBeatSchedulerEntry.from_key(key, app=app).delete()
            except Exception as exc:  # an entry RedBeat cannot read must not stop the rest
                changes["failed"] += 1
                log.error("schedules.remove_failed", entry=name, error=repr(exc))
                continue
            changes["removed"] += 1
    for name, connection in wanted.items():
        try:
            change = _reconcile_one(app, f"{prefix}{name}", name, connection, existing)
        except Exception as exc:  # e.g. an interval no schedule can hold: skip this one only
            changes["failed"] += 1
            log.error("schedules.reconcile_failed", connection_id=connection.id, error=repr(exc))
            continue
        if change is not None:
            changes[change] += 1
    if any(changes.values()):
        log.info("schedules.reconciled", **changes)
    return changes


def _reconcile_one(
    app: Celery, key: str, name: str, connection: ConnectionRecord, existing: set[str]
) -> str | None:
    """Make one connection's entry right; return "added", "updated" or None (unchanged)."""
    interval = dt.timedelta(seconds=connection.stats_interval_seconds)
    change = "added"
    if key in existing:
        current = RedBeatSchedulerEntry.from_key(key, app=app)
        if current.schedule.run_every == interval:
            return None
        change = "updated"
    RedBeatSchedulerEntry(
        name=name,
        task="schedules.sync_statistics",
        schedule=schedule(run_every=interval),
        args=[connection.id],
        options={"expires": max(60, connection.stats_interval_seconds // 2)},
        app=app,
    ).save()
    return change


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
