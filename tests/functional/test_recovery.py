"""Recovery owned by the store: retries wait in the event log, dead attempts and lost messages
come back through the sweep within seconds, on the real worker and Redis."""

from __future__ import annotations

import signal
import time

import psutil
import redis

from tests.functional.harness import System
from workers.celery_app import QUEUE
from workers.sweeper import events_on_broker


def broker(bridge: System) -> redis.Redis[bytes]:
    return redis.Redis.from_url(bridge.settings.redis_url)


def test_a_retry_waits_in_the_store_and_no_message_waits_in_a_worker(bridge: System) -> None:
    connection = bridge.new_connection()
    bridge.ghl_fault(path_contains="/tags", status=429, times=1, retry_after=4)

    answer = bridge.send(connection, "post.published", {"post_id": "p-store-retry"})
    event_id = answer.json()["event_id"]
    retrying = bridge.wait_for(event_id, until=lambda e: e.status == "retrying")

    # While the event waits for its retry, Redis holds no message for it: neither a delayed
    # one on the queue nor one taken by the worker and kept in its memory. (The attempt's own
    # message is acknowledged a moment after the event is marked `retrying`.)
    client = broker(bridge)
    try:
        deadline = time.monotonic() + 2
        while event_id in events_on_broker(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert event_id not in events_on_broker(client)
    finally:
        client.close()
    still = bridge.store.get_event(event_id)
    assert still is not None
    assert still.status == "retrying"  # the look above fell within the wait
    assert retrying.next_attempt_at is not None
    done = bridge.wait_for(event_id)
    assert done.status == "done", done.last_error
    assert done.attempts == 2
    assert done.started_at is not None
    assert done.started_at >= retrying.next_attempt_at


def test_a_worker_killed_whole_mid_task_is_recovered_by_its_lease(bridge: System) -> None:
    connection = bridge.new_connection()
    # The CRM stores the write and takes 5 s to answer: the whole worker dies in between.
    bridge.crm_fault(delay_ms=5000, times=1, after_store=True)
    answer = bridge.send(connection, "post.published", {"post_id": "p-kill-all"})
    event_id = answer.json()["event_id"]
    bridge.wait_for(
        event_id,
        until=lambda _: any(
            d.get("outcome") == "stored" for d in bridge.crm_deliveries(connection)
        ),
    )
    assert bridge.worker.process is not None
    main = psutil.Process(bridge.worker.process.pid)
    for process in [*main.children(recursive=True), main]:
        process.send_signal(signal.SIGKILL)
    bridge.worker.process.wait()

    # Its message is held in Redis as unacknowledged for BROKER_VISIBILITY_TIMEOUT (60 s);
    # the lapsed lease brings the event back long before that.
    bridge.worker.start()
    event = bridge.wait_for(event_id, timeout=30)

    assert event.status == "done", event.last_error
    assert event.attempts == 2
    outcomes = [d["outcome"] for d in bridge.crm_deliveries(connection)]
    assert outcomes == ["stored", "duplicate"]
    assert "event.swept" in bridge.worker.log_tail(400)


def test_a_message_redis_lost_is_sent_again(bridge: System) -> None:
    connection = bridge.new_connection()
    bridge.worker.stop()
    answer = bridge.send(connection, "post.published", {"post_id": "p-lost"})
    event_id = answer.json()["event_id"]
    client = broker(bridge)
    try:
        # Redis restarted from an AOF that missed the last writes: the message is gone.
        assert client.delete(QUEUE) == 1
    finally:
        client.close()

    bridge.worker.start()
    event = bridge.wait_for(event_id, timeout=30)

    assert event.status == "done", event.last_error
    assert event.attempts == 1
    assert len(bridge.crm_deliveries(connection)) == 1
