"""Engagement trends: one metric of one platform of a connection over a period, by day or week.

Read from `stat_days` (`store.stat_days`), which keeps one figure per day, from the newest
snapshot covering that day: a period of N days reads at most N rows in one indexed query,
however many snapshots the schedules saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from analytics.periods import Bucket, BucketSize, Period, buckets, day_positions
from store import Store
from store.stat_days import ALL_PLATFORMS, LEVEL_METRICS, METRICS

Aggregation = Literal["sum", "last"]


@dataclass(frozen=True)
class TrendPoint:
    """One bucket: its figure (None when no snapshot covers any of its days)."""

    bucket: Bucket
    value: float | None
    estimated: bool
    """Some of its days were spread evenly from a period total (docs/analytics.md)."""


@dataclass(frozen=True)
class Trend:
    """A metric over a period: one point per bucket, and the period's figure."""

    connection_id: str
    platform: str
    metric: str
    period: Period
    bucket_size: BucketSize
    aggregation: Aggregation
    """``sum``: the days are added up (impressions, likes...); ``last``: the last known day
    counts (followers)."""
    points: tuple[TrendPoint, ...]
    total: float | None
    """The period's figure, read as the points are; None when there is no data at all."""
    days_with_data: int

    @property
    def estimated(self) -> bool:
        return any(point.estimated for point in self.points)


def engagement_trend(
    store: Store,
    connection_id: str,
    *,
    metric: str,
    period: Period,
    platform: str = ALL_PLATFORMS,
    bucket_size: BucketSize = "day",
) -> Trend:
    """The metric of the platform (``all``: the location's figures) over the period."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    aggregation: Aggregation = "last" if metric in LEVEL_METRICS else "sum"
    cut = buckets(period, bucket_size)
    positions = day_positions(cut)
    values: list[float | None] = [None] * len(cut)
    estimated = [False] * len(cut)
    rows = store.stat_days(
        connection_id, platform=platform, metric=metric, first=period.first, last=period.last
    )
    for row in rows:  # oldest first: for "last", a later day replaces an earlier one
        index = positions[row.day]
        if aggregation == "sum":
            values[index] = (values[index] or 0.0) + row.value
            estimated[index] = estimated[index] or row.estimated
        else:
            values[index] = row.value
            estimated[index] = row.estimated
    known = [value for value in values if value is not None]
    if not known:
        total = None
    elif aggregation == "sum":
        total = sum(known)
    else:
        total = known[-1]
    return Trend(
        connection_id=connection_id,
        platform=platform,
        metric=metric,
        period=period,
        bucket_size=bucket_size,
        aggregation=aggregation,
        points=tuple(
            TrendPoint(bucket, value, flag)
            for bucket, value, flag in zip(cut, values, estimated, strict=True)
        ),
        total=total,
        days_with_data=len(rows),
    )


def trend_platforms(store: Store, connection_id: str) -> list[str]:
    """The platforms a trend can be drawn for: ``all``, then those GHL reported."""
    found = store.stat_platforms(connection_id)
    return found if ALL_PLATFORMS in found else [ALL_PLATFORMS, *found]
