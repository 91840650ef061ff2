"""The query parameters of the analytics pages and API, read and checked in one place.

The pages and `/api/connections/<id>/…` take the same parameters; a bad one raises
`ParameterError`, whose message starts with the parameter's name (the API answers it with 400,
the pages show it above their form).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analytics.periods import BUCKET_SIZES, MAX_DAYS, PERIOD_CHOICES, BucketSize, Period
from analytics.tags import DEFAULT_TOP, SEGMENT_LIMIT
from store.stat_days import ALL_PLATFORMS, METRICS

DEFAULT_PERIOD = 30
DEFAULT_METRIC = "impressions"
MAX_TOP = 50
USAGE_TOP = 5
"""The tags drawn as lines in "posts per tag over time": more would not be told apart."""
PAGE_SEGMENT_LIMIT = 200
"""The posts of a segment listed on its page; the CSV and the API give up to SEGMENT_LIMIT."""


class ParameterError(ValueError):
    """A query parameter the analytics cannot use."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class TrendQuery:
    """What a trend is drawn for."""

    days: int
    period: Period
    bucket: BucketSize
    metric: str
    platform: str


@dataclass(frozen=True)
class TagsQuery:
    """The period, bucket and number of tags of the tag usage views."""

    days: int
    period: Period
    bucket: BucketSize
    limit: int


def trend_query(args: Mapping[str, str], platforms: Sequence[str]) -> TrendQuery:
    """``period`` (days, 1 to 366; the console offers 7, 30, 90), ``bucket`` (day or week),
    ``metric`` and ``platform`` (one the connection has figures for, or ``all``)."""
    days = _days(args)
    metric = args.get("metric") or DEFAULT_METRIC
    if metric not in METRICS:
        raise ParameterError("metric", f"must be one of {', '.join(METRICS)}, not {metric!r}")
    platform = args.get("platform") or ALL_PLATFORMS
    if platform not in platforms:
        raise ParameterError("platform", f"must be one of {', '.join(platforms)}, not {platform!r}")
    return TrendQuery(days, Period.last_days(days), _bucket(args, "day"), metric, platform)


def tags_query(args: Mapping[str, str], *, default_limit: int = DEFAULT_TOP) -> TagsQuery:
    """``period`` and ``bucket`` as for trends (week by default), and ``limit``: how many tags
    (1 to 50)."""
    days = _days(args)
    limit = _integer(args, "limit", default_limit, 1, MAX_TOP)
    return TagsQuery(days, Period.last_days(days), _bucket(args, "week"), limit)


def segment_limit(args: Mapping[str, str], default: int = SEGMENT_LIMIT) -> int:
    """``limit``: how many posts of a segment (1 to 10,000)."""
    return _integer(args, "limit", default, 1, SEGMENT_LIMIT)


def _days(args: Mapping[str, str]) -> int:
    return _integer(args, "period", DEFAULT_PERIOD, 1, MAX_DAYS)


def _bucket(args: Mapping[str, str], default: BucketSize) -> BucketSize:
    raw = args.get("bucket") or default
    for size in BUCKET_SIZES:
        if raw == size:
            return size
    raise ParameterError("bucket", f"must be one of {', '.join(BUCKET_SIZES)}, not {raw!r}")


def _integer(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise ParameterError(name, f"must be a whole number from {low} to {high}, not {raw!r}")
    value = int(raw)
    if not low <= value <= high:
        raise ParameterError(name, f"must be from {low} to {high}, not {value}")
    return value


__all__ = [
    "PERIOD_CHOICES",
    "ParameterError",
    "TagsQuery",
    "TrendQuery",
    "segment_limit",
    "tags_query",
    "trend_query",
]
