"""console.overview: per connection state, last success, the last 24 hours, the queue and
the rate-limit headroom, read from a real store and Redis."""

from __future__ import annotations

import datetime as dt

import redis

from console.connection_state import State
from console.overview import build_overview
from ghl.limiter import RateLimiter
from store import Store
from tests.unit.console.eventutil import record
from workers.celery_app import QUEUE


def test_each_connection_shows_its_state_last_success_and_recent_counts(
    store: Store, redis_client: redis.Redis
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    zeta = store.create_connection(name="zeta", location_id="loc_z", ghl_token="t")
    done = record(store, acme, "done")
    record(store, acme, "dead")
    record(store, acme, "dead")
    record(store, zeta, "waiting")  # parks zeta

    overview = build_overview(store, redis_client, None)

    by_name = {row.name: row for row in overview.connections}
    assert by_name["acme"].state.state is State.ACTIVE
    assert by_name["acme"].last_success == done.finished_at
    assert by_name["acme"].recent["done"] == 1
    assert by_name["acme"].recent["dead"] == 2
    assert by_name["acme"].recent["queued"] == 0
    assert by_name["zeta"].state.state is State.PARKED
    assert by_name["zeta"].state.reason == "credentials refused"
    assert by_name["zeta"].last_success is None
    assert by_name["zeta"].waiting == 1
    assert overview.recent_totals == {
        "queued": 0,
        "processing": 0,
        "done": 1,
        "retrying": 0,
        "waiting": 1,
        "dead": 2,
    }


def test_last_success_is_the_latest_done_event(store: Store, redis_client: redis.Redis) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    record(store, acme, "done")
    latest = record(store, acme, "done")

    [row] = build_overview(store, redis_client, None).connections

    assert row.last_success == latest.finished_at


def test_events_older_than_a_day_are_not_in_the_recent_counts(
    store: Store, redis_client: redis.Redis
) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    record(store, acme, "dead")

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    [row] = build_overview(store, redis_client, None, now=later).connections

    assert row.recent["dead"] == 0


def test_queue_depth_and_the_oldest_queued_age(store: Store, redis_client: redis.Redis) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    queued = record(store, acme)
    redis_client.rpush(QUEUE, b"one", b"two")

    later = queued.updated_at + dt.timedelta(seconds=90)
    overview = build_overview(store, redis_client, None, now=later)

    assert overview.queue.depth == 2
    assert overview.queue.oldest_queued_age == 90.0


def test_nothing_queued_has_no_oldest_age(store: Store, redis_client: redis.Redis) -> None:
    overview = build_overview(store, redis_client, None)

    assert overview.queue.depth == 0
    assert overview.queue.oldest_queued_age is None
    assert overview.connections == []


def test_without_redis_the_queue_depth_is_unknown_and_the_rest_shows(store: Store) -> None:
    store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)

    overview = build_overview(store, gone, None)

    assert overview.queue.depth is None
    assert [row.name for row in overview.connections] == ["acme"]


def test_headroom_is_read_from_the_limiter_without_taking_a_slot(
    store: Store, redis_client: redis.Redis
) -> None:
    store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    store.create_connection(name="quiet", location_id="loc_q", ghl_token="t")
    limiter = RateLimiter(redis_client, limit=95, window=10.0, daily_limit=1000)
    assert limiter.reserve("loc_a", count=3, horizon=1.0).reserved

    first = build_overview(store, redis_client, limiter)
    second = build_overview(store, redis_client, limiter)

    by_name = {row.name: row for row in second.connections}
    headroom = by_name["acme"].headroom
    assert headroom is not None
    assert (headroom.window_left, headroom.window_limit) == (92, 95)
    assert (headroom.day_left, headroom.day_limit) == (997, 1000)
    # Reading took nothing: the second read sees what the first saw.
    assert first.connections[0].headroom == headroom
    # A location the limiter never counted has no headroom to show, rather than a guess.
    assert by_name["quiet"].headroom is None
    assert second.limiter_on


def test_an_oauth_connection_not_installed_yet_is_waiting(
    store: Store, redis_client: redis.Redis
) -> None:
    store.create_connection(name="oauth", location_id="", ghl_token="", ghl_auth="oauth")

    [row] = build_overview(store, redis_client, None).connections

    assert row.state.state is State.WAITING
    assert row.state.reason == "waiting for its GHL install"
