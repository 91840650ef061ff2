"""The `{event type: task name}` table, and putting a recorded event on the queue."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from celery import Celery

from schemas.events import POST_PUBLISHED, STATISTICS_REQUESTED, TAG_DETAILS_REQUESTED
from socialbridge.errors import SocialbridgeError
from store import EventRecord
from workers.redis_transport import FRONT_HEADER

TASK_FOR_EVENT: dict[str, str] = {
    POST_PUBLISHED: "flows.sync_post_tags",
    TAG_DETAILS_REQUESTED: "flows.attach_tag_details",
    STATISTICS_REQUESTED: "flows.sync_statistics",
}


TASK_ID_SEPARATOR = "-"


def event_id_of_task(task_id: str) -> str | None:
    """The event a task id was made for by `enqueue_event`, or None for another task."""
    event_id, separator, _ = task_id.rpartition(TASK_ID_SEPARATOR)
    return event_id if separator and event_id.startswith("evt_") else None


class EnqueueError(SocialbridgeError):
    """The broker did not take the task (Redis down or refusing)."""


def enqueue_event(
    celery: Celery,
    event: EventRecord,
    *,
    countdown: float | None = None,
    prepaid: Mapping[str, Any] | None = None,
    front: bool = False,
) -> str:
    """Send the event's task with only JSON primitives (its id and validated payload).

    A retry is never sent from here: it waits in the store until the recovery sweep sends it
    when due. Only an event deferred by the GHL rate limiter is sent with a ``countdown`` (to
    its slot, below the deferral horizon and so below BROKER_VISIBILITY_TIMEOUT), and with
    ``prepaid``, the booking (`ghl.limiter.Booking` as JSON) its next run uses; ``front`` puts
    such a message at the front of the queue (workers/redis_transport.py), so that a burst of
    new events waiting there does not make it reach a worker after its slot.
    """
    kwargs = {} if prepaid is None else {"prepaid": dict(prepaid)}
    headers = {FRONT_HEADER: True} if front else None
    try:
        result: Any = celery.send_task(
            TASK_FOR_EVENT[event.type],
            args=[event.id, event.payload],
            kwargs=kwargs,
            headers=headers,
            countdown=countdown,
            # An id that starts with the event's makes the task easy to find in Flower; the
            # random tail keeps a replay's task apart from the first run's.
            task_id=f"{event.id}{TASK_ID_SEPARATOR}{secrets.token_hex(4)}",
        )
    except Exception as exc:  # kombu/redis raise many types; all mean "not enqueued"
        raise EnqueueError(f"could not enqueue {event.id}: {exc!r}") from exc
    return str(result.id)
