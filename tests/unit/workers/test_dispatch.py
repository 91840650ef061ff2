"""enqueue_event: a recorded event onto the real Redis queue, as the worker will find it."""

from __future__ import annotations

import re

import pytest
from celery import Celery

from schemas.events import EVENT_TYPES
from tests.brokerutil import queued_tasks
from tests.unit.workers.conftest import Bridge
from workers.dispatch import TASK_FOR_EVENT, EnqueueError, enqueue_event


def test_every_event_type_has_a_registered_task(celery: Celery) -> None:
    assert set(TASK_FOR_EVENT) == set(EVENT_TYPES)
    for task_name in TASK_FOR_EVENT.values():
        assert task_name in celery.tasks


@pytest.mark.parametrize(
    ("event_type", "data", "task_name"),
    [
        ("post.published", {"post_id": "crm-1"}, "flows.sync_post_tags"),
        (
            "tag.details_requested",
            {"post_id": "crm-1", "tag_ids": ["t1"]},
            "flows.attach_tag_details",
        ),
        ("statistics.requested", {}, "flows.sync_statistics"),
    ],
)
def test_the_event_goes_to_its_task_with_only_json(
    bridge: Bridge,
    celery: Celery,
    redis_url: str,
    event_type: str,
    data: dict[str, object],
    task_name: str,
) -> None:
    event = bridge.record(bridge.connection(), event_type, data)

    task_id = enqueue_event(celery, event)

    assert re.fullmatch(rf"{event.id}-[0-9a-f]{{8}}", task_id)
    [task] = queued_tasks(redis_url)
    assert task.name == task_name
    assert task.id == task_id
    assert task.args == [event.id, event.payload]
    assert task.kwargs == {}
    assert task.eta is None


def test_each_enqueue_of_an_event_is_its_own_task(bridge: Bridge, celery: Celery) -> None:
    # A replay must not look like the first run in Flower.
    event = bridge.record(bridge.connection(), "statistics.requested", {})

    first, second = enqueue_event(celery, event), enqueue_event(celery, event)

    assert first != second
    assert first.startswith(f"{event.id}-")
    assert second.startswith(f"{event.id}-")


def test_a_broker_that_does_not_answer_is_an_enqueue_error(
    bridge: Bridge, celery_without_redis: Celery
) -> None:
    event = bridge.record(bridge.connection(), "statistics.requested", {})

    with pytest.raises(EnqueueError, match=f"^could not enqueue {event.id}: "):
        enqueue_event(celery_without_redis, event)

    # Dispatch only reports; whoever recorded the event decides what to do with it.
    assert bridge.store.get_event(event.id) == event


def test_a_booked_run_goes_to_the_front_of_the_queue(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    # A burst of new events waits on the queue; an event the rate limiter deferred is sent
    # again with its booking, and must reach a worker before its slot, not after the burst.
    connection = bridge.connection()
    burst = [bridge.record(connection, "statistics.requested", {}) for _ in range(3)]
    for event in burst:
        enqueue_event(celery, event)
    deferred = bridge.record(connection, "statistics.requested", {})
    booking = {"location_id": "loc", "slots": [["b:x:1", 1.0]]}

    task_id = enqueue_event(celery, deferred, countdown=5.0, prepaid=booking, front=True)

    tasks = queued_tasks(redis_url)
    assert tasks[0].id == task_id
    assert [task.args[0] for task in tasks[1:]] == [event.id for event in burst]
    assert tasks[0].kwargs == {"prepaid": booking}
    assert tasks[0].eta is not None


def test_a_message_goes_to_the_back_of_the_queue_unless_asked(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    connection = bridge.connection()
    first = bridge.record(connection, "statistics.requested", {})
    deferred = bridge.record(connection, "statistics.requested", {})
    enqueue_event(celery, first)
    booking = {"location_id": "loc", "slots": [["b:x:1", 1.0]]}

    enqueue_event(celery, deferred, countdown=5.0, prepaid=booking)

    assert [task.args[0] for task in queued_tasks(redis_url)] == [first.id, deferred.id]
