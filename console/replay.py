"""Replaying events and retrying them now: one place for `socialbridge events replay|retry-now`
and the console's buttons.

A replay puts a finished event back on the queue with a fresh attempt budget (`Store.requeue`)
and sends its task. Only a finished event (done or dead) may be replayed: one still under way
has a message or a sweep coming, and a waiting one runs when its connection is active again.

"Retry now" sends a ``retrying`` event at once instead of when its backoff ends: its attempts
keep their count. The store takes it off its backoff with one conditional UPDATE
(`Store.retry_now`), the way the recovery sweep takes due events, so a retry-now racing the
sweep (or another retry-now) sends the event once: whichever comes second finds it taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from store import ErrorKind, EventRecord, EventStatus, Store
from workers.dispatch import EnqueueError, enqueue_event

FINISHED = (EventStatus.DONE.value, EventStatus.DEAD.value)
# The most dead events one "replay all" takes at once.
REPLAY_ALL_LIMIT = 1000


class NotFinished(Exception):
    """The event is still under way (or waiting): left alone."""

    def __init__(self, event: EventRecord) -> None:
        super().__init__(f"{event.id}: still {event.status}, left alone")
        self.event = event


class NotEnqueued(Exception):
    """The broker did not take the replay's task: the event is left dead, to try again.
    Raised by `replay_dead`, it carries the events replayed before it (``replayed``)."""

    def __init__(self, event: EventRecord, cause: EnqueueError) -> None:
        super().__init__(f"{event.id}: {cause} (left dead; try again)")
        self.event = event
        self.replayed: list[Replayed] = []


class NotRetrying(Exception):
    """The event is not ``retrying`` (any more): left alone."""

    def __init__(self, event: EventRecord) -> None:
        super().__init__(f"{event.id}: {event.status}, not waiting for a retry; left alone")
        self.event = event


class RetryNotSent(Exception):
    """The broker did not take the task: the event is ``queued`` without a message, and the
    recovery sweep sends it after QUEUED_LOST_AFTER."""

    def __init__(self, event: EventRecord, cause: EnqueueError) -> None:
        super().__init__(f"{event.id}: {cause} (queued; the recovery sweep sends it shortly)")
        self.event = event


@dataclass(frozen=True)
class Replayed:
    """An event sent again: what it was, what it is now and its new task."""

    event_id: str
    type: str
    was: str
    status: str
    task_id: str


def replay_event(store: Store, celery: Celery, event: EventRecord) -> Replayed:
    """Queue ``event`` again; NotFinished when it is not done or dead, NotEnqueued when the
    broker refused its task (the event is then dead, with that as its error)."""
    if event.status not in FINISHED:
        raise NotFinished(event)
    requeued = store.requeue(event.id)
    try:
        task_id = enqueue_event(celery, requeued)
    except EnqueueError as exc:
        store.mark_dead(
            event.id,
            f"replay could not be enqueued: {exc}",
            event.error_kind or ErrorKind.RETRYABLE_EXHAUSTED,
        )
        raise NotEnqueued(event, exc) from exc
    return Replayed(
        event_id=event.id,
        type=event.type,
        was=event.status,
        status=requeued.status,
        task_id=task_id,
    )


def dead_events(store: Store, connection_id: str | None = None) -> list[EventRecord]:
    """The dead events (of one connection, or all), newest first, at most REPLAY_ALL_LIMIT."""
    return store.list_events(
        connection_id=connection_id, status=EventStatus.DEAD.value, limit=REPLAY_ALL_LIMIT
    )


def replay_dead(store: Store, celery: Celery, connection_id: str | None) -> list[Replayed]:
    """Replay every dead event of a connection (or of all); stops at the first the broker
    refuses (NotEnqueued, with the ones before it as its ``replayed``: those are queued, that
    one and the rest stay dead)."""
    replayed: list[Replayed] = []
    for event in dead_events(store, connection_id):
        try:
            replayed.append(replay_event(store, celery, event))
        except NotEnqueued as exc:
            exc.replayed = replayed
            raise
    return replayed


def retry_now(store: Store, celery: Celery, event: EventRecord) -> Replayed:
    """Send a ``retrying`` event now; NotRetrying when it is not (or no longer) retrying,
    RetryNotSent when the broker refused its task."""
    queued = store.retry_now(event.id)
    if queued is None:
        raise NotRetrying(store.get_event(event.id) or event)
    try:
        task_id = enqueue_event(celery, queued)
    except EnqueueError as exc:
        raise RetryNotSent(queued, exc) from exc
    return Replayed(
        event_id=event.id,
        type=event.type,
        was=EventStatus.RETRYING.value,
        status=queued.status,
        task_id=task_id,
    )


def retrying_events(store: Store, connection_id: str | None = None) -> list[EventRecord]:
    """The retrying events (of one connection, or all), newest first, at most
    REPLAY_ALL_LIMIT."""
    return store.list_events(
        connection_id=connection_id, status=EventStatus.RETRYING.value, limit=REPLAY_ALL_LIMIT
    )


def retry_all_now(store: Store, celery: Celery, connection_id: str | None) -> list[Replayed]:
    """Send every retrying event of a connection (or of all) now. One taken meanwhile (by the
    sweep, an attempt) is skipped; stops at the first the broker refuses (RetryNotSent: the
    ones before it are sent, that one is queued for the sweep, the rest keep retrying)."""
    sent: list[Replayed] = []
    for event in retrying_events(store, connection_id):
        try:
            sent.append(retry_now(store, celery, event))
        except NotRetrying:
            continue
    return sent
