"""HTTP facts both outside-system clients need."""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from importlib import metadata


def is_retryable_status(status: int) -> bool:
    """Whether an HTTP answer with this status is worth sending again: 408 (the server gave up
    waiting for us), 429 (too many requests) and every 5xx. The rule of the GHL client and
    every CRM connector."""
    return status in (408, 429) or status >= 500


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP date (RFC 9110).

    A date in the past means "now" (0.0); a value that is neither form is ignored (None).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT by definition
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max((when - current).total_seconds(), 0.0)


def _user_agent() -> str:
    try:
        version = metadata.version("socialbridge")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"socialbridge/{version}"


USER_AGENT = _user_agent()
"""What every request of ours to a CRM says it is: ``socialbridge/<version>``."""
