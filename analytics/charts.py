"""The analytics results drawn: each function returns the SVG and its table (`analytics.svg`)."""

from __future__ import annotations

from collections.abc import Sequence

from analytics.svg import Chart, Series, bar_chart, line_chart
from analytics.tags import TagUsage
from analytics.trends import Trend
from store.tag_links import TagCount

METRIC_NAMES = {
    "impressions": "Impressions",
    "reach": "Reach",
    "likes": "Likes",
    "comments": "Comments",
    "shares": "Shares",
    "clicks": "Clicks",
    "posts": "Posts",
    "followers": "Followers",
}


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def platform_name(platform: str) -> str:
    return "All platforms" if platform == "all" else platform.capitalize()


def trend_chart(trend: Trend) -> Chart:
    """The trend as a line, one point per day or week."""
    name = metric_name(trend.metric)
    per = "day" if trend.bucket_size == "day" else "week"
    title = (
        f"{name}, {platform_name(trend.platform)}, "
        f"{trend.period.first.isoformat()} to {trend.period.last.isoformat()}, per {per}"
    )
    return line_chart(
        title,
        [point.bucket.label for point in trend.points],
        [Series(name, [point.value for point in trend.points])],
        axis_labels=[point.bucket.short_label for point in trend.points],
        y_label=name,
        x_label="Day" if trend.bucket_size == "day" else "Week",
    )


def top_tags_chart(tags: Sequence[TagCount], *, title: str = "Top tags") -> Chart:
    """The tags as horizontal bars, most used first."""
    return bar_chart(
        title,
        [(tag.name, float(tag.posts)) for tag in tags],
        label_heading="Tag",
        value_heading="Posts",
        whole=True,
    )


def tag_usage_chart(usage: TagUsage) -> Chart:
    """Posts per bucket, one line per top tag."""
    per = "day" if usage.bucket_size == "day" else "week"
    title = (
        f"Posts per tag, {usage.period.first.isoformat()} to "
        f"{usage.period.last.isoformat()}, per {per}"
    )
    return line_chart(
        title,
        [bucket.label for bucket in usage.buckets],
        [Series(one.tag.name, [float(count) for count in one.counts]) for one in usage.series],
        axis_labels=[bucket.short_label for bucket in usage.buckets],
        y_label="Posts",
        x_label="Day" if usage.bucket_size == "day" else "Week",
        whole=True,
    )
