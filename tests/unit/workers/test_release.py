"""Released events go back on the real Redis queue at once, in the order they came; what the
broker refuses is left to the recovery sweep, which finds it."""

from __future__ import annotations

import datetime as dt

import pytest
from celery import Celery

from store import ConnectionRecord, EventRecord, NotFound
from tests.brokerutil import queued_tasks
from tests.unit.workers.conftest import Bridge
from workers.release import activate_and_enqueue, enqueue_released
from workers.sweeper import sweep

REASON = "connection is parked: credentials refused: ghl: Invalid JWT (HTTP 401)"


def waiting_events(bridge: Bridge, connection: ConnectionRecord, count: int) -> list[EventRecord]:
    """``count`` events of the (parked) connection, each marked waiting, oldest first."""
    events = [
        bridge.record(connection, "post.published", {"post_id": f"crm-{n}"}) for n in range(count)
    ]
    for event in events:
        assert bridge.store.mark_waiting(event.id, REASON) is not None
    return events


def parked_connection(bridge: Bridge) -> ConnectionRecord:
    connection = bridge.connection()
    bridge.store.park_connection(connection.id, "credentials refused: ghl: Invalid JWT (HTTP 401)")
    return connection


def test_activation_puts_every_waiting_event_on_the_queue_in_order(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    connection = parked_connection(bridge)
    events = waiting_events(bridge, connection, 4)
    bridge.record(bridge.connection(), "statistics.requested", {})  # another connection's

    released = activate_and_enqueue(bridge.store, celery, connection.id)

    assert [e.id for e in released] == [e.id for e in events]
    assert {e.status for e in released} == {"queued"}
    tasks = queued_tasks(redis_url)
    assert [task.args[0] for task in tasks] == [e.id for e in events]
    assert [task.id.rsplit("-", 1)[0] for task in tasks] == [e.id for e in events]
    assert {task.name for task in tasks} == {"flows.sync_post_tags"}
    assert [task.args[1] for task in tasks] == [e.payload for e in events]
    active = bridge.store.get_connection(connection.id)
    assert active is not None
    assert (active.status, active.status_reason) == ("active", None)


def test_an_activation_with_nothing_waiting_sends_nothing(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    connection = parked_connection(bridge)

    assert activate_and_enqueue(bridge.store, celery, connection.id) == []

    assert queued_tasks(redis_url) == []


def test_enqueue_released_sends_what_a_completed_install_released(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    connection = bridge.connection(ghl_auth="oauth", ghl_token="")
    events = waiting_events(bridge, connection, 3)
    _, released = bridge.store.save_oauth_tokens(
        connection.id,
        access_token="access-token",
        refresh_token="refresh-token",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=24),
        scopes=["socialplanner/tag.readonly"],
        location_id=connection.location_id,
        company_id=None,
        authorized=True,
    )

    assert enqueue_released(celery, released) == 3

    assert [task.args[0] for task in queued_tasks(redis_url)] == [e.id for e in events]


def test_a_connection_without_a_token_is_not_activated_and_nothing_is_sent(
    bridge: Bridge, celery: Celery, redis_url: str
) -> None:
    connection = bridge.connection()
    bridge.store.disconnect_connection(connection.id, "GHL sent UNINSTALL")
    [event] = waiting_events(bridge, connection, 1)

    with pytest.raises(ValueError, match="has no GHL token"):
        activate_and_enqueue(bridge.store, celery, connection.id)

    assert queued_tasks(redis_url) == []
    stored = bridge.store.get_event(event.id)
    assert stored is not None
    assert stored.status == "waiting"


def test_an_unknown_connection_is_not_found(bridge: Bridge, celery: Celery) -> None:
    with pytest.raises(NotFound):
        activate_and_enqueue(bridge.store, celery, "con_0000000000000000")


def test_what_the_broker_refuses_is_queued_in_the_store_and_the_sweep_sends_it_in_order(
    bridge: Bridge, celery_without_redis: Celery
) -> None:
    connection = parked_connection(bridge)
    events = waiting_events(bridge, connection, 3)

    released = activate_and_enqueue(bridge.store, celery_without_redis, connection.id)

    # Active and released, though nothing reached Redis: the store has them `queued`.
    assert [e.id for e in released] == [e.id for e in events]
    assert [bridge.store.get_event(e.id) for e in events] == released
    # Once QUEUED_LOST_AFTER has passed with no message for them in Redis, the recovery
    # sweep sends them, oldest first.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=bridge.settings.queued_lost_after + 1)
    sent: list[str] = []
    swept = sweep(
        bridge.store,
        lambda event: sent.append(event.id),
        bridge.settings,
        now=later,
        on_broker=set,
    )
    assert swept == sent == [e.id for e in events]
