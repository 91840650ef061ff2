"""The beat scheduler against a real redis-server that is killed and started again.

Each test has its own Redis (append-only file under a temporary folder), so killing it
disturbs no other test. A scheduler entry fires every half second onto a queue of its own;
"beat sent" means a message arrived on that queue.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from celery.beat import Service
from celery.signals import beat_init
from kombu.utils.imports import symbol_by_name

from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis, free_port
from workers.beat import PAUSE_FIRST, PAUSE_MAX, ResilientRedBeatScheduler
from workers.celery_app import celery_config

QUEUE = "beat-test"
PREFIX = "beat-test:"
LOCK_KEY = f"{PREFIX}:lock"
EVERY = 0.5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server on a port of its own, not started: each test decides when."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    yield server
    server.stop()


@pytest.fixture
def caught(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="workers.beat")
    return caplog


def beat_app(url: str) -> Celery:
    """A Celery app whose beat has one entry firing every EVERY seconds onto QUEUE."""
    app = Celery("beat-test", set_as_current=False)
    app.conf.update(
        broker_url=url,
        broker_connection_retry_on_startup=False,
        broker_connection_max_retries=1,
        task_default_queue=QUEUE,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0.1},
        redbeat_redis_url=url,
        redbeat_redis_options={"socket_connect_timeout": 1, "socket_timeout": 2},
        redbeat_key_prefix=PREFIX,
        redbeat_lock_timeout=30,
        beat_max_loop_interval=1,
        beat_schedule={"ping": {"task": "beat_test.ping", "schedule": EVERY}},
    )
    return app


def make_scheduler(app: Celery) -> ResilientRedBeatScheduler:
    return ResilientRedBeatScheduler(app=app)


def client(server: EmbeddedRedis) -> redis.Redis[bytes]:
    return redis.Redis.from_url(server.url, socket_timeout=2)


def sent(server: EmbeddedRedis) -> int:
    """Messages beat has put on the queue so far."""
    with client(server) as redis_client:
        return int(redis_client.llen(QUEUE))


def kill(server: EmbeddedRedis) -> None:
    """SIGKILL, as a crash or the OOM killer would: no shutdown, no final fsync."""
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.poll() is None:
        assert time.monotonic() < deadline, "redis-server did not die"
        time.sleep(0.02)


def tick_until_sent(scheduler: ResilientRedBeatScheduler, server: EmbeddedRedis) -> int:
    """Tick (without sleeping the returned intervals) until beat sends; the ticks it took."""
    before = sent(server)
    deadline = time.monotonic() + 10
    ticks = 0
    while sent(server) == before:
        assert time.monotonic() < deadline, "beat sent nothing within 10 s"
        scheduler.tick()
        ticks += 1
        time.sleep(0.05)
    return ticks


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [
        getattr(record, "event_fields", {})
        for record in caplog.records
        if record.getMessage() == name
    ]


def started_scheduler(server: EmbeddedRedis) -> ResilientRedBeatScheduler:
    """Redis up, the schedule installed, the lock held, and one message sent."""
    server.start()
    scheduler = make_scheduler(beat_app(server.url))
    tick_until_sent(scheduler, server)
    assert scheduler.lock is not None
    return scheduler


# --- Redis goes away and comes back --------------------------------------------------------


def test_a_redis_restart_pauses_beat_and_it_sends_again_once_redis_is_back(
    server: EmbeddedRedis, caught: pytest.LogCaptureFixture
) -> None:
    scheduler = started_scheduler(server)

    kill(server)
    pauses = [scheduler.tick() for _ in range(5)]
    server.start()
    tick_until_sent(scheduler, server)

    assert pauses == [1.0, 2.0, 4.0, PAUSE_MAX, PAUSE_MAX]
    down = events(caught, "beat.redis_unavailable")
    assert [fields["failures"] for fields in down] == [1, 2, 3, 4, 5]
    assert "ConnectionError" in down[0]["error"]
    assert events(caught, "beat.redis_back") == [{"failures": 5}]
    scheduler.close()


def test_redis_back_without_its_data_gets_the_schedule_and_the_lock_again(
    server: EmbeddedRedis, caught: pytest.LogCaptureFixture
) -> None:
    scheduler = started_scheduler(server)

    kill(server)
    # A Redis that comes back empty: a failover to a replica that had not caught up, or one
    # run without persistence.
    shutil.rmtree(server.data_dir)
    assert scheduler.tick() == PAUSE_FIRST
    server.start()
    tick_until_sent(scheduler, server)

    with client(server) as redis_client:
        assert redis_client.exists(f"{PREFIX}ping")
        assert redis_client.get(LOCK_KEY) is not None
    assert len(events(caught, "beat.lock_lost")) == 1
    assert len(events(caught, "beat.lock_acquired")) == 2  # at the start, and again now
    scheduler.close()


def test_redis_down_at_start_then_up_beat_starts_sending(
    server: EmbeddedRedis, caught: pytest.LogCaptureFixture
) -> None:
    scheduler = make_scheduler(beat_app(server.url))  # nothing listens on the port yet

    assert scheduler.tick() == PAUSE_FIRST
    server.start()
    tick_until_sent(scheduler, server)

    assert events(caught, "beat.redis_unavailable")[0]["during"] == "start"
    assert scheduler.lock is not None
    scheduler.close()


# --- the lock -------------------------------------------------------------------------------


def test_a_lock_that_ran_out_is_taken_again(
    server: EmbeddedRedis, caught: pytest.LogCaptureFixture
) -> None:
    scheduler = started_scheduler(server)
    with client(server) as redis_client:
        redis_client.delete(LOCK_KEY)  # as if it expired while Redis was away

    assert scheduler.tick() == PAUSE_FIRST
    tick_until_sent(scheduler, server)

    assert [fields["lock"] for fields in events(caught, "beat.lock_lost")] == [LOCK_KEY]
    with client(server) as redis_client:
        assert redis_client.get(LOCK_KEY) is not None
    scheduler.close()


def test_a_beat_that_finds_the_lock_held_waits_as_a_standby_and_sends_nothing(
    server: EmbeddedRedis, caught: pytest.LogCaptureFixture
) -> None:
    server.start()
    with client(server) as redis_client:
        redis_client.set(LOCK_KEY, "another-beat", ex=30)
    scheduler = make_scheduler(beat_app(server.url))

    deadline = time.monotonic() + 3 * EVERY
    while time.monotonic() < deadline:
        assert scheduler.tick() == scheduler.max_interval
        time.sleep(0.05)
    assert sent(server) == 0
    assert len(events(caught, "beat.standby")) == 1  # said once, not at every tick

    with client(server) as redis_client:
        redis_client.delete(LOCK_KEY)  # the other beat stopped
    tick_until_sent(scheduler, server)
    assert len(events(caught, "beat.lock_acquired")) == 1
    scheduler.close()


def test_a_second_beat_starting_while_the_lock_is_held_does_not_wait_in_beat_init(
    server: EmbeddedRedis,
) -> None:
    server.start()
    with client(server) as redis_client:
        redis_client.set(LOCK_KEY, "another-beat", ex=30)
    service = Service(beat_app(server.url), scheduler_cls=ResilientRedBeatScheduler)

    # What `celery beat` sends before its first tick; RedBeat's own handler would block here
    # until the other beat's lock ran out.
    starting = threading.Thread(target=lambda: beat_init.send(sender=service), daemon=True)
    starting.start()
    starting.join(timeout=5)

    assert not starting.is_alive()
    assert service.scheduler.lock is None
    assert service.scheduler.tick() == service.scheduler.max_interval  # a standby
    service.scheduler.close()


def test_close_releases_the_lock(server: EmbeddedRedis) -> None:
    scheduler = started_scheduler(server)

    scheduler.close()

    with client(server) as redis_client:
        assert redis_client.get(LOCK_KEY) is None


def test_close_with_redis_down_does_not_fail(
    server: EmbeddedRedis, caught: pytest.LogCaptureFixture
) -> None:
    scheduler = started_scheduler(server)
    kill(server)

    scheduler.close()

    assert scheduler.lock is None
    assert len(events(caught, "beat.lock_not_released")) == 1


# --- the app uses it ------------------------------------------------------------------------


def test_the_apps_beat_uses_this_scheduler_and_workers_reconnect_without_limit() -> None:
    config = celery_config(Settings.from_mapping({"secret_key": "k" * 43}))

    assert symbol_by_name(config["beat_scheduler"]) is ResilientRedBeatScheduler
    assert config["broker_connection_retry"] is True
    assert config["broker_connection_max_retries"] is None
    # Kept on purpose: the recovery sweep re-runs the attempts a lost connection cuts off.
    assert config["worker_cancel_long_running_tasks_on_connection_loss"] is True
