"""Periods of whole UTC days and their buckets (a day, or a Monday-to-Sunday week)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

BucketSize = Literal["day", "week"]
BUCKET_SIZES: tuple[BucketSize, ...] = ("day", "week")
PERIOD_CHOICES = (7, 30, 90)
"""The periods the console offers; any length from 1 to MAX_DAYS days is accepted."""
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """The days from ``first`` to ``last``, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")
        if self.days > MAX_DAYS:
            raise ValueError(f"a period has at most {MAX_DAYS} days, not {self.days}")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @classmethod
    def last_days(cls, days: int, *, today: date | None = None) -> Period:
        """The ``days`` days before today, today excluded: GHL's own periods end yesterday,
        since today's numbers are still growing."""
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be from 1 to {MAX_DAYS}, not {days}")
        today = today or datetime.now(UTC).date()
        return cls(today - timedelta(days=days), today - timedelta(days=1))


@dataclass(frozen=True)
class Bucket:
    """A stretch of a period whose figures are read together: one day, or one week cut to the
    period's ends."""

    first: date
    last: date

    @property
    def label(self) -> str:
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()} to {self.last.isoformat()}"

    @property
    def short_label(self) -> str:
        """For an axis: the first day, month and day only."""
        return self.first.strftime("%b %d").replace(" 0", " ")


def buckets(period: Period, size: BucketSize) -> list[Bucket]:
    """The period cut into days, or into weeks starting on Monday (the first and last cut to
    the period)."""
    if size not in BUCKET_SIZES:
        raise ValueError(f"bucket must be one of {', '.join(BUCKET_SIZES)}, not {size!r}")
    if size == "day":
        return [Bucket(day, day) for day in _days(period.first, period.last)]
    found: list[Bucket] = []
    start = period.first
    while start <= period.last:
        sunday = start + timedelta(days=6 - start.weekday())
        end = min(sunday, period.last)
        found.append(Bucket(start, end))
        start = end + timedelta(days=1)
    return found


def day_positions(bucket_list: list[Bucket]) -> dict[date, int]:
    """Each day of the buckets, and the position of the bucket holding it."""
    return {
        day: index
        for index, bucket in enumerate(bucket_list)
        for day in _days(bucket.first, bucket.last)
    }


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
