"""HighLevel's rate limit, per location: a burst limit over a sliding window, and a daily cap.

HighLevel allows 100 requests per 10 seconds and 200,000 per day per app per location, and
announces both on every answer in `X-RateLimit-*` headers. The sandbox counts per location (a
Private Integration token belongs to one location), over a sliding window: a request is
allowed when fewer than `limit` requests were allowed in the last `window_seconds`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

DAILY_LIMIT = 200_000


def _utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class RateLimitStatus:
    """Where one location stands after (or without) a request."""

    allowed: bool
    limit: int
    remaining: int
    interval_ms: int
    daily_limit: int
    daily_remaining: int
    retry_after_seconds: int | None = None

    def headers(self) -> dict[str, str]:
        """The `X-RateLimit-*` headers HighLevel sends on every answer (and Retry-After)."""
        headers = {
            "X-RateLimit-Max": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Interval-Milliseconds": str(self.interval_ms),
            "X-RateLimit-Limit-Daily": str(self.daily_limit),
            "X-RateLimit-Daily-Remaining": str(self.daily_remaining),
        }
        if self.retry_after_seconds is not None:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class RateLimiter:
    """Counts requests per key (a location id). Thread-safe."""

    def __init__(
        self,
        *,
        limit: int = 100,
        window_seconds: float = 10.0,
        daily_limit: int = DAILY_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = _utc_today,
    ) -> None:
        if limit <= 0 or window_seconds <= 0 or daily_limit <= 0:
            raise ValueError("limit, window_seconds and daily_limit must be positive")
        self.limit = limit
        self.window_seconds = window_seconds
        self.daily_limit = daily_limit
        self._clock = clock
        self._today = today
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}
        self._daily: dict[str, tuple[date, int]] = {}

    def hit(self, key: str) -> RateLimitStatus:
        """Count one request for `key` if the limits allow it; say where `key` stands."""
        with self._lock:
            now = self._clock()
            recent = self._recent.setdefault(key, deque())
            self._forget_old(recent, now)
            used_today = self._used_today(key)
            if len(recent) >= self.limit or used_today >= self.daily_limit:
                return self._status(recent, used_today, now, allowed=False)
            recent.append(now)
            self._daily[key] = (self._today(), used_today + 1)
            return self._status(recent, used_today + 1, now, allowed=True)

    def peek(self, key: str) -> RateLimitStatus:
        """Where `key` stands, without counting a request (for answers that are not counted)."""
        with self._lock:
            now = self._clock()
            recent = self._recent.get(key, deque())
            self._forget_old(recent, now)
            return self._status(recent, self._used_today(key), now, allowed=True)

    def _forget_old(self, recent: deque[float], now: float) -> None:
        while recent and recent[0] <= now - self.window_seconds:
            recent.popleft()

    def _used_today(self, key: str) -> int:
        day, used = self._daily.get(key, (self._today(), 0))
        return used if day == self._today() else 0

    def _status(
        self, recent: deque[float], used_today: int, now: float, *, allowed: bool
    ) -> RateLimitStatus:
        retry_after = None
        if not allowed:
            if used_today >= self.daily_limit:
                retry_after = _seconds_to_midnight()
            else:
                # The oldest request in the window leaves it first and frees one slot.
                retry_after = max(1, math.ceil(recent[0] + self.window_seconds - now))
        return RateLimitStatus(
            allowed=allowed,
            limit=self.limit,
            remaining=max(0, self.limit - len(recent)),
            interval_ms=round(self.window_seconds * 1000),
            daily_limit=self.daily_limit,
            daily_remaining=max(0, self.daily_limit - used_today),
            retry_after_seconds=retry_after,
        )


def _seconds_to_midnight() -> int:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, 86400 - math.floor((now - midnight).total_seconds()))
