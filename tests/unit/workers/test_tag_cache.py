"""The tag cache against a real Redis and the sandbox GHL (in process, and over HTTP for the
test with two processes). Every listing counted here is a real `GET …/tags` in the sandbox's
journal; a listing is one page, since the test location has fewer than 100 tags."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import multiprocessing
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
import redis
from flask import Flask
from redis.backoff import NoBackoff
from redis.lock import Lock
from redis.retry import Retry

from ghl.client import GHLClient
from sandbox.ghl import create_sandbox_ghl_app
from sandbox.ghl.seed import seed_location
from sandbox.server import ServerThread
from schemas.ghl import Tag
from socialbridge.embedded_redis import free_port
from tests.unit.workers.conftest import make_settings
from workers.services import Services
from workers.tag_cache import (
    OUTCOME_HIT,
    OUTCOME_MISS,
    OUTCOME_OFF,
    OUTCOME_REFRESH,
    OUTCOME_SHARED,
    OUTCOME_TIMEOUT,
    OUTCOME_UNAVAILABLE,
    CachedTags,
    TagCache,
    entry_key,
    lock_key,
    tag_cache_for,
)

LOCATION = "loc_cache"
TOKEN = "pit-cache-secret-token"
TAG_COUNT = 40
SEEDED = seed_location(LOCATION, tag_count=TAG_COUNT)
T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Ghl:
    """The sandbox GHL in process, with a seeded location of our own."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        answer = app.test_client().post(
            "/_sandbox/locations",
            json={"location_id": LOCATION, "token": TOKEN, "tags": TAG_COUNT},
        )
        assert answer.status_code == 201, answer.get_json()
        self.http = httpx.Client(
            base_url="http://ghl.sandbox", transport=httpx.WSGITransport(app=app)
        )
        self.client = GHLClient(self.http, token=TOKEN)

    def fetch(self) -> list[Tag]:
        return self.client.list_tags(LOCATION)

    def listings(self) -> int:
        """How many times GHL was asked for the tag list."""
        entries = self.app.test_client().get("/_sandbox/journal").get_json()
        return sum(1 for e in entries if e["method"] == "GET" and e["path"].endswith("/tags"))

    def delay_listing(self, ms: int) -> None:
        answer = self.app.test_client().post(
            "/_sandbox/faults", json={"path_contains": "/tags", "delay_ms": ms, "times": 1}
        )
        assert answer.status_code == 201, answer.get_json()


@pytest.fixture
def ghl() -> Iterator[Ghl]:
    sandbox = Ghl(create_sandbox_ghl_app(rate_limit=10_000))
    yield sandbox
    sandbox.http.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis[bytes]]:
    opened: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    yield opened
    opened.close()


def ids(cached: CachedTags) -> list[str]:
    return [tag.id for tag in cached.tags]


def seeded_ids() -> list[str]:
    return [tag.id for tag in SEEDED.tags]


def cache_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        record.event_fields  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == "tags.cache"
    ]


# --- hit, miss, TTL -------------------------------------------------------------------------


def test_a_miss_lists_the_tags_and_the_next_event_is_a_hit(
    client: redis.Redis[bytes], ghl: Ghl
) -> None:
    clock = Clock()
    cache = TagCache(client, 60, clock=clock)

    first = cache.tags(LOCATION, ghl.fetch)
    clock.advance(30)
    second = cache.tags(LOCATION, ghl.fetch)

    assert first.outcome == OUTCOME_MISS
    assert ids(first) == seeded_ids()
    assert first.fetched_at == T0
    assert second.outcome == OUTCOME_HIT
    assert second.fetched_at == T0
    assert [(t.id, t.name) for t in second.tags] == [(t.id, t.name) for t in SEEDED.tags]
    assert ghl.listings() == 1


def test_an_unchanged_entry_is_decoded_once_and_a_new_one_again(
    client: redis.Redis[bytes], ghl: Ghl
) -> None:
    clock = Clock()
    cache = TagCache(client, 60, clock=clock)
    cache.tags(LOCATION, ghl.fetch)

    first = cache.tags(LOCATION, ghl.fetch)
    second = cache.tags(LOCATION, ghl.fetch)
    # Another process lists the tags again: a renamed tag, a later time.
    document = json.loads(client.get(entry_key(LOCATION)) or b"")
    document["tags"][0][1] = "Renamed"
    document["at"] = (T0 + dt.timedelta(seconds=10)).isoformat()
    client.set(entry_key(LOCATION), json.dumps(document).encode())
    third = cache.tags(LOCATION, ghl.fetch)

    assert [first.outcome, second.outcome, third.outcome] == [OUTCOME_HIT] * 3
    assert second.tags is first.tags
    assert third.tags is not first.tags
    assert third.tags[0].name == "Renamed"
    assert third.fetched_at == T0 + dt.timedelta(seconds=10)
    assert [(t.id, t.name) for t in third.tags[1:]] == [(t.id, t.name) for t in SEEDED.tags[1:]]
    assert ghl.listings() == 1


def test_an_entry_as_old_as_the_ttl_is_listed_again(client: redis.Redis[bytes], ghl: Ghl) -> None:
    clock = Clock()
    cache = TagCache(client, 60, clock=clock)
    cache.tags(LOCATION, ghl.fetch)

    clock.advance(59.9)
    still = cache.tags(LOCATION, ghl.fetch)
    clock.advance(0.1)
    again = cache.tags(LOCATION, ghl.fetch)

    assert still.outcome == OUTCOME_HIT
    assert again.outcome == OUTCOME_MISS
    assert again.fetched_at == T0 + dt.timedelta(seconds=60)
    assert ghl.listings() == 2


def test_the_entry_is_compact_json_that_redis_forgets_with_the_ttl(
    client: redis.Redis[bytes], ghl: Ghl
) -> None:
    TagCache(client, 60, clock=Clock()).tags(LOCATION, ghl.fetch)

    raw = client.get(entry_key(LOCATION))
    assert raw is not None
    document = json.loads(raw)
    assert document["v"] == 1
    assert dt.datetime.fromisoformat(document["at"]) == T0
    assert document["tags"] == [[t.id, t.name] for t in SEEDED.tags]
    assert document["absent"] == []
    # No space after separators (tag names have their own spaces).
    assert b'","' in raw
    assert b'", "' not in raw
    assert 59_000 < client.pttl(entry_key(LOCATION)) <= 60_000
    assert TOKEN.encode() not in raw


def test_ttl_0_lists_for_every_event_and_never_asks_redis(
    ghl: Ghl, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens there: a cache that asked Redis would log it unavailable.
    cache = TagCache(unreachable_redis(), 0)

    with caplog.at_level(logging.INFO, logger="workers.tag_cache"):
        outcomes = [cache.tags(LOCATION, ghl.fetch).outcome for _ in range(3)]

    assert outcomes == [OUTCOME_OFF] * 3
    assert ghl.listings() == 3
    assert cache_lines(caplog) == []


# --- a tag the cached list lacks ---------------------------------------------------------------


def test_a_tag_the_cached_list_lacks_refreshes_it_once_for_many_threads(
    client: redis.Redis[bytes], ghl: Ghl
) -> None:
    new_tag = SEEDED.tags[-1].id

    def before_the_tag_existed() -> list[Tag]:
        return [tag for tag in ghl.fetch() if tag.id != new_tag]

    cache = TagCache(client, 60)
    assert new_tag not in ids(cache.tags(LOCATION, before_the_tag_existed))
    ghl.delay_listing(300)  # the refresh is slow enough that every thread meets it
    start = threading.Barrier(50)
    results: queue.Queue[CachedTags] = queue.Queue()

    def event() -> None:
        start.wait()
        results.put(cache.tags(LOCATION, ghl.fetch, need=[new_tag]))

    threads = [threading.Thread(target=event) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    answers = [results.get_nowait() for _ in range(50)]
    assert all(new_tag in ids(answer) for answer in answers)
    outcomes = sorted(answer.outcome for answer in answers)
    assert outcomes == [OUTCOME_REFRESH] + [OUTCOME_SHARED] * 49
    assert len({answer.fetched_at for answer in answers}) == 1
    assert ghl.listings() == 2  # the first listing, and one refresh for fifty events


def test_no_refresh_when_the_list_was_fetched_after_the_event_asked(
    client: redis.Redis[bytes], ghl: Ghl
) -> None:
    # Another process listed a moment after this event asked: its list lacks the tag for some
    # other reason than its age, so listing again would find no more.
    TagCache(client, 60, clock=Clock(T0 + dt.timedelta(seconds=1))).tags(LOCATION, ghl.fetch)

    answer = TagCache(client, 60, clock=Clock(T0)).tags(LOCATION, ghl.fetch, need=["unlisted"])

    assert answer.outcome == OUTCOME_SHARED
    assert answer.fetched_at == T0 + dt.timedelta(seconds=1)
    assert ghl.listings() == 1


def test_an_id_ghl_does_not_list_costs_one_refresh_then_is_remembered(
    client: redis.Redis[bytes], ghl: Ghl
) -> None:
    clock = Clock()
    cache = TagCache(client, 60, clock=clock)
    cache.tags(LOCATION, ghl.fetch)

    clock.advance(1)
    refreshed = cache.tags(LOCATION, ghl.fetch, need=[SEEDED.tags[0].id, "deleted-tag"])
    clock.advance(1)
    remembered = cache.tags(LOCATION, ghl.fetch, need=["deleted-tag"])
    clock.advance(1)
    another = cache.tags(LOCATION, ghl.fetch, need=["another-unknown"])

    assert refreshed.outcome == OUTCOME_REFRESH
    assert refreshed.fetched_at == T0 + dt.timedelta(seconds=1)
    assert remembered.outcome == OUTCOME_HIT
    assert another.outcome == OUTCOME_REFRESH
    assert ghl.listings() == 3
    document = json.loads(client.get(entry_key(LOCATION)) or b"")
    assert document["absent"] == ["another-unknown", "deleted-tag"]


def test_a_hit_needs_no_refresh_for_tags_it_has(client: redis.Redis[bytes], ghl: Ghl) -> None:
    cache = TagCache(client, 60)
    cache.tags(LOCATION, ghl.fetch)

    answer = cache.tags(LOCATION, ghl.fetch, need=seeded_ids()[:5])

    assert answer.outcome == OUTCOME_HIT
    assert ghl.listings() == 1


# --- single flight ------------------------------------------------------------------------------


def _list_in_another_process(
    redis_url: str,
    ghl_url: str,
    start: Any,
    results: Any,
) -> None:
    """One worker process's event: list the location's tags through the cache."""
    client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    with httpx.Client(base_url=ghl_url, timeout=10) as http:
        ghl = GHLClient(http, token=TOKEN)
        start.wait(timeout=30)
        answer = TagCache(client, 60).tags(LOCATION, functools.partial(ghl.list_tags, LOCATION))
    client.close()
    results.put((answer.outcome, len(answer.tags), answer.fetched_at.isoformat()))


def test_two_processes_list_the_tags_once(redis_url: str) -> None:
    app = create_sandbox_ghl_app(rate_limit=10_000)
    ghl = Ghl(app)
    ghl.delay_listing(500)  # the lister is still at it when the other process asks
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(2)
    results = spawn.Queue()
    try:
        with ServerThread(app) as server:
            processes = [
                spawn.Process(
                    target=_list_in_another_process, args=(redis_url, server.url, start, results)
                )
                for _ in range(2)
            ]
            for process in processes:
                process.start()
            answers = [results.get(timeout=60) for _ in processes]
            for process in processes:
                process.join(timeout=30)
    finally:
        ghl.http.close()

    assert [process.exitcode for process in processes] == [0, 0]
    assert sorted(outcome for outcome, _, _ in answers) == [OUTCOME_MISS, OUTCOME_SHARED]
    assert {count for _, count, _ in answers} == {TAG_COUNT}
    assert len({fetched_at for _, _, fetched_at in answers}) == 1
    assert ghl.listings() == 1


def test_a_waiter_lists_by_itself_when_the_lock_stays_taken(
    client: redis.Redis[bytes], ghl: Ghl, caplog: pytest.LogCaptureFixture
) -> None:
    # A process took the lock and died (or is stuck): its lock lives on for a while.
    stuck = Lock(client, lock_key(LOCATION), timeout=30)
    assert stuck.acquire(blocking=False)
    cache = TagCache(client, 60, lock_seconds=0.3)

    with caplog.at_level(logging.INFO, logger="workers.tag_cache"):
        answer = cache.tags(LOCATION, ghl.fetch)

    assert answer.outcome == OUTCOME_TIMEOUT
    assert ids(answer) == seeded_ids()
    assert ghl.listings() == 1
    [line] = cache_lines(caplog)
    assert line["waited_ms"] >= 300
    # What it listed is kept for the next event.
    assert cache.tags(LOCATION, ghl.fetch).outcome == OUTCOME_HIT
    stuck.release()


def test_a_failed_listing_frees_the_lock_for_the_next_event(
    client: redis.Redis[bytes], ghl: Ghl
) -> None:
    cache = TagCache(client, 60)

    def refused() -> list[Tag]:
        raise RuntimeError("GHL answered 503")

    with pytest.raises(RuntimeError, match="503"):
        cache.tags(LOCATION, refused)

    assert client.exists(lock_key(LOCATION)) == 0
    assert client.exists(entry_key(LOCATION)) == 0
    assert cache.tags(LOCATION, ghl.fetch).outcome == OUTCOME_MISS


# --- entries that cannot be read, Redis away -------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"v": 2, "at": "2026-03-10T12:00:00+00:00", "tags": [], "absent": []}',
        b'{"v": 1, "at": "2026-03-10T12:00:00", "tags": [], "absent": []}',
        b'{"v": 1, "at": "yesterday", "tags": [], "absent": []}',
        b'{"v": 1, "at": "2026-03-10T12:00:00+00:00", "tags": [["id"]], "absent": []}',
        b'{"v": 1, "at": "2026-03-10T12:00:00+00:00", "tags": [["", "x"]], "absent": []}',
        b'{"v": 1, "at": "2026-03-10T12:00:00+00:00", "tags": [[1, "x"]], "absent": []}',
        b'{"v": 1, "at": "2026-03-10T12:00:00+00:00", "tags": [], "absent": [1]}',
        b'{"v": 1, "at": "2026-03-10T12:00:00+00:00", "tags": []}',
    ],
)
def test_an_entry_that_cannot_be_read_is_a_miss(
    client: redis.Redis[bytes], ghl: Ghl, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    client.set(entry_key(LOCATION), raw)
    cache = TagCache(client, 60, clock=Clock())

    with caplog.at_level(logging.INFO, logger="workers.tag_cache"):
        answer = cache.tags(LOCATION, ghl.fetch)

    assert answer.outcome == OUTCOME_MISS
    assert ids(answer) == seeded_ids()
    assert cache_lines(caplog)[0]["reason"] == "corrupt"
    assert cache.tags(LOCATION, ghl.fetch).outcome == OUTCOME_HIT


def test_an_entry_of_another_redis_type_is_a_miss(client: redis.Redis[bytes], ghl: Ghl) -> None:
    client.rpush(entry_key(LOCATION), b"x")
    cache = TagCache(client, 60)

    assert cache.tags(LOCATION, ghl.fetch).outcome == OUTCOME_MISS
    assert cache.tags(LOCATION, ghl.fetch).outcome == OUTCOME_HIT


def unreachable_redis() -> redis.Redis[bytes]:
    """A client of a port nothing listens on, that gives up at once (no retries)."""
    return redis.Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


def test_without_redis_the_tags_are_listed_directly_and_it_is_logged(
    ghl: Ghl, caplog: pytest.LogCaptureFixture
) -> None:
    cache = TagCache(unreachable_redis(), 60)

    with caplog.at_level(logging.INFO, logger="workers.tag_cache"):
        answers = [cache.tags(LOCATION, ghl.fetch) for _ in range(2)]

    assert [a.outcome for a in answers] == [OUTCOME_UNAVAILABLE] * 2
    assert all(ids(a) == seeded_ids() for a in answers)
    assert ghl.listings() == 2
    lines = cache_lines(caplog)
    assert [line["outcome"] for line in lines] == [OUTCOME_UNAVAILABLE] * 2
    assert lines[0]["error"] == "ConnectionError"
    # The next event does not wait for Redis again at once.
    assert lines[1]["error"] == "paused after a Redis failure"
    levels = {r.levelno for r in caplog.records if r.getMessage() == "tags.cache"}
    assert levels == {logging.WARNING}


def test_redis_is_asked_again_once_the_pause_is_over(
    ghl: Ghl, caplog: pytest.LogCaptureFixture
) -> None:
    cache = TagCache(unreachable_redis(), 60, redis_pause=0)

    with caplog.at_level(logging.INFO, logger="workers.tag_cache"):
        cache.tags(LOCATION, ghl.fetch)
        cache.tags(LOCATION, ghl.fetch)

    assert [line["error"] for line in cache_lines(caplog)] == ["ConnectionError"] * 2


# --- logs -------------------------------------------------------------------------------------


def test_each_event_logs_one_line_and_never_the_token(
    client: redis.Redis[bytes], ghl: Ghl, caplog: pytest.LogCaptureFixture
) -> None:
    cache = TagCache(client, 60)

    with caplog.at_level(logging.DEBUG):
        cache.tags(LOCATION, ghl.fetch)
        cache.tags(LOCATION, ghl.fetch)
        cache.tags(LOCATION, ghl.fetch, need=["unlisted"])

    lines = cache_lines(caplog)
    assert [line["outcome"] for line in lines] == [OUTCOME_MISS, OUTCOME_HIT, OUTCOME_REFRESH]
    assert lines[0]["reason"] == "absent"
    assert all(line["location_id"] == LOCATION and line["tags"] == TAG_COUNT for line in lines)
    assert "waited_ms" in lines[0]
    assert "waited_ms" in lines[2]
    everything = caplog.text + repr([getattr(r, "event_fields", {}) for r in caplog.records])
    assert TOKEN not in everything


def test_the_token_is_not_in_the_caches_repr(client: redis.Redis[bytes]) -> None:
    assert repr(TagCache(client, 60)) == "TagCache(ttl=60)"


# --- one cache per process ----------------------------------------------------------------------


def test_the_services_share_one_cache_on_their_redis(redis_url: str) -> None:
    services = Services(make_settings("sqlite://", redis_url=redis_url, tag_cache_ttl=60))
    try:
        first, second = tag_cache_for(services), tag_cache_for(services)

        assert first is not None
        assert first is second
        assert first.redis is services.redis
        assert first.ttl == dt.timedelta(seconds=60)
    finally:
        services.dispose()


def test_services_that_opened_a_new_redis_client_get_a_new_cache(redis_url: str) -> None:
    services = Services(make_settings("sqlite://", redis_url=redis_url, tag_cache_ttl=60))
    try:
        before = tag_cache_for(services)
        services.dispose()  # drops the Redis client; the next use opens another
        after = tag_cache_for(services)

        assert before is not None
        assert after is not None
        assert after is not before
        assert after.redis is services.redis
    finally:
        services.dispose()


def test_ttl_0_gives_no_cache() -> None:
    settings = make_settings("sqlite://", tag_cache_ttl=0)

    assert tag_cache_for(Services(settings)) is None


def test_the_cache_takes_its_ttl_from_the_settings(redis_url: str) -> None:
    services = Services(make_settings("sqlite://", redis_url=redis_url, tag_cache_ttl=5))
    try:
        cache = tag_cache_for(services)

        assert cache is not None
        assert cache.ttl == dt.timedelta(seconds=5)
    finally:
        services.dispose()


def _tags(names: Sequence[str]) -> list[Tag]:
    return [Tag(id=f"id-{n}", name=n, raw={"_id": f"id-{n}", "tag": n}) for n in names]


def test_unicode_names_survive_the_cache(client: redis.Redis[bytes]) -> None:
    names = ["été", "日本", "emoji 🎉", 'quote " and \\ slash']
    cache = TagCache(client, 60)
    cache.tags(LOCATION, lambda: _tags(names))

    answer = cache.tags(LOCATION, lambda: [])

    assert answer.outcome == OUTCOME_HIT
    assert [t.name for t in answer.tags] == names
    assert [t.raw for t in answer.tags] == [{"_id": f"id-{n}", "tag": n} for n in names]
