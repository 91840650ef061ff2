"""Events of several locations at once on one worker running Celery's threads pool.

The stack of this module is its own: a redis-server, a store (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set), the sandbox GHL with three locations, GHL's rate limit and 100 ms
of latency on every call, a sandbox CRM, the web app over real HTTP, and one
`celery -A workers worker --pool threads` subprocess: the Procfile's pool. Every event must be
done exactly once, written back exactly once, and none lost, with many of them running at the
same moment in the one process (its store sessions, HTTP pools, rate limiter and tag cache
shared by the threads).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.crm.app import create_sandbox_crm_app
from sandbox.ghl import create_sandbox_ghl_app
from sandbox.ghl.seed import seed_location
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis
from store import ConnectionRecord, EventRecord, Store
from tests.dbutil import database_kinds, temporary_database
from tests.functional.harness import System, Worker
from webapp import create_app

THREADS = 16
LOCATIONS = {f"pit-threads-{n}": f"loc_threads_{n}" for n in range(3)}
EVENTS_PER_LOCATION = 17  # 51 in all
GHL_LATENCY_MS = 100


@dataclass
class Stack:
    system: System
    worker: Worker


@contextlib.contextmanager
def running_stack(kind: str, tmp: Path, **settings_changes: Any) -> Iterator[Stack]:
    """Redis, the sandboxes, a store of ``kind``, the web app and one threads worker."""
    redis = EmbeddedRedis(tmp / "redis")
    redis.start()
    try:
        with (
            ServerThread(create_sandbox_ghl_app(tokens=LOCATIONS)) as ghl,
            ServerThread(create_sandbox_crm_app()) as crm,
            temporary_database(kind, tmp, upgrade=True) as (database_url, engine_options),
        ):
            settings = Settings.from_mapping(
                {
                    "database_url": database_url,
                    "redis_url": redis.url,
                    "secret_key": "functional-tests-secret-key",
                    "ghl_base_url": ghl.url,
                    "retry_backoff_base": 0.2,
                    "retry_backoff_max": 2.0,
                    "sweep_interval": 0.5,
                    "lease_seconds": 3,
                    "queued_lost_after": 3,
                    "ghl_timeout": 15.0,
                    "crm_timeout": 10.0,
                    **settings_changes,
                }
            )
            store = Store(database_url, settings.secret_key, engine_options=engine_options)
            app = create_app(settings)
            worker = Worker(settings, tmp / "worker.log", pool="threads", concurrency=THREADS)
            try:
                worker.start()
                with ServerThread(app) as web:
                    system = System(
                        settings=settings.replace(public_url=web.url),
                        store=store,
                        web_url=web.url,
                        ghl_url=ghl.url,
                        crm_url=crm.url,
                        worker=worker,
                    )
                    yield Stack(system, worker)
            finally:
                worker.stop()
                app.extensions["socialbridge"].dispose()
                store.dispose()
    finally:
        redis.stop()


@pytest.fixture(scope="module", params=database_kinds())
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    kind: str = request.param
    with running_stack(kind, tmp_path_factory.mktemp(f"threads-{kind}")) as running:
        yield running


def most_at_once(events: list[EventRecord]) -> int:
    """The largest number of these events that were running at the same moment."""
    moments: list[tuple[dt.datetime, int]] = []
    for event in events:
        assert event.started_at is not None
        assert event.finished_at is not None
        moments += [(event.started_at, 1), (event.finished_at, -1)]
    running = peak = 0
    for _, change in sorted(moments, key=lambda moment: (moment[0], moment[1])):
        running += change
        peak = max(peak, running)
    return peak


def test_events_of_several_locations_run_at_once_and_each_is_written_back_once(
    stack: Stack,
) -> None:
    system = stack.system
    # GHL's real latency, so that events wait on the network as they do in production.
    system.ghl_fault(path_contains="/", delay_ms=GHL_LATENCY_MS, times=10_000)
    connections = [
        system.new_connection(location_id=location, ghl_token=token)
        for token, location in LOCATIONS.items()
    ]
    sends: list[tuple[ConnectionRecord, str, dict[str, str]]] = []
    for connection in connections:
        posts = [post.id for post in seed_location(connection.location_id).posts]
        for n in range(EVENTS_PER_LOCATION):
            data = {"post_id": f"crm-{connection.location_id}-{n}"}
            if n % 2:  # half of them also fetch their GHL post: one more call each
                data["ghl_post_id"] = posts[n % len(posts)]
            sends.append((connection, "post.published", data))

    def send(item: tuple[ConnectionRecord, str, dict[str, str]]) -> str:
        connection, event_type, data = item
        answer = system.send(connection, event_type, data)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["event_id"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(send, sends))

    events = [system.wait_for(event_id, timeout=120) for event_id in ids]

    # Nothing lost, each done by one attempt.
    assert len(set(ids)) == len(sends)
    assert [(e.status, e.attempts) for e in events] == [("done", 1)] * len(sends)
    # Exactly one write-back per event, stored at the first delivery: no duplicate.
    deliveries = system.crm_deliveries()
    by_webhook_id = collections.Counter(d["webhook_id"] for d in deliveries)
    assert by_webhook_id == collections.Counter(f"{i}.post.tags_synced" for i in ids)
    assert {d["outcome"] for d in deliveries} == {"stored"}
    # GHL's limit held, and the process did run events side by side on its threads.
    assert [r for r in system.ghl_journal() if r["response_status"] == 429] == []
    assert most_at_once(events) > 1
    assert f"concurrency: {THREADS} (thread)" in stack.worker.log_path.read_text()


def test_an_attempt_past_task_time_limit_is_not_killed_but_never_writes_twice(
    tmp_path: Path,
) -> None:
    """The threads pool cannot kill: the attempt that overruns TASK_TIME_LIMIT stops renewing
    its lease, a new attempt runs the event, and the late one writes nothing back."""
    limits = {"task_soft_time_limit": 3, "task_time_limit": 4}
    with running_stack("sqlite", tmp_path, **limits) as running:
        system = running.system
        token, location = next(iter(LOCATIONS.items()))
        connection = system.new_connection(location_id=location, ghl_token=token)
        # The first listing of the location's tags hangs for twice the time limit; the next
        # attempt's is answered at once.
        system.ghl_fault(
            path_contains=f"/social-media-posting/{location}/tags", delay_ms=8_000, times=1
        )

        answer = system.send(connection, "post.published", {"post_id": "crm-late"})
        assert answer.status_code == 202, answer.text
        event_id = str(answer.json()["event_id"])
        event = system.wait_for(event_id, timeout=60)
        # Whatever the late attempt met once its GHL call came back (the event done by the
        # next attempt, or still its own), it wrote nothing: one write-back in all.
        deadline = time.monotonic() + 30
        while "event.attempt_overran" not in running.worker.log_path.read_text() and (
            "event.retrying" not in running.worker.log_path.read_text()
        ):
            assert time.monotonic() < deadline, running.worker.log_tail()
            time.sleep(0.2)

        assert (event.status, event.attempts) == ("done", 2)
        deliveries = system.crm_deliveries(connection)
        assert [d["webhook_id"] for d in deliveries] == [f"{event_id}.post.tags_synced"]
        assert "lease.time_limit" in running.worker.log_path.read_text()
