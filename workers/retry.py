"""How long to wait before the next attempt: exponential backoff with full jitter."""

from __future__ import annotations

import random


def retry_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    server_delay: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before attempt ``attempt + 1``.

    Full jitter (uniform between 0 and ``base * 2**(attempt-1)``, capped) spreads the retries of
    many events that failed together. When the server named a delay (Retry-After, rate-limit
    window) we never come back sooner than it asked. The result never exceeds ``cap``; the store
    keeps it as the event's ``next_attempt_at``.
    """
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    delay = (rng or random).uniform(0, ceiling)
    if server_delay is not None:
        delay = max(delay, server_delay)
    return min(delay, cap)
