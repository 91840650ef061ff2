"""The per-process recorder: counts in memory, added to one Redis hash by its flushes."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from socialbridge import metrics
from socialbridge.embedded_redis import free_port
from socialbridge.metrics import Recorder, field, parse_field, redis_client_for


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis[bytes]]:
    opened: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    yield opened
    opened.close()


def _recorder(redis_url: str) -> Recorder:
    return Recorder(redis_client_for(redis_url), start_thread=False)


def _hash(client: redis.Redis[bytes]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for name, value in client.hgetall(metrics.HASH_KEY).items():
        key = parse_field(name.decode())
        assert key is not None
        found[key] = float(value)
    return found


def test_flush_adds_counters_sums_and_histogram_buckets(
    redis_url: str, client: redis.Redis[bytes]
) -> None:
    recorder = _recorder(redis_url)
    recorder.count(metrics.GHL_REQUESTS, endpoint="GET /tags", status="200")
    recorder.count(metrics.GHL_REQUESTS, endpoint="GET /tags", status="200")
    recorder.count(metrics.GHL_REQUESTS, endpoint="GET /tags", status="429")
    recorder.add(metrics.GHL_LIMITER_WAIT_SECONDS, 0.25)
    recorder.add(metrics.GHL_LIMITER_WAIT_SECONDS, 0.5)
    recorder.observe(metrics.EVENT_DONE_SECONDS, 0.3, type="post.published")
    recorder.observe(metrics.EVENT_DONE_SECONDS, 0.5, type="post.published")
    recorder.observe(metrics.EVENT_DONE_SECONDS, 99_999.0, type="post.published")

    assert recorder.flush() is True

    kind = (("type", "post.published"),)
    assert _hash(client) == {
        (metrics.GHL_REQUESTS, (("endpoint", "GET /tags"), ("status", "200"))): 2,
        (metrics.GHL_REQUESTS, (("endpoint", "GET /tags"), ("status", "429"))): 1,
        (metrics.GHL_LIMITER_WAIT_SECONDS, ()): 0.75,
        # A bucket counts the observations up to its bound and above the one before it only.
        ("event_done_seconds_bucket", (("le", "0.5"), ("type", "post.published"))): 2,
        ("event_done_seconds_bucket", (("le", "+Inf"), ("type", "post.published"))): 1,
        ("event_done_seconds_count", kind): 3,
        ("event_done_seconds_sum", kind): pytest.approx(99_999.8),
    }
    # Flushed once: the next flush adds nothing.
    assert recorder.pending() == {}
    assert recorder.flush() is True
    assert _hash(client)[(metrics.GHL_LIMITER_WAIT_SECONDS, ())] == 0.75


def test_two_recorders_add_up_in_one_hash(redis_url: str, client: redis.Redis[bytes]) -> None:
    web, worker = _recorder(redis_url), _recorder(redis_url)
    web.count(metrics.TAG_CACHE_LOOKUPS, outcome="hit")
    worker.count(metrics.TAG_CACHE_LOOKUPS, 3, outcome="hit")
    worker.count(metrics.TAG_CACHE_LOOKUPS, outcome="miss")
    web.add(metrics.GHL_LIMITER_WAIT_SECONDS, 1.5)
    worker.add(metrics.GHL_LIMITER_WAIT_SECONDS, 2.0)

    assert web.flush()
    assert worker.flush()

    assert _hash(client) == {
        (metrics.TAG_CACHE_LOOKUPS, (("outcome", "hit"),)): 4,
        (metrics.TAG_CACHE_LOOKUPS, (("outcome", "miss"),)): 1,
        (metrics.GHL_LIMITER_WAIT_SECONDS, ()): 3.5,
    }


def test_counts_from_many_threads_are_all_flushed_once(
    redis_url: str, client: redis.Redis[bytes]
) -> None:
    recorder = _recorder(redis_url)
    threads_n, per_thread = 8, 2_000
    stop = threading.Event()

    def record() -> None:
        for _ in range(per_thread):
            recorder.count(metrics.GHL_LIMITER_WAITS)
            recorder.add(metrics.GHL_LIMITER_WAIT_SECONDS, 0.5)

    def flush_while_recording() -> None:
        while not stop.is_set():
            recorder.flush()

    flusher = threading.Thread(target=flush_while_recording)
    flusher.start()
    workers = [threading.Thread(target=record) for _ in range(threads_n)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    flusher.join()
    recorder.flush()

    found = _hash(client)
    assert found[(metrics.GHL_LIMITER_WAITS, ())] == threads_n * per_thread
    assert found[(metrics.GHL_LIMITER_WAIT_SECONDS, ())] == threads_n * per_thread * 0.5


def test_a_refused_flush_keeps_the_counts_for_the_next(
    redis_url: str, client: redis.Redis[bytes]
) -> None:
    target = {"url": f"redis://127.0.0.1:{free_port()}/0"}
    recorder = Recorder(
        lambda: redis.Redis.from_url(target["url"], socket_connect_timeout=1), start_thread=False
    )
    recorder.count(metrics.GHL_LIMITER_DEFERRALS)

    assert recorder.flush() is False
    recorder.count(metrics.GHL_LIMITER_DEFERRALS)
    target["url"] = redis_url
    assert recorder.flush() is True

    assert _hash(client) == {(metrics.GHL_LIMITER_DEFERRALS, ()): 2}


def test_an_unbound_recorder_keeps_its_counts(redis_url: str) -> None:
    recorder = Recorder(start_thread=False)
    recorder.count(metrics.GHL_LIMITER_WAITS)

    assert recorder.flush() is False
    recorder.bind(redis_client_for(redis_url))
    assert recorder.flush() is True
    assert recorder.pending() == {}


def test_the_thread_flushes_without_being_asked(redis_url: str, client: redis.Redis[bytes]) -> None:
    recorder = Recorder(redis_client_for(redis_url), every=0.05)
    recorder.count(metrics.GHL_LIMITER_WAITS, 5)
    try:
        # Polled until a generous deadline: only a thread that never flushes fails this.
        deadline = time.monotonic() + 30
        while not client.hlen(metrics.HASH_KEY) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        recorder.stop()
    assert _hash(client) == {(metrics.GHL_LIMITER_WAITS, ()): 5}


def _record_in_child(recorder: Recorder) -> None:
    # The parent's unflushed count was not inherited: only this one is flushed here.
    assert recorder.pending() == {}
    recorder.count(metrics.GHL_LIMITER_WAITS)
    assert recorder.flush()


def test_a_forked_child_starts_with_nothing_recorded(
    redis_url: str, client: redis.Redis[bytes]
) -> None:
    recorder = _recorder(redis_url)
    recorder.hook_process()
    recorder.count(metrics.GHL_LIMITER_WAITS, 10)
    try:
        child = multiprocessing.get_context("fork").Process(
            target=_record_in_child, args=(recorder,)
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert _hash(client) == {(metrics.GHL_LIMITER_WAITS, ()): 1}
        recorder.flush()
        assert _hash(client) == {(metrics.GHL_LIMITER_WAITS, ()): 11}
    finally:
        recorder.stop()


def test_fields_name_their_series_and_others_are_refused() -> None:
    key = ("ghl_requests", (("endpoint", 'GET /a "b"'), ("status", "200")))

    assert parse_field(field(*key)) == key
    assert parse_field("not json") is None
    assert parse_field("[1, []]") is None
    assert parse_field('{"a": 1}') is None


def test_the_hooks_record_what_they_name() -> None:
    recorder = Recorder(start_thread=False)
    kind = (("type", "post.published"),)

    metrics.ghl_response("GET", "/tags/{locationId}", 200, recorder=recorder)
    metrics.ghl_response("GET", "/tags/{locationId}", None, recorder=recorder)
    metrics.limiter_waited(0.5, recorder=recorder)
    metrics.limiter_deferred(recorder=recorder)
    metrics.tag_cache_lookup("hit", recorder=recorder)
    metrics.event_done(
        "post.published", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=3), recorder=recorder
    )

    pending = recorder.pending()
    seconds = pending.pop(("event_done_seconds_sum", kind))
    assert 3 <= seconds < 60
    assert pending == {
        (metrics.GHL_REQUESTS, (("endpoint", "GET /tags/{locationId}"), ("status", "200"))): 1,
        (metrics.GHL_REQUESTS, (("endpoint", "GET /tags/{locationId}"), ("status", "error"))): 1,
        (metrics.GHL_LIMITER_WAITS, ()): 1,
        (metrics.GHL_LIMITER_WAIT_SECONDS, ()): 0.5,
        (metrics.GHL_LIMITER_DEFERRALS, ()): 1,
        (metrics.TAG_CACHE_LOOKUPS, (("outcome", "hit"),)): 1,
        ("event_done_seconds_bucket", (("le", "5.0"), *kind)): 1,
        ("event_done_seconds_count", kind): 1,
    }
