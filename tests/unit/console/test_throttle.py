"""The per-address counter of failed sign-ins, in a real Redis."""

from __future__ import annotations

import redis

from console.throttle import KEY_PREFIX, AddressThrottle


def test_an_address_is_refused_at_the_limit_until_its_window_ends(
    redis_client: redis.Redis,
) -> None:
    throttle = AddressThrottle(redis_client, limit=2, window=600)

    assert throttle.failed("10.0.0.1") == 1
    assert throttle.retry_after("10.0.0.1") == 0
    assert throttle.failed("10.0.0.1") == 2

    assert 590 <= throttle.retry_after("10.0.0.1") <= 600
    assert throttle.retry_after("10.0.0.2") == 0


def test_later_failures_do_not_push_the_end_of_the_window(redis_client: redis.Redis) -> None:
    throttle = AddressThrottle(redis_client, limit=5, window=600)
    throttle.failed("10.0.0.1")
    redis_client.expire(KEY_PREFIX + "10.0.0.1", 100)

    throttle.failed("10.0.0.1")

    assert redis_client.ttl(KEY_PREFIX + "10.0.0.1") <= 100


def test_forget_clears_the_address(redis_client: redis.Redis) -> None:
    throttle = AddressThrottle(redis_client, limit=1, window=600)
    throttle.failed("10.0.0.1")

    throttle.forget("10.0.0.1")

    assert throttle.retry_after("10.0.0.1") == 0
