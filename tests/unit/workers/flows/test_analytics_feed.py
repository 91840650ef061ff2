"""The flows feed the analytics: a post's tags by its published day, a snapshot's figures by
day, read back through `analytics` (the sandbox GHL and CRM in process, a real store)."""

from __future__ import annotations

import datetime as dt

from analytics.periods import Period
from analytics.tags import tag_segment, top_tags
from analytics.trends import engagement_trend, trend_platforms
from sandbox.ghl import DEFAULT_LOCATION
from sandbox.ghl.seed import seed_location
from tests.unit.workers.conftest import NOW, Bridge
from tests.unit.workers.test_flows import post_published, statistics_requested
from workers.flows import sync_post_tags, sync_statistics

DEMO = seed_location(DEFAULT_LOCATION)


def test_a_published_post_counts_for_its_tags_on_its_published_day(bridge: Bridge) -> None:
    connection = bridge.connection()
    post = DEMO.post("post_demo_2")
    assert post is not None
    published = dt.datetime(2026, 2, 20, 15, 30, tzinfo=dt.UTC)

    with bridge.context(connection) as ctx:
        sync_post_tags(
            ctx,
            post_published(
                post_id="crm-2", ghl_post_id="post_demo_2", published_at=published.isoformat()
            ),
        )

    day = Period(published.date(), published.date())
    found = top_tags(bridge.store, connection.id, period=day)
    assert sorted(tag.tag_id for tag in found) == sorted(post.tag_ids)
    assert all(tag.posts == 1 for tag in found)
    segment = tag_segment(bridge.store, connection.id, post.tag_ids[0])
    assert [(p.crm_post_id, p.posted_at) for p in segment.posts] == [("crm-2", published)]


def test_a_statistics_snapshot_becomes_the_trend_of_its_days(bridge: Bridge) -> None:
    connection = bridge.connection()

    with bridge.context(connection) as ctx:
        snapshot = sync_statistics(ctx, statistics_requested())

    period = Period.last_days(7, today=NOW.date())
    assert (period.first, period.last) == (snapshot.start_date, snapshot.end_date)
    likes = engagement_trend(bridge.store, connection.id, metric="likes", period=period)
    assert [point.value for point in likes.points] == snapshot.daily["likes"]
    assert not likes.estimated
    assert trend_platforms(bridge.store, connection.id) == ["all", *sorted(snapshot.platforms)]
    platform = sorted(snapshot.platforms)[0]
    reach = engagement_trend(
        bridge.store, connection.id, metric="reach", platform=platform, period=period
    )
    assert reach.total == snapshot.platforms[platform]["reach"]
    followers = engagement_trend(bridge.store, connection.id, metric="followers", period=period)
    assert followers.total == snapshot.totals["followers"]
