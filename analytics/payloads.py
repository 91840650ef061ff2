"""The analytics results as JSON-ready dicts, for the API (`/api/connections/<id>/…`).

Dates are ISO 8601 days; a bucket without data has ``value: null`` (not 0), as on the charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analytics.periods import Bucket, Period
from analytics.tags import TagSegment, TagUsage
from analytics.trends import Trend
from store.tag_links import TagCount


def period_json(period: Period) -> dict[str, Any]:
    return {"first": period.first.isoformat(), "last": period.last.isoformat(), "days": period.days}


def bucket_json(bucket: Bucket) -> dict[str, str]:
    return {"first": bucket.first.isoformat(), "last": bucket.last.isoformat()}


def trend_json(trend: Trend) -> dict[str, Any]:
    return {
        "connection_id": trend.connection_id,
        "metric": trend.metric,
        "platform": trend.platform,
        "period": period_json(trend.period),
        "bucket": trend.bucket_size,
        "aggregation": trend.aggregation,
        "total": trend.total,
        "estimated": trend.estimated,
        "days_with_data": trend.days_with_data,
        "points": [
            {**bucket_json(point.bucket), "value": point.value, "estimated": point.estimated}
            for point in trend.points
        ],
    }


def tag_json(tag: TagCount) -> dict[str, Any]:
    return {"tag_id": tag.tag_id, "name": tag.name, "posts": tag.posts}


def top_tags_json(connection_id: str, period: Period, tags: Sequence[TagCount]) -> dict[str, Any]:
    return {
        "connection_id": connection_id,
        "period": period_json(period),
        "tags": [tag_json(tag) for tag in tags],
    }


def tag_usage_json(usage: TagUsage) -> dict[str, Any]:
    return {
        "connection_id": usage.connection_id,
        "period": period_json(usage.period),
        "bucket": usage.bucket_size,
        "buckets": [bucket_json(bucket) for bucket in usage.buckets],
        "series": [{**tag_json(one.tag), "counts": list(one.counts)} for one in usage.series],
    }


def segment_json(segment: TagSegment) -> dict[str, Any]:
    return {
        "connection_id": segment.connection_id,
        "tag_id": segment.tag_id,
        "tag_name": segment.tag_name,
        "truncated": segment.truncated,
        "posts": [
            {
                "crm_post_id": post.crm_post_id,
                "ghl_post_id": post.ghl_post_id,
                "title": post.title,
                "published_at": post.posted_at.isoformat(),
                "tags": list(post.tags),
            }
            for post in segment.posts
        ],
    }
