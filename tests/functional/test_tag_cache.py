"""A burst of `post.published` for one location lists its tags once, through the tag cache.

The stack of this module is its own: a redis-server, a store (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set), the sandbox GHL with GHL's own rate limit (100 requests a location
per 10 s), a sandbox CRM that keeps every write-back it stores on disk, the web app over real
HTTP, and two `celery -A workers worker` subprocesses, so that events of one location run in
two processes at once and meet in the cache's single flight.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ghl import endpoints
from sandbox.crm.app import create_sandbox_crm_app
from sandbox.crm.state_file import STATE_FILE_NAME, StateFile
from sandbox.ghl import DEFAULT_LOCATION, create_sandbox_ghl_app
from sandbox.ghl.seed import DEFAULT_TAG_COUNT
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis
from store import ConnectionRecord, EventRecord, Store
from tests.dbutil import database_kinds, temporary_database
from tests.functional.harness import System, Worker
from webapp import create_app

WORKERS = 2
EVENTS = 200
TAGS_PATH = f"/social-media-posting/{DEFAULT_LOCATION}/tags"
PAGES_PER_LISTING = -(-DEFAULT_TAG_COUNT // 100)  # GHL pages of 100 tags
POST_TYPE = (("type", "post.published"),)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Stack:
    system: System
    workers: list[Worker]
    crm_state: Path

    def send_at_once(self, connection: ConnectionRecord, count: int) -> list[str]:
        """``count`` post.published events (no ghl_post_id) sent together; their event ids."""

        def send(n: int) -> str:
            answer = self.system.send(connection, "post.published", {"post_id": f"crm-{n}"})
            assert answer.status_code == 202, answer.text
            return str(answer.json()["event_id"])

        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(send, range(count)))

    def ghl_requests(self) -> list[dict[str, Any]]:
        journal: list[dict[str, Any]] = self.system.http.get(
            f"{self.system.ghl_url}/_sandbox/journal"
        ).json()
        return journal

    def writebacks(self) -> list[dict[str, Any]]:
        """Every write-back the CRM stored, as it received it (from its state file)."""
        return [
            {**entry["body"], "received_at": entry["received_at"]}
            for entry in StateFile(self.crm_state).load()
            if entry["kind"] == "writeback"
        ]

    def metrics_once(self, ready: Callable[[Samples], bool], timeout: float = 60) -> Samples:
        """The samples of the web process's /metrics, scraped until ``ready`` says the
        workers' counters have been flushed (each flushes about once a second)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.system.http.get(f"{self.system.web_url}/metrics")
            assert answer.status_code == 200, answer.text
            samples = {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(answer.text)
                for sample in family.samples
            }
            if ready(samples) or time.monotonic() > deadline:
                return samples
            time.sleep(0.2)

    def cache_outcomes(self) -> list[str]:
        """The outcome of every `tags.cache` line the workers logged."""
        text = "\n".join(w.log_path.read_text(errors="replace") for w in self.workers)
        return re.findall(r" tags\.cache .*?\boutcome=(\w+)", text)


@pytest.fixture(scope="module", params=database_kinds())
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    kind: str = request.param
    tmp: Path = tmp_path_factory.mktemp(f"tag-cache-{kind}")
    redis = EmbeddedRedis(tmp / "redis")
    redis.start()
    try:
        with (
            # GHL's own limit: a bridge that listed the tags for every event would meet it.
            ServerThread(create_sandbox_ghl_app()) as ghl,
            ServerThread(create_sandbox_crm_app(data_dir=tmp / "crm")) as crm,
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
                    "max_attempts": 4,
                    "ghl_timeout": 10.0,
                    "crm_timeout": 10.0,
                }
            )
            store = Store(database_url, settings.secret_key, engine_options=engine_options)
            app = create_app(settings)
            workers = [Worker(settings, tmp / f"worker-{n}.log") for n in range(WORKERS)]
            try:
                for worker in workers:
                    worker.start()
                with ServerThread(app) as web:
                    system = System(
                        settings=settings.replace(public_url=web.url),
                        store=store,
                        web_url=web.url,
                        ghl_url=ghl.url,
                        crm_url=crm.url,
                        worker=workers[0],
                    )
                    yield Stack(system, workers, tmp / "crm" / STATE_FILE_NAME)
            finally:
                for worker in workers:
                    worker.stop()
                app.extensions["socialbridge"].dispose()
                store.dispose()
    finally:
        redis.stop()


def test_a_burst_for_one_location_lists_its_tags_once_per_ttl(stack: Stack) -> None:
    ttl = stack.system.settings.tag_cache_ttl
    connection = stack.system.new_connection()
    started = time.monotonic()

    ids = stack.send_at_once(connection, EVENTS)
    events: list[EventRecord] = [stack.system.wait_for(i, timeout=180) for i in ids]
    elapsed = time.monotonic() - started

    assert [e.status for e in events] == ["done"] * EVENTS
    # One listing (its pages from skip 0 on) per TTL at most, whichever worker made it.
    requests = stack.ghl_requests()
    pages = [r for r in requests if r["method"] == "GET" and r["path"] == TAGS_PATH]
    listings = [r for r in pages if r["query"]["skip"] == "0"]
    assert 1 <= len(listings) <= 1 + int(elapsed // ttl), f"{len(listings)} in {elapsed:.0f} s"
    assert len(pages) == PAGES_PER_LISTING * len(listings)
    assert [r for r in requests if r["response_status"] == 429] == []
    # Every event says where its tags came from, and only the listings were fetches.
    outcomes = stack.cache_outcomes()
    assert len(outcomes) == EVENTS
    assert outcomes.count("miss") + outcomes.count("refresh") == len(listings)
    assert set(outcomes) <= {"miss", "refresh", "hit", "shared"}

    writebacks = [w for w in stack.writebacks() if w["type"] == "post.tags_synced"]
    assert sorted(w["data"]["post_id"] for w in writebacks) == sorted(
        f"crm-{n}" for n in range(EVENTS)
    )
    for writeback in writebacks:
        data = writeback["data"]
        assert len(data["tags"]) == DEFAULT_TAG_COUNT
        fetched_at = dt.datetime.fromisoformat(data["tags_fetched_at"])
        received_at = dt.datetime.fromisoformat(writeback["received_at"])
        # Never older than the TTL when written (a second of slack for the CRM's own clock).
        assert dt.timedelta(0) <= received_at - fetched_at < dt.timedelta(seconds=ttl + 1)
    assert len({w["data"]["tags_fetched_at"] for w in writebacks}) == len(listings)

    # /metrics tells the same story, from what both workers recorded and flushed to Redis.
    samples = stack.metrics_once(
        lambda found: found.get(("socialbridge_event_done_seconds_count", POST_TYPE)) == EVENTS
    )
    assert samples[("socialbridge_events", (("status", "done"), *POST_TYPE))] == EVENTS
    assert samples[("socialbridge_event_done_seconds_bucket", (("le", "+Inf"), *POST_TYPE))] == (
        EVENTS
    )
    lookups = {
        dict(labels)["outcome"]: value
        for (name, labels), value in samples.items()
        if name == "socialbridge_tag_cache_lookups_total"
    }
    assert sum(lookups.values()) == EVENTS
    assert lookups["miss"] + lookups["refresh"] == len(listings)
    tags_ok = (("endpoint", f"GET {endpoints.TAGS.template}"), ("status", "200"))
    assert samples[("socialbridge_ghl_requests_total", tags_ok)] == len(pages)
    calls = sum(
        value for (name, _), value in samples.items() if name == "socialbridge_ghl_requests_total"
    )
    assert calls == len(requests)
    assert samples[("socialbridge_ghl_rate_limited_total", ())] == 0
    assert samples[("socialbridge_queue_depth", ())] == 0
    assert samples[("socialbridge_oldest_queued_event_age_seconds", ())] == 0
