"""The sandbox's per-location rate limit, on a clock the test moves."""

from __future__ import annotations

from datetime import date

from sandbox.ghl.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.day = date(2025, 1, 6)

    def __call__(self) -> float:
        return self.now

    def today(self) -> date:
        return self.day


def test_a_slot_frees_when_the_oldest_request_leaves_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=2, window_seconds=10, clock=clock, today=clock.today)
    limiter.hit("loc")
    clock.now += 4
    limiter.hit("loc")

    refused = limiter.hit("loc")
    clock.now += 6
    allowed = limiter.hit("loc")

    assert not refused.allowed
    assert refused.retry_after_seconds == 6
    assert refused.headers()["Retry-After"] == "6"
    assert allowed.allowed
    assert allowed.remaining == 0


def test_the_daily_cap_refuses_until_the_next_day() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        limit=100, window_seconds=1, daily_limit=3, clock=clock, today=clock.today
    )
    for _ in range(3):
        clock.now += 1
        limiter.hit("loc")

    clock.now += 1
    refused = limiter.hit("loc")
    clock.day = date(2025, 1, 7)
    next_day = limiter.hit("loc")

    assert not refused.allowed
    assert refused.daily_remaining == 0
    assert refused.retry_after_seconds is not None
    assert refused.retry_after_seconds >= 1
    assert next_day.allowed
    assert next_day.daily_remaining == 2


def test_peek_counts_nothing_and_keys_are_separate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=5, window_seconds=10, clock=clock, today=clock.today)
    limiter.hit("a")

    assert limiter.peek("a").remaining == 4
    assert limiter.peek("a").remaining == 4
    assert limiter.peek("b").remaining == 5
    assert limiter.peek("b").headers() == {
        "X-RateLimit-Max": "5",
        "X-RateLimit-Remaining": "5",
        "X-RateLimit-Interval-Milliseconds": "10000",
        "X-RateLimit-Limit-Daily": "200000",
        "X-RateLimit-Daily-Remaining": "200000",
    }
