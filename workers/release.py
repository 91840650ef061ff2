"""Putting a connection's waiting events back on the queue once it is active again.

The store releases them (`Store.activate_connection`, or `Store.save_oauth_tokens` for a
completed re-authorization): ``waiting`` becomes ``queued`` in the transaction that makes the
connection active, oldest first. This module sends them, in that order, at once: nothing waits
for beat or for the recovery sweep unless the broker refuses.

    released = activate_and_enqueue(store, celery, connection.id)   # connections activate
    connection, released = store.save_oauth_tokens(..., authorized=True)
    enqueue_released(celery, released)                                 # the OAuth callback
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from socialbridge.logs import get_logger
from store import EventRecord, Store
from workers.dispatch import EnqueueError, enqueue_event

log = get_logger(__name__)


def enqueue_released(celery: Celery, events: Sequence[EventRecord]) -> int:
    """Send the released ``events`` to the queue in their order; return how many were sent.

    The first enqueue that fails (Redis down or refusing) is logged and ends the loop: sending
    the later ones would let them run before the one refused. Nothing is lost by that. The
    events are ``queued`` in the store already, and the recovery sweep's lost-message check
    (workers/sweeper.py) sends every ``queued`` event that has no message in Redis once it
    has not changed for ``QUEUED_LOST_AFTER`` seconds, oldest first.
    """
    sent = 0
    for event in events:
        try:
            enqueue_event(celery, event)
        except EnqueueError as exc:
            log.error(
                "connection.release_enqueue_failed",
                connection_id=event.connection_id,
                event_id=event.id,
                left_to_sweep=len(events) - sent,
                error=str(exc),
            )
            break
        sent += 1
    if events:
        log.info(
            "connection.released",
            connection_id=events[0].connection_id,
            released=len(events),
            enqueued=sent,
        )
    return sent


def activate_and_enqueue(store: Store, celery: Celery, connection_id: str) -> list[EventRecord]:
    """Make the connection active and send its waiting events, in the order they came.

    Returns the events released (all of them, whether or not the broker took them: see
    `enqueue_released`). Raises as `Store.activate_connection` does: NotFound for an unknown
    connection, ValueError for one without a GHL token (an OAuth connection not installed, or
    a disconnected one), whose events keep waiting.
    """
    released = store.activate_connection(connection_id)
    enqueue_released(celery, released)
    return released
