"""The recovery sweep: what the store says is due goes (back) on the queue.

The event log, not a message held in some worker, decides when an event runs next. Every
``SWEEP_INTERVAL`` seconds one process (whichever takes the Redis lock first: every worker's
main process and beat run a sweeper thread, so recovery never hangs on one of them) enqueues:

- ``retrying`` events whose ``next_attempt_at`` has come (the only way a retry is sent);
- ``processing`` events whose lease ran out: their attempt died with its worker, was killed
  by the hard time limit, or was cancelled when the worker lost Redis;
- ``queued`` events unchanged for ``QUEUED_LOST_AFTER`` seconds that have no message in
  Redis, neither waiting on the queue nor taken by a worker: Redis lost data (a restart on
  an AOF that missed its last second), or the message never left. An event still waiting
  its turn in a long backlog is left alone, and one whose message a dead worker holds comes
  back when Redis restores it (``BROKER_VISIBILITY_TIMEOUT``).

Running an event twice is harmless (a message for an event that is done, not due or running
under a live lease does nothing; write-backs carry stable ids), so the sweep errs on the side
of enqueueing.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery
from celery.signals import beat_init, worker_ready, worker_shutdown

from socialbridge.config import Settings
from socialbridge.logs import get_logger
from store import EventRecord, Store
from workers.celery_app import QUEUE
from workers.dispatch import enqueue_event, event_id_of_task

log = get_logger(__name__)

LOCK_KEY = "socialbridge:sweep:lock"
# Where kombu's Redis transport keeps messages delivered to a worker and not yet acknowledged.
UNACKED_KEY = "unacked"
BATCH = 500


def events_on_broker(client: redis.Redis[bytes]) -> set[str]:
    """Ids of the events that have a message in Redis: waiting on the queue, or delivered to
    a worker and not yet acknowledged (running, or held by a worker that died)."""
    envelopes = [_loads(raw) for raw in client.lrange(QUEUE, 0, -1)]
    # kombu keeps an unacknowledged message as [message, exchange, routing key].
    for held in client.hvals(UNACKED_KEY):
        entry = _loads(held)
        envelopes.append(entry[0] if isinstance(entry, list) and entry else None)
    found = set()
    for envelope in envelopes:
        try:
            task_id = envelope["headers"]["id"]
        except (KeyError, TypeError):
            continue  # not a Celery task message: not ours to judge
        event_id = event_id_of_task(str(task_id))
        if event_id is not None:
            found.add(event_id)
    return found


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def sweep(
    store: Store,
    enqueue: Callable[[EventRecord], object],
    settings: Settings,
    *,
    now: dt.datetime,
    on_broker: Callable[[], set[str]],
) -> list[str]:
    """Claim what is due and enqueue it; return the ids enqueued.

    ``on_broker`` reads which events have a message in Redis; it is asked only when some
    ``queued`` event has waited longer than ``QUEUED_LOST_AFTER``. An enqueue that fails
    stops the sweep: the events it had claimed are ``queued`` without a message, and a later
    sweep finds them again.
    """
    queued_before = now - dt.timedelta(seconds=settings.queued_lost_after)
    lost: set[str] = set()
    stale = store.stale_queued(before=queued_before, limit=BATCH)
    if stale:
        lost = set(stale) - on_broker()
    enqueued = []
    claimed = store.claim_for_sweep(
        now=now, lost_queued=lost, queued_before=queued_before, limit=BATCH
    )
    for event in claimed:
        enqueue(event)
        enqueued.append(event.id)
        log.info("event.swept", event_id=event.id, event_type=event.type)
    return enqueued


class Sweeper:
    """A daemon thread that runs `sweep` every ``SWEEP_INTERVAL`` when it holds the lock.

    It builds its own store and Redis client, apart from the process's `Services`: the
    prefork pool forks children from the process this thread runs in, and must not hand
    them anything this thread may be holding a lock on.
    """

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._token = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._redis: redis.Redis[bytes] | None = None
        self._failing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="recovery-sweep", daemon=True)
        self._thread.start()
        log.info("sweep.started", interval=self.settings.sweep_interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.sweep_interval + 10)
        if self._store is not None:
            self._store.dispose()
        if self._redis is not None:
            self._redis.close()

    def run_once(self, now: dt.datetime | None = None) -> list[str] | None:
        """One sweep if this process wins the lock (None when another one holds it).

        The lock lives for one interval and is not released: however many processes run a
        sweeper, the sweep runs about once per interval.
        """
        client = self._client()
        ttl_ms = max(1, int(self.settings.sweep_interval * 1000))
        if not client.set(LOCK_KEY, self._token, nx=True, px=ttl_ms):
            return None
        if self._store is None:
            self._store = Store.from_settings(self.settings)
        return sweep(
            self._store,
            lambda event: enqueue_event(self.app, event),
            self.settings,
            now=now or dt.datetime.now(dt.UTC),
            on_broker=lambda: events_on_broker(client),
        )

    def _client(self) -> redis.Redis[bytes]:
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                self.settings.redis_url, socket_connect_timeout=3, socket_timeout=10
            )
        return self._redis

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.sweep_interval):
            try:
                self.run_once()
            except Exception as exc:  # Redis or the database away: try again next interval
                if not self._failing:
                    log.warning("sweep.failed", error=repr(exc))
                self._failing = True
            else:
                if self._failing:
                    log.info("sweep.recovered")
                self._failing = False


_sweepers: list[Sweeper] = []


def _start(app: Celery) -> None:
    sweeper = Sweeper(app, app.services.settings)
    sweeper.start()
    _sweepers.append(sweeper)


def _start_in_worker(sender: Any, **_: Any) -> None:
    # Sent in the worker's main process once it consumes (the sender is its Consumer).
    _start(sender.app)


def _start_in_beat(sender: Any, **_: Any) -> None:
    _start(sender.app)


def _stop_all(**_: Any) -> None:
    while _sweepers:
        _sweepers.pop().stop()


# Celery's signals are process-wide: these fire only in a real worker or beat process.
worker_ready.connect(_start_in_worker, weak=False)
beat_init.connect(_start_in_beat, weak=False)
worker_shutdown.connect(_stop_all, weak=False)
