"""Read HighLevel's rate-limit headers and turn them into a delay before the next try.

GHL announces its limits (100 requests per 10 s and 200,000 per day, per app and location) on
every answer:

    X-RateLimit-Max, X-RateLimit-Remaining, X-RateLimit-Interval-Milliseconds,
    X-RateLimit-Limit-Daily, X-RateLimit-Daily-Remaining

and may add a standard `Retry-After` (seconds or an HTTP date) to a 429 or 503.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from socialbridge.httputil import parse_retry_after


@dataclass(frozen=True)
class RateLimit:
    """The limits one answer announced; a field is None when its header is absent or garbled."""

    max: int | None = None
    remaining: int | None = None
    interval_ms: int | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    # httpx.Headers is case-insensitive already; a plain dict from a test or a WSGI app is not.
    return {key.lower(): value for key, value in headers.items()}


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """The `X-RateLimit-*` headers of one answer."""
    lowered = _lower(headers)
    return RateLimit(
        max=_int(lowered.get("x-ratelimit-max")),
        remaining=_int(lowered.get("x-ratelimit-remaining")),
        interval_ms=_int(lowered.get("x-ratelimit-interval-milliseconds")),
        daily_limit=_int(lowered.get("x-ratelimit-limit-daily")),
        daily_remaining=_int(lowered.get("x-ratelimit-daily-remaining")),
    )


def seconds_to_utc_midnight(now: dt.datetime | None = None) -> float:
    """Seconds until the next 00:00 UTC, when GHL's daily budget starts again."""
    current = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    midnight = dt.datetime.combine(current.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    return (midnight - current).total_seconds()


def retry_delay(
    status: int, headers: Mapping[str, str], *, now: dt.datetime | None = None
) -> float | None:
    """The delay in seconds the server asked for before the request may be sent again.

    `Retry-After` wins whenever it is present. On a 429 without it: the time to the next UTC
    midnight when the daily budget is spent (waiting one interval would only earn another
    429), else the length of the rate-limit window. None when the answer says nothing.
    """
    delay = parse_retry_after(_lower(headers).get("retry-after"), now=now)
    if delay is not None or status != 429:
        return delay
    limits = parse_rate_limit(headers)
    if limits.daily_remaining == 0:
        return seconds_to_utc_midnight(now)
    if limits.interval_ms is not None:
        return limits.interval_ms / 1000
    return None
