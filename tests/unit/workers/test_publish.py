"""TaskPublisher writes what `celery.send_task` writes to Redis, in one round trip.

Both go to the same real Redis database; the test reads back what each put on the queue and
on the task-sent channel and compares them field by field. Only what is random or a clock
differs: the delivery tags, the event's timestamp and Lamport clock. That the worker consumes
it is shown with a real worker in tests/functional/test_receiver.py.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from celery.utils.saferepr import saferepr

from tests.brokerutil import queued_tasks
from tests.unit.workers.conftest import Bridge
from workers.celery_app import QUEUE, make_celery
from workers.dispatch import EnqueueError
from workers.publish import TaskPublisher, _argsrepr, publish_event, publish_events

TASK = "flows.sync_post_tags"
PAYLOAD = {
    "type": "post.published",
    "timestamp": "2026-03-10T12:00:00+00:00",
    "data": {"post_id": "crm-1", "title": 'Été, "quoted"', "record": {"contact_id": "c-1"}},
}


@pytest.fixture
def publisher(celery: Celery) -> Iterator[TaskPublisher]:
    made = TaskPublisher(celery)
    yield made
    made.close()


def sent_by(redis_url: str, channel: str, send: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``send()`` put on the queue, and the event it published on ``channel``."""
    client = redis.Redis.from_url(redis_url)
    subscriber = client.pubsub()
    try:
        subscriber.subscribe(channel)
        assert subscriber.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
        send()
        event = subscriber.get_message(timeout=5)
        raw = client.lpop(QUEUE)
        assert client.llen(QUEUE) == 0
    finally:
        subscriber.close()
        client.close()
    assert raw is not None
    assert event is not None
    return json.loads(raw), json.loads(event["data"])


def decoded(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with its body decoded and its random delivery tag left out."""
    body = json.loads(base64.b64decode(envelope["body"]))
    properties = {k: v for k, v in envelope["properties"].items() if k != "delivery_tag"}
    return {**envelope, "body": body, "properties": properties}


def test_the_task_message_is_the_one_send_task_writes(
    celery: Celery, publisher: TaskPublisher, redis_url: str
) -> None:
    channel = "/15.celeryev/task.sent"  # the unit tests' Redis database is 15
    args = ["evt_0123", PAYLOAD]

    theirs, their_event = sent_by(
        redis_url, channel, lambda: celery.send_task(TASK, args=args, task_id="evt_0123-aa")
    )
    ours, our_event = sent_by(
        redis_url, channel, lambda: publisher.send_task(TASK, args, "evt_0123-aa")
    )

    assert publisher.lean
    assert list(ours) == list(theirs)  # the same keys in the same order
    assert decoded(ours) == decoded(theirs)
    assert decoded(ours)["body"] == [args, {}, {
        "callbacks": None, "errbacks": None, "chain": None, "chord": None,
    }]  # fmt: skip
    assert ours["properties"]["delivery_tag"] != theirs["properties"]["delivery_tag"]
    # The task-sent event Flower shows: the same but for its clock and time.
    mine, celerys = decoded(our_event), decoded(their_event)
    for body in (mine["body"], celerys["body"]):
        assert body.pop("clock") > 0
        assert abs(body.pop("timestamp") - time.time()) < 60
    assert mine == celerys


def test_publish_event_names_the_task_as_enqueue_event_does(
    bridge: Bridge, publisher: TaskPublisher, redis_url: str
) -> None:
    event = bridge.record(bridge.connection(), "tag.details_requested", {
        "post_id": "crm-1", "tag_ids": ["t1"],
    })  # fmt: skip

    task_id = publish_event(publisher, event)

    [task] = queued_tasks(redis_url)
    assert task.name == "flows.attach_tag_details"
    assert task.id == task_id
    assert task_id.startswith(f"{event.id}-")
    assert task.args == [event.id, event.payload]
    assert task.kwargs == {}
    assert task.eta is None


@pytest.mark.parametrize(
    "payload",
    [
        PAYLOAD,
        {},
        {"title": "it's"},
        {"title": "back\\slash"},
        {"title": "line\nbreak"},
        {"title": "\u2028 separator"},
        {"title": "emoji \U0001f600"},
        {"n": 1.5, "big": 10**30, "tiny": 1e-300, "neg": -0.0, "t": True, "none": None},
        {"deep": {"er": {"still": {"deeper": 1}}}},
        {"deep": [[[]]]},
        {"tuple": (1, 2)},
        {"long": "x" * 2000},
    ],
)
def test_argsrepr_is_celerys(celery: Celery, payload: dict[str, Any]) -> None:
    args = ["evt_1", payload]
    maxsize, levels = celery.amqp.argsrepr_maxsize, celery.conf.task_repr_maxlevels

    assert _argsrepr(args, maxsize, levels) == saferepr(args, maxsize, maxlevels=levels)


def test_a_redis_that_does_not_answer_is_an_enqueue_error_within_seconds(
    celery_without_redis: Celery,
) -> None:
    publisher = TaskPublisher(celery_without_redis)
    began = time.monotonic()

    with pytest.raises(EnqueueError, match="could not enqueue evt_1-aa"):
        publisher.send_task(TASK, ["evt_1", {}], "evt_1-aa")

    # Three tries, 0.2 s then 0.7 s apart (task_publish_retry_policy), as send_task would.
    assert 0.8 < time.monotonic() - began < 5
    publisher.close()


def test_another_broker_goes_through_send_task(bridge: Bridge) -> None:
    # rediss:// and unix:// brokers take this path; kombu's in-memory one shows it here.
    app = make_celery(bridge.settings, services=bridge.services)
    app.conf.update(broker_url="memory://", broker_transport=None)
    publisher = TaskPublisher(app)

    publisher.send_task(TASK, ["evt_1", {}], "evt_1-aa")

    assert not publisher.lean
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(QUEUE)
        message = queue.get(timeout=5)
        assert message.headers["id"] == "evt_1-aa"
        message.ack()
        queue.close()
    app.close()


def test_publish_events_puts_several_tasks_in_one_go(
    bridge: Bridge, publisher: TaskPublisher, redis_url: str
) -> None:
    connection = bridge.connection()
    events = [bridge.record(connection, "statistics.requested", {}) for _ in range(3)]

    task_ids = publish_events(publisher, events)

    tasks = queued_tasks(redis_url)
    assert sorted(task.id for task in tasks) == sorted(task_ids)
    assert sorted(task.args[0] for task in tasks) == sorted(event.id for event in events)
    assert [task_id.rsplit("-", 1)[0] for task_id in task_ids] == [e.id for e in events]
    assert publish_events(publisher, []) == []


def test_a_batch_redis_does_not_take_names_its_size(celery_without_redis: Celery) -> None:
    publisher = TaskPublisher(celery_without_redis)

    with pytest.raises(EnqueueError, match="could not enqueue evt_1-aa and 1 more"):
        publisher.send_tasks([(TASK, ["evt_1", {}], "evt_1-aa"), (TASK, ["evt_2", {}], "evt_2-bb")])
    publisher.close()
