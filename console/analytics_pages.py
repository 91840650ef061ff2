"""What the analytics pages show, put together from the `analytics` functions.

Each function reads the query (`console.analytics_params`) and returns what the template
draws; a bad parameter gives a page with its message and the form, and no chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analytics.charts import (
    metric_name,
    platform_name,
    tag_usage_chart,
    top_tags_chart,
    trend_chart,
)
from analytics.periods import BUCKET_SIZES, PERIOD_CHOICES
from analytics.svg import NO_DATA, Chart, format_number
from analytics.tags import TagSegment, tag_segment, tag_usage, top_tags
from analytics.trends import Trend, engagement_trend, trend_platforms
from console.analytics_params import (
    DEFAULT_PERIOD,
    PAGE_SEGMENT_LIMIT,
    USAGE_TOP,
    ParameterError,
    TagsQuery,
    TrendQuery,
    tags_query,
    trend_query,
)
from store import Store
from store.stat_days import METRICS
from store.tag_links import TagCount


@dataclass(frozen=True)
class Choice:
    """An option of a form's select."""

    value: str
    label: str


@dataclass(frozen=True)
class TrendPage:
    """The engagement trends page: the form's choices, and the chart when the query is good."""

    error: str
    periods: tuple[Choice, ...]
    buckets: tuple[Choice, ...]
    metrics: tuple[Choice, ...]
    platforms: tuple[Choice, ...]
    query: TrendQuery | None
    trend: Trend | None
    chart: Chart | None
    summary: str = ""
    """The period's figure in words: its total, or the last count for followers."""


@dataclass(frozen=True)
class TagsPage:
    """The tag usage page: the top tags and posts per tag over time."""

    error: str
    periods: tuple[Choice, ...]
    buckets: tuple[Choice, ...]
    query: TagsQuery | None
    tags: tuple[TagCount, ...]
    top_chart: Chart | None
    usage_chart: Chart | None


@dataclass(frozen=True)
class SegmentPage:
    """A tag's segment: the posts carrying it, the first PAGE_SEGMENT_LIMIT listed."""

    segment: TagSegment
    limit: int


PERIODS = tuple(Choice(str(days), f"Last {days} days") for days in PERIOD_CHOICES)
BUCKETS = tuple(Choice(size, f"Per {size}") for size in BUCKET_SIZES)
METRIC_CHOICES = tuple(Choice(metric, metric_name(metric)) for metric in METRICS)


def trend_page(store: Store, connection_id: str, args: Mapping[str, str]) -> TrendPage:
    platforms = trend_platforms(store, connection_id)
    platform_choices = tuple(Choice(name, platform_name(name)) for name in platforms)
    try:
        query = trend_query(args, platforms)
    except ParameterError as exc:
        return TrendPage(
            str(exc), _periods(DEFAULT_PERIOD), BUCKETS, METRIC_CHOICES, platform_choices,
            None, None, None,
        )  # fmt: skip
    trend = engagement_trend(
        store,
        connection_id,
        metric=query.metric,
        period=query.period,
        platform=query.platform,
        bucket_size=query.bucket,
    )
    return TrendPage(
        "", _periods(query.days), BUCKETS, METRIC_CHOICES, platform_choices,
        query, trend, trend_chart(trend), trend_summary(trend),
    )  # fmt: skip


def trend_summary(trend: Trend) -> str:
    if trend.total is None:
        return NO_DATA + "."
    if trend.aggregation == "last":
        return f"Latest count: {format_number(trend.total)}"
    return f"Total for the period: {format_number(trend.total)}"


def tags_page(store: Store, connection_id: str, args: Mapping[str, str]) -> TagsPage:
    try:
        query = tags_query(args)
    except ParameterError as exc:
        return TagsPage(str(exc), _periods(DEFAULT_PERIOD), BUCKETS, None, (), None, None)
    tags = top_tags(store, connection_id, period=query.period, limit=query.limit)
    usage = tag_usage(
        store, connection_id, period=query.period, bucket_size=query.bucket, top=USAGE_TOP
    )
    return TagsPage(
        "",
        _periods(query.days),
        BUCKETS,
        query,
        tuple(tags),
        top_tags_chart(tags, title=f"Top tags, last {query.days} days"),
        tag_usage_chart(usage),
    )


def segment_page(store: Store, connection_id: str, tag_id: str) -> SegmentPage:
    return SegmentPage(
        tag_segment(store, connection_id, tag_id, limit=PAGE_SEGMENT_LIMIT), PAGE_SEGMENT_LIMIT
    )


def _periods(chosen: int) -> tuple[Choice, ...]:
    """The offered periods, and the chosen one when the API's wider range gave another."""
    if chosen in PERIOD_CHOICES:
        return PERIODS
    return (*PERIODS, Choice(str(chosen), f"Last {chosen} days"))
