"""Tag usage: the top tags of a period, posts per tag over time, and the posts carrying a tag
(the segment), from `post_tag_links` (`store.tag_links`)."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.periods import Bucket, BucketSize, Period, buckets, day_positions
from store import Store
from store.tag_links import TagCount, TaggedPost

DEFAULT_TOP = 10
SEGMENT_LIMIT = 10_000
"""The most posts a segment shows or exports at once."""


@dataclass(frozen=True)
class TagSeries:
    """Posts carrying one tag, per bucket."""

    tag: TagCount
    counts: tuple[int, ...]


@dataclass(frozen=True)
class TagUsage:
    """The top tags of a period and, for each, its posts per bucket."""

    connection_id: str
    period: Period
    bucket_size: BucketSize
    buckets: tuple[Bucket, ...]
    series: tuple[TagSeries, ...]


@dataclass(frozen=True)
class TagSegment:
    """The posts carrying one tag, newest first."""

    connection_id: str
    tag_id: str
    tag_name: str | None
    """None when no post of the connection carries the tag."""
    posts: tuple[TaggedPost, ...]
    truncated: bool
    """More posts carry the tag than SEGMENT_LIMIT."""


def top_tags(
    store: Store, connection_id: str, *, period: Period, limit: int = DEFAULT_TOP
) -> list[TagCount]:
    """The tags carried by the most posts published in the period, most first."""
    return store.top_tags(connection_id, first=period.first, last=period.last, limit=limit)


def tag_usage(
    store: Store,
    connection_id: str,
    *,
    period: Period,
    bucket_size: BucketSize = "week",
    top: int = 5,
) -> TagUsage:
    """Posts per bucket for each of the period's ``top`` tags (two grouped queries)."""
    cut = buckets(period, bucket_size)
    positions = day_positions(cut)
    leaders = top_tags(store, connection_id, period=period, limit=top)
    counts = {tag.tag_id: [0] * len(cut) for tag in leaders}
    for row in store.tag_day_counts(
        connection_id, [tag.tag_id for tag in leaders], first=period.first, last=period.last
    ):
        counts[row.tag_id][positions[row.day]] += row.posts
    return TagUsage(
        connection_id=connection_id,
        period=period,
        bucket_size=bucket_size,
        buckets=tuple(cut),
        series=tuple(TagSeries(tag, tuple(counts[tag.tag_id])) for tag in leaders),
    )


def tag_segment(
    store: Store, connection_id: str, tag_id: str, *, limit: int = SEGMENT_LIMIT
) -> TagSegment:
    """The posts carrying the tag (the "segment by tag" view, and its CSV)."""
    posts = store.posts_with_tag(connection_id, tag_id, limit=limit + 1)
    return TagSegment(
        connection_id=connection_id,
        tag_id=tag_id,
        tag_name=store.tag_name(connection_id, tag_id),
        posts=tuple(posts[:limit]),
        truncated=len(posts) > limit,
    )
