from __future__ import annotations

import datetime as dt

from ghl.ratelimit import (
    RateLimit,
    parse_rate_limit,
    retry_delay,
    seconds_to_utc_midnight,
)

NOW = dt.datetime(2025, 3, 1, 23, 59, 0, tzinfo=dt.UTC)


def test_parse_rate_limit_reads_every_header_case_insensitively() -> None:
    headers = {
        "x-ratelimit-max": "100",
        "X-RateLimit-Remaining": "42",
        "X-RATELIMIT-INTERVAL-MILLISECONDS": "10000",
        "X-RateLimit-Limit-Daily": "200000",
        "X-RateLimit-Daily-Remaining": "0",
    }

    assert parse_rate_limit(headers) == RateLimit(100, 42, 10000, 200000, 0)


def test_parse_rate_limit_ignores_absent_and_garbled_values() -> None:
    assert (
        parse_rate_limit({"X-RateLimit-Remaining": "lots", "X-RateLimit-Max": "-1"}) == RateLimit()
    )


def test_seconds_to_utc_midnight() -> None:
    assert seconds_to_utc_midnight(NOW) == 60.0
    eastern = dt.datetime(2025, 3, 1, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert seconds_to_utc_midnight(eastern) == 3600.0


def test_retry_after_wins() -> None:
    headers = {"Retry-After": "5", "X-RateLimit-Daily-Remaining": "0"}
    assert retry_delay(429, headers, now=NOW) == 5.0
    assert retry_delay(503, headers, now=NOW) == 5.0


def test_429_without_retry_after() -> None:
    assert retry_delay(429, {"X-RateLimit-Interval-Milliseconds": "10000"}, now=NOW) == 10.0
    spent = {"X-RateLimit-Interval-Milliseconds": "10000", "X-RateLimit-Daily-Remaining": "0"}
    assert retry_delay(429, spent, now=NOW) == 60.0
    assert retry_delay(429, {}, now=NOW) is None


def test_other_statuses_only_use_retry_after() -> None:
    assert retry_delay(500, {"X-RateLimit-Interval-Milliseconds": "10000"}, now=NOW) is None
