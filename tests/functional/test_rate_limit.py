"""The shared GHL rate limiter with real workers, real Redis and the sandbox GHL over HTTP.

The sandbox GHL here counts like HighLevel: 100 requests per 10 s per location, a sliding
window, 429 beyond. Two worker processes share the bridge's limiter (96 per 10 s) through Redis.
This stack has a Redis database, a store and sandboxes of its own, so that the session's worker
(which serves the other functional tests with an unlimited sandbox) never takes its messages.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from ghl.limiter import RateLimiter
from sandbox.crm.app import create_sandbox_crm_app
from sandbox.ghl.app import create_sandbox_ghl_app
from sandbox.ghl.seed import seed_location
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis
from store import ConnectionRecord, Store
from tests.dbutil import database_kinds, temporary_database
from tests.functional.harness import System, Worker
from webapp import create_app
from workers.sweeper import events_on_broker

# A Redis database of this module's own: the session's worker consumes database 0.
REDIS_DB = 3
BUSY, BUSY_TOKEN = "loc_busy", "pit-busy"
QUIET, QUIET_TOKEN = "loc_quiet", "pit-quiet"
TAGS = 50  # one page of tags: each post.published makes 2 GHL requests (the post, the tags)
BURST = 300


@dataclass
class Limited:
    """The stack, and its limiter as the workers see it."""

    system: System
    limiter: RateLimiter
    workers: list[Worker]

    def journal(self) -> list[dict[str, Any]]:
        return self.system.ghl_journal()

    def worker_logs(self) -> str:
        return "\n".join(worker.log_path.read_text(errors="replace") for worker in self.workers)


@pytest.fixture(scope="module", params=database_kinds())
def limited(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: EmbeddedRedis,
) -> Iterator[Limited]:
    kind: str = request.param
    tmp: Path = tmp_path_factory.mktemp(f"rate-limit-{kind}")
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{REDIS_DB}"
    flushed: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    flushed.flushdb()
    with (
        ServerThread(create_sandbox_ghl_app(rate_limit=100, rate_window_seconds=10.0)) as ghl,
        ServerThread(create_sandbox_crm_app()) as crm,
        temporary_database(kind, tmp, upgrade=True) as (database_url, engine_options),
    ):
        settings = Settings.from_mapping(
            {
                "database_url": database_url,
                "redis_url": redis_url,
                "secret_key": "functional-tests-secret-key",
                "ghl_base_url": ghl.url,
                "sweep_interval": 0.5,
                "lease_seconds": 3,
                # The sweep looks for the message of any event queued 3 s: a deferred event's
                # message waits in a worker for its slot meanwhile, and must be found there.
                "queued_lost_after": 3,
                "max_attempts": 4,
                "ghl_timeout": 10.0,
                "crm_timeout": 10.0,
            }
        )
        store = Store(database_url, settings.secret_key, engine_options=engine_options)
        app = create_app(settings)
        workers = [Worker(settings, tmp / f"worker-{n}.log") for n in (1, 2)]
        for worker in workers:
            worker.start()
        try:
            with ServerThread(app) as web:
                system = System(
                    settings=settings.replace(public_url=web.url),
                    store=store,
                    web_url=web.url,
                    ghl_url=ghl.url,
                    crm_url=crm.url,
                    worker=workers[0],
                )
                for location, token in ((BUSY, BUSY_TOKEN), (QUIET, QUIET_TOKEN)):
                    system.http.post(
                        f"{ghl.url}/_sandbox/locations",
                        json={"location_id": location, "token": token, "tags": TAGS},
                    ).raise_for_status()
                limiter = RateLimiter(
                    flushed,
                    limit=settings.ghl_rate_limit,
                    window=settings.ghl_rate_window_seconds,
                    daily_limit=settings.ghl_daily_limit,
                )
                yield Limited(system, limiter, workers)
        finally:
            for worker in workers:
                worker.stop()
            app.extensions["socialbridge"].dispose()
            store.dispose()
            flushed.close()


def connect(system: System, location: str, token: str) -> ConnectionRecord:
    return system.new_connection(location_id=location, ghl_token=token)


def wait_all(system: System, event_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(event_ids)
    while pending:
        pending = {
            event_id
            for event_id in pending
            if (event := system.store.get_event(event_id)) is None
            or event.status not in ("done", "dead")
        }
        if pending and time.monotonic() > deadline:
            stuck = [system.store.get_event(event_id) for event_id in sorted(pending)[:3]]
            raise AssertionError(
                f"{len(pending)} events not finished, e.g. {stuck}\n{system.worker.log_tail()}"
            )
        time.sleep(0.5)


@pytest.mark.slow
def test_a_burst_on_one_location_runs_at_ghl_limit_without_a_429(limited: Limited) -> None:
    system = limited.system
    busy = connect(system, BUSY, BUSY_TOKEN)
    quiet = connect(system, QUIET, QUIET_TOKEN)
    posts = [post.id for post in seed_location(BUSY, tag_count=TAGS).posts]
    quiet_post = seed_location(QUIET, tag_count=TAGS).posts[0].id
    system.reset_sandboxes()

    def send(index: int) -> str:
        data = {"post_id": f"crm-{index}", "ghl_post_id": posts[index % len(posts)]}
        answer = system.send(busy, "post.published", data)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["event_id"])

    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        burst = list(pool.map(send, range(BURST)))
    sent_in = time.monotonic() - began

    # While the busy location works through its burst, an event of another location.
    time.sleep(3)
    answer = system.send(quiet, "post.published", {"post_id": "quiet", "ghl_post_id": quiet_post})
    assert answer.status_code == 202
    quiet_sent = time.monotonic()
    quiet_event = system.wait_for(answer.json()["event_id"], timeout=30)
    quiet_took = time.monotonic() - quiet_sent
    busy_done_then = system.store.count_events_by_status()["done"] - 1

    wait_all(system, burst, timeout=240)
    took = time.monotonic() - began

    events = [system.store.get_event(event_id) for event_id in burst]
    assert all(event is not None and event.status == "done" for event in events)
    # A deferral never costs an attempt: every event ran to its end in its first.
    assert Counter(event.attempts for event in events if event is not None) == {1: BURST}
    assert quiet_event.status == "done"

    journal = limited.journal()
    statuses = Counter(entry["response_status"] for entry in journal)
    assert statuses[429] == 0, statuses
    busy_calls = [entry for entry in journal if f"/{BUSY}/" in entry["path"]]
    post_calls = [entry for entry in busy_calls if "/posts/" in entry["path"]]
    tag_calls = [entry for entry in busy_calls if entry["path"].endswith("/tags")]
    # Each event reads its post once and lists the tags (one page) at most once; a repeat
    # would come from an event deferred between its two requests.
    assert BURST <= len(post_calls) <= BURST * 1.1
    assert len(tag_calls) <= BURST * 1.1
    # The busy location never had more than GHL's 100 in any 10 s: the sandbox would have
    # answered 429. How close it came to the allowance is a speed, measured by
    # bench.posts_by_id, not asserted here (a test never fails on timing). The quiet location
    # did not queue behind the busy one: it finished before most of the burst had.
    assert busy_done_then < BURST * 0.6
    logs = limited.worker_logs()
    print(
        f"\n{BURST} events in {took:.1f} s (sent in {sent_in:.1f} s): {len(post_calls)} post "
        f"and {len(tag_calls)} tag requests, {len(busy_calls) / took:.2f} requests/s; "
        f"quiet location done in {quiet_took:.2f} s; deferrals "
        f"{logs.count('event.deferred')}, swept {logs.count('event.swept')}, "
        f"messages that found nothing to do {logs.count('event.not_due')}"
    )


def test_a_deferred_event_waits_in_a_worker_and_is_not_sent_twice(limited: Limited) -> None:
    system = limited.system
    connection = connect(system, QUIET, QUIET_TOKEN)
    system.reset_sandboxes()
    # The location's window is full for the next ten seconds (taken by another installation).
    while limited.limiter.reserve(QUIET, horizon=0).reserved:
        pass
    queued_at = dt.datetime.now(dt.UTC)

    answer = system.send(
        connection, "tag.details_requested", {"post_id": "later", "tag_ids": ["a", "b"]}
    )
    assert answer.status_code == 202
    event_id = answer.json()["event_id"]

    # Queued longer than QUEUED_LOST_AFTER: the sweep asks Redis for its message, which waits
    # for its slot in a worker, unacknowledged, and so is found.
    seen_on_broker = False
    client: redis.Redis[bytes] = redis.Redis.from_url(system.settings.redis_url)
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            event = system.store.get_event(event_id)
            assert event is not None
            if event.status == "queued" and event_id in events_on_broker(client):
                seen_on_broker = True
            time.sleep(0.5)
    finally:
        client.close()
    done = system.wait_for(event_id, timeout=30)

    assert seen_on_broker
    assert done.status == "done"
    assert done.attempts == 1
    details = [e for e in system.ghl_journal() if e["path"].endswith("/tags/details")]
    assert len(details) == 1
    assert (done.started_at or queued_at) - queued_at >= dt.timedelta(seconds=5)
    assert [d["outcome"] for d in system.crm_deliveries(connection)] == ["stored"]
    assert f"event.swept event_id={event_id}" not in limited.worker_logs()
