"""Celery tasks: thin and named; each runs one attempt of a recorded event."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from store import StoreUnavailable
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


def run_event_task(task: Task, event_id: str, payload: dict[str, Any]) -> str:
    """Run one attempt. A failed attempt leaves its retry to the store and the recovery sweep;
    only a store outage retries through the broker."""
    services: Services = task.app.services
    try:
        outcome = execute_event(
            services,
            event_id,
            payload=payload,
            task_id=task.request.id,
            retryable=(SoftTimeLimitExceeded,),
        )
    except StoreUnavailable as exc:
        countdown = retry_delay(task.request.retries + 1, base=1.0, cap=STORE_DOWN_RETRY_MAX)
        raise task.retry(countdown=countdown, exc=exc) from exc
    return outcome.status


@shared_task(name="flows.sync_post_tags", **TASK_OPTIONS)
def sync_post_tags(self: Task, event_id: str, payload: dict[str, Any]) -> str:
    return run_event_task(self, event_id, payload)


@shared_task(name="flows.attach_tag_details", **TASK_OPTIONS)
def attach_tag_details(self: Task, event_id: str, payload: dict[str, Any]) -> str:
    return run_event_task(self, event_id, payload)


@shared_task(name="flows.sync_statistics", **TASK_OPTIONS)
def sync_statistics(self: Task, event_id: str, payload: dict[str, Any]) -> str:
    return run_event_task(self, event_id, payload)
