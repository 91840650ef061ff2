"""/metrics: the store's counts and the recorded counters of every process, in Redis."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from socialbridge import metrics
from socialbridge.embedded_redis import free_port
from socialbridge.metrics import Recorder, redis_client_for
from store import ConnectionRecord, EventStatus, Store
from tests.unit.webapp.conftest import AppFactory
from workers.celery_app import QUEUE

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(autouse=True)
def empty_hash(app: Flask, redis_url: str) -> None:
    """Nothing recorded before the test: what this process's recorder still held from earlier
    tests is flushed (the app bound it to this Redis), then the hash emptied."""
    metrics.RECORDER.flush()
    direct = redis.Redis.from_url(redis_url)
    try:
        direct.delete(metrics.HASH_KEY)
    finally:
        direct.close()


def _scrape(client: FlaskClient) -> tuple[Samples, dict[str, str]]:
    """Every sample of /metrics by (name, labels), and each family's type."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def _record(store: Store, connection: ConnectionRecord, webhook_id: str, type_: str) -> str:
    event, _ = store.record_event(
        connection_id=connection.id, type=type_, payload={}, webhook_id=webhook_id
    )
    return event.id


def test_metrics_is_prometheus_text_0_0_4(client: FlaskClient) -> None:
    answer = client.get("/metrics")

    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_events_are_counted_by_type_and_status_every_one_shown(
    client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    for webhook_id in ("msg_a", "msg_b", "msg_c"):
        _record(store, connection, webhook_id, "post.published")
    dead = _record(store, connection, "msg_d", "statistics.requested")
    store.mark_dead(dead, "gave up", "retryable_exhausted")

    samples, types = _scrape(client)

    assert types["socialbridge_events"] == "gauge"
    events = {
        labels: value for (name, labels), value in samples.items() if name == "socialbridge_events"
    }
    expected = {
        (("status", status.value), ("type", type_)): 0.0
        for status in EventStatus
        for type_ in ("post.published", "tag.details_requested", "statistics.requested")
    }
    expected[(("status", "queued"), ("type", "post.published"))] = 3.0
    expected[(("status", "dead"), ("type", "statistics.requested"))] = 1.0
    assert events == expected
    assert samples[("socialbridge_connections", (("status", "active"),))] == 1.0
    assert samples[("socialbridge_connections", (("status", "parked"),))] == 0.0


def test_the_oldest_queued_event_has_an_age(
    client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    samples, _ = _scrape(client)
    assert samples[("socialbridge_oldest_queued_event_age_seconds", ())] == 0.0

    event_id = _record(store, connection, "msg_a", "post.published")
    queued_at = store.get_event(event_id).updated_at  # type: ignore[union-attr]
    samples, _ = _scrape(client)

    age = samples[("socialbridge_oldest_queued_event_age_seconds", ())]
    assert 0 <= age <= (dt.datetime.now(dt.UTC) - queued_at).total_seconds()


def test_recorded_counters_of_every_process_are_summed(client: FlaskClient, redis_url: str) -> None:
    web = Recorder(redis_client_for(redis_url), start_thread=False)
    worker = Recorder(redis_client_for(redis_url), start_thread=False)
    for status in (200, 200, 429):
        metrics.ghl_response("GET", "/social-media-posting/{locationId}/tags", status, recorder=web)
    metrics.ghl_response("GET", "/social-media-posting/{locationId}/tags", 429, recorder=worker)
    metrics.ghl_response("POST", "/social-media-posting/statistics", None, recorder=worker)
    metrics.limiter_waited(0.25, recorder=worker)
    metrics.limiter_waited(0.5, recorder=web)
    metrics.limiter_deferred(recorder=worker)
    metrics.limiter_slots_given_back(metrics.SLOT_UNUSED, 3, recorder=worker)
    metrics.limiter_slots_given_back(metrics.SLOT_LATE, recorder=worker)
    metrics.limiter_slots_given_back(metrics.SLOT_LATE, recorder=web)
    metrics.limiter_slots_given_back(metrics.SLOT_429, 0, recorder=web)
    for outcome in ("hit", "hit", "hit", "miss"):
        metrics.tag_cache_lookup(outcome, recorder=worker)
    assert web.flush()
    assert worker.flush()

    samples, types = _scrape(client)

    tags = "GET /social-media-posting/{locationId}/tags"
    assert types["socialbridge_ghl_requests"] == "counter"
    assert (
        samples[("socialbridge_ghl_requests_total", (("endpoint", tags), ("status", "200")))] == 2
    )
    assert (
        samples[("socialbridge_ghl_requests_total", (("endpoint", tags), ("status", "429")))] == 2
    )
    statistics = (("endpoint", "POST /social-media-posting/statistics"), ("status", "error"))
    assert samples[("socialbridge_ghl_requests_total", statistics)] == 1
    assert samples[("socialbridge_ghl_rate_limited_total", ())] == 2
    assert samples[("socialbridge_ghl_limiter_waits_total", ())] == 2
    assert samples[("socialbridge_ghl_limiter_wait_seconds_total", ())] == 0.75
    assert samples[("socialbridge_ghl_limiter_deferrals_total", ())] == 1
    given_back = {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "socialbridge_ghl_limiter_slots_given_back_total"
    }
    # Every reason is shown, at 0 before the first.
    assert given_back == {"late": 2, "unused": 3, "429": 0}
    lookups = {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "socialbridge_tag_cache_lookups_total"
    }
    assert lookups == {
        "hit": 3,
        "miss": 1,
        "shared": 0,
        "refresh": 0,
        "timeout": 0,
        "unavailable": 0,
    }


def test_the_time_to_done_is_a_cumulative_histogram(client: FlaskClient, redis_url: str) -> None:
    recorder = Recorder(redis_client_for(redis_url), start_thread=False)
    for seconds in (0.05, 0.3, 0.4, 7.0, 100_000.0):
        recorder.observe(metrics.EVENT_DONE_SECONDS, seconds, type="post.published")
    recorder.observe(metrics.EVENT_DONE_SECONDS, 1.0, type="statistics.requested")
    assert recorder.flush()

    samples, types = _scrape(client)

    assert types["socialbridge_event_done_seconds"] == "histogram"
    post = ("type", "post.published")

    def bucket(le: str, kind: tuple[str, str] = post) -> float:
        return samples[("socialbridge_event_done_seconds_bucket", (("le", le), kind))]

    assert bucket("0.1") == 1
    assert bucket("0.25") == 1
    assert bucket("0.5") == 3
    assert bucket("5.0") == 3
    assert bucket("10.0") == 4
    assert bucket("21600.0") == 4
    assert bucket("+Inf") == 5
    assert samples[("socialbridge_event_done_seconds_count", (post,))] == 5
    assert samples[("socialbridge_event_done_seconds_sum", (post,))] == 100_007.75
    assert bucket("1.0", ("type", "statistics.requested")) == 1
    assert bucket("0.5", ("type", "statistics.requested")) == 0


def test_queue_depth_is_the_length_of_the_celery_queue(client: FlaskClient, redis_url: str) -> None:
    queue = redis.Redis.from_url(redis_url)
    try:
        queue.lpush(QUEUE, b"one", b"two")
        samples, types = _scrape(client)
    finally:
        queue.close()

    assert types["socialbridge_queue_depth"] == "gauge"
    assert samples[("socialbridge_queue_depth", ())] == 2


def test_fields_of_another_shape_in_the_hash_are_ignored(
    client: FlaskClient, redis_url: str
) -> None:
    direct = redis.Redis.from_url(redis_url)
    try:
        direct.hset(metrics.HASH_KEY, "garbage", "1")
        direct.hset(metrics.HASH_KEY, metrics.field(metrics.GHL_LIMITER_WAITS, ()), "not a number")
        direct.hset(metrics.HASH_KEY, metrics.field(metrics.GHL_LIMITER_DEFERRALS, ()), "4")
        samples, _ = _scrape(client)
    finally:
        direct.close()

    assert samples[("socialbridge_ghl_limiter_waits_total", ())] == 0
    assert samples[("socialbridge_ghl_limiter_deferrals_total", ())] == 4


def test_without_redis_the_store_series_are_still_served(
    make_app: AppFactory, connection: ConnectionRecord
) -> None:
    down = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()

    samples, types = _scrape(down)

    assert samples[("socialbridge_connections", (("status", "active"),))] == 1
    assert "socialbridge_queue_depth" not in types
    assert "socialbridge_ghl_requests" not in types
