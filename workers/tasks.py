"""Celery tasks: thin and named; each runs one attempt of a recorded event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from ghl.limiter import Booking
from store import EventRecord, StoreUnavailable
from workers.dispatch import enqueue_event
from workers.execution import execute_event
from workers.retry import retry_delay
from workers.services import Services

# max_retries=None: the event log counts attempts (redeliveries included), not Celery.
TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": None,
}


# While the store is down nothing can be recorded, so the message itself carries the retry;
# its countdown stays this short so that no delayed message waits long in a worker's memory.
STORE_DOWN_RETRY_MAX = 5.0


def run_event_task(
    task: Task,
    event_id: str,
    payload: dict[str, Any],
    prepaid: Mapping[str, Any] | None = None,
) -> str:
    """Run one attempt. A failed attempt leaves its retry to the store and the recovery sweep;
    only a store outage retries through the broker.

    ``prepaid`` is the booking of GHL rate-limit slots an earlier run of the event reserved
    for this one, when the rate limiter deferred it (sent again by `requeue`).
    """
    services: Services = task.app.services
    # In a pool of threads the booked run goes to the front of the queue, so that it reaches a
    # worker before its slot even behind a burst of new events: the worker holds it in its
    # timer and runs it with one of its many threads. In a pool of a few processes it goes to
    # the back: run on time, a location at its limit would keep them from every other
    # location's new events.
    front = services.settings.worker_pool == "threads"

    def requeue(event: EventRecord, booking: Booking, countdown: float) -> None:
        enqueue_event(task.app, event, countdown=countdown, prepaid=booking.to_json(), front=front)

    try:
        outcome = execute_event(
            services,
            event_id,
            payload=payload,
            task_id=task.request.id,
            retryable=(SoftTimeLimitExceeded,),
            prepaid=Booking.from_json(prepaid) if prepaid is not None else None,
            requeue=requeue,
        )
    except StoreUnavailable as exc:
        countdown = retry_delay(task.request.retries + 1, base=1.0, cap=STORE_DOWN_RETRY_MAX)
        raise task.retry(countdown=countdown, exc=exc) from exc
    return outcome.status


@shared_task(name="flows.sync_post_tags", **TASK_OPTIONS)
def sync_post_tags(
    self: Task,
    event_id: str,
    payload: dict[str, Any],
    prepaid: dict[str, Any] | None = None,
) -> str:
    return run_event_task(self, event_id, payload, prepaid)


@shared_task(name="flows.attach_tag_details", **TASK_OPTIONS)
def attach_tag_details(
    self: Task,
    event_id: str,
    payload: dict[str, Any],
    prepaid: dict[str, Any] | None = None,
) -> str:
    return run_event_task(self, event_id, payload, prepaid)


@shared_task(name="flows.sync_statistics", **TASK_OPTIONS)
def sync_statistics(
    self: Task,
    event_id: str,
    payload: dict[str, Any],
    prepaid: dict[str, Any] | None = None,
) -> str:
    return run_event_task(self, event_id, payload, prepaid)
