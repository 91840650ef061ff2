"""GroupCommit: deliveries that arrive together, recorded in one commit and enqueued together,
each answered only once its own event is committed and its task is in Redis.

On the real store and the real Redis. To make deliveries arrive "together" for certain, the
first batch's leader is held inside its commit until the others wait behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from celery import Celery
from flask import Flask

from socialbridge.embedded_redis import free_port
from store import ConnectionRecord, EventRecord, NotFound, Store
from store.events import NewEvent
from tests.brokerutil import queued_tasks
from tests.unit.webapp.conftest import SECRET_KEY, AppFactory
from webapp.group_commit import Accepted, GroupCommit
from workers.celery_app import make_celery
from workers.dispatch import EnqueueError
from workers.publish import TaskPublisher


class HeldStore(Store):
    """The real store, counting its batches; the first one waits until ``release`` is set."""

    def __init__(self, url: str) -> None:
        super().__init__(url, SECRET_KEY)
        self.batches: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def reset(self) -> None:
        """Hold the next batch again, as if it were the first."""
        self.batches.clear()
        self.entered.clear()
        self.release.clear()

    def record_events(self, events: Sequence[NewEvent]) -> list[tuple[EventRecord, bool]]:
        self.batches.append(len(events))
        if len(self.batches) == 1:
            self.entered.set()
            self.release.wait(timeout=10)
        return super().record_events(events)


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def held(database_url: str) -> Iterator[HeldStore]:
    store = HeldStore(database_url)
    yield store
    store.dispose()


@pytest.fixture
def publisher(app: Flask) -> TaskPublisher:
    found: TaskPublisher = app.extensions["task_publisher"]
    return found


@pytest.fixture
def down_publisher(app: Flask) -> Iterator[TaskPublisher]:
    celery: Celery = make_celery(
        app.config["SOCIALBRIDGE_SETTINGS"].replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    )
    publisher = TaskPublisher(celery)
    yield publisher
    publisher.close()
    celery.close()


def new(connection: ConnectionRecord, webhook_id: str | None) -> NewEvent:
    return NewEvent(
        connection_id=connection.id,
        type="post.published",
        payload={"type": "post.published", "data": {"post_id": webhook_id or "p"}},
        webhook_id=webhook_id,
    )


def together(
    group: GroupCommit, held: HeldStore, first: NewEvent, rest: list[NewEvent]
) -> list[Accepted | BaseException]:
    """``first`` alone in a batch held open while ``rest`` arrive; each one's outcome."""
    outcomes: list[Accepted | BaseException | None] = [None] * (1 + len(rest))

    def deliver(index: int, event: NewEvent) -> None:
        try:
            outcomes[index] = group.accept(event)
        except Exception as exc:
            outcomes[index] = exc

    leader = threading.Thread(target=deliver, args=(0, first))
    leader.start()
    assert held.entered.wait(timeout=10)
    others = [threading.Thread(target=deliver, args=(i + 1, event)) for i, event in enumerate(rest)]
    for thread in others:
        thread.start()
    _wait_until(lambda: len(group._waiting) == len(rest))
    held.release.set()
    for thread in [leader, *others]:
        thread.join(timeout=20)
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def _wait_until(check: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(1000):
        if check():
            return
        done.wait(0.01)
    raise AssertionError("the deliveries did not line up behind the held batch")


def accepted(outcome: Any) -> Accepted:
    assert isinstance(outcome, Accepted), outcome
    return outcome


def test_deliveries_that_arrive_together_share_one_batch_and_each_is_queued_once(
    held: HeldStore,
    publisher: TaskPublisher,
    connection: ConnectionRecord,
    redis_url: str,
) -> None:
    group = GroupCommit(held, publisher)

    outcomes = together(
        group, held, new(connection, "msg_0"), [new(connection, f"msg_{i}") for i in range(1, 7)]
    )

    assert held.batches == [1, 6]
    events = [accepted(outcome) for outcome in outcomes]
    assert all(outcome.created for outcome in events)
    stored = {event.id: event for event in held.list_events()}
    assert {outcome.event.id for outcome in events} == set(stored)
    for outcome in events:
        assert stored[outcome.event.id] == outcome.event
    tasks = queued_tasks(redis_url)
    assert sorted(task.id for task in tasks) == sorted(str(o.task_id) for o in events)
    assert {task.args[0] for task in tasks} == set(stored)


def test_one_webhook_id_twice_in_a_batch_is_one_event(
    held: HeldStore, publisher: TaskPublisher, connection: ConnectionRecord, redis_url: str
) -> None:
    group = GroupCommit(held, publisher)
    held.release.set()
    earlier = group.accept(new(connection, "msg_old"))
    held.reset()

    outcomes = together(
        group,
        held,
        new(connection, "msg_lead"),
        [new(connection, "msg_twice"), new(connection, "msg_twice"), new(connection, "msg_old")],
    )

    lead, first, second, old = (accepted(outcome) for outcome in outcomes)
    assert held.batches == [1, 3]
    assert first.created
    assert not second.created
    assert second.event == first.event
    assert second.task_id is None
    assert not old.created
    assert old.event == earlier.event
    assert len(held.list_events()) == 3
    assert len(queued_tasks(redis_url)) == 3  # msg_old, msg_lead and msg_twice, once each
    assert lead.created


def test_when_redis_refuses_the_batch_its_new_events_are_removed_and_each_is_refused(
    held: HeldStore,
    publisher: TaskPublisher,
    down_publisher: TaskPublisher,
    connection: ConnectionRecord,
) -> None:
    held.release.set()
    earlier = GroupCommit(held, publisher).accept(new(connection, "msg_old"))
    held.reset()
    group = GroupCommit(held, down_publisher)

    outcomes = together(
        group,
        held,
        new(connection, "msg_lead"),
        [new(connection, "msg_new"), new(connection, "msg_old")],
    )

    assert isinstance(outcomes[0], EnqueueError)
    assert isinstance(outcomes[1], EnqueueError)
    # A repeat of an event accepted before is still a repeat: nothing of it was lost.
    old = accepted(outcomes[2])
    assert not old.created
    assert old.event == earlier.event
    # The CRM's retries of the refused ones will be first deliveries.
    assert [event.webhook_id for event in held.list_events()] == ["msg_old"]


def test_a_removed_connection_fails_only_its_own_deliveries(
    held: HeldStore, publisher: TaskPublisher, connection: ConnectionRecord, database_url: str
) -> None:
    other = held.create_connection(
        name="gone", location_id="loc", ghl_token="t", crm_url="http://crm"
    )
    group = GroupCommit(held, publisher)
    cli = Store(database_url, SECRET_KEY)
    try:
        cli.delete_connection(other.id)
    finally:
        cli.dispose()

    outcomes = together(
        group, held, new(connection, "msg_a"), [new(other, "msg_b"), new(connection, "msg_c")]
    )

    assert accepted(outcomes[0]).created
    assert isinstance(outcomes[1], NotFound)
    assert accepted(outcomes[2]).created
    assert {event.webhook_id for event in held.list_events()} == {"msg_a", "msg_c"}
