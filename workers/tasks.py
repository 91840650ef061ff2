"""Celery tasks: thin, named, and only translating an `Outcome` into ack or retry."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from store import StoreUnavailable
from workers.execution import RETRY, execute_event
from workers.retry import retry_delay
from workers.services import Services

# max_retries=None: the event log counts attempts (redeliveries included), not Celery.
TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": None,
}


def run_event_task(task: Task, event_id: str, payload: dict[str, Any]) -> str:
    """Run one attempt; raise Retry (a new delayed message) when the outcome asks for one."""
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
        # Nothing could be recorded, so the message itself must carry the retry.
        settings = services.settings
        countdown = retry_delay(
            task.request.retries + 1,
            base=settings.retry_backoff_base,
            cap=settings.retry_backoff_max,
        )
        raise task.retry(countdown=countdown, exc=exc) from exc
    if outcome.status == RETRY:
        raise task.retry(countdown=outcome.retry_in)
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
