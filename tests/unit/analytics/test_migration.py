"""Migration 0008 fills stat_days and post_tag_links from what an older database holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from analytics.periods import Period
from analytics.tags import tag_segment, top_tags
from analytics.trends import engagement_trend
from store import Store, migrate
from store.engine import make_engine
from store.models import PostRow, SnapshotRow
from tests.dbutil import database_params, temporary_database
from tests.unit.analytics.conftest import SECRET_KEY

FIRST = date(2020, 1, 1)
SNAPSHOTS = 3000


def _likes_on(day: date) -> int:
    return day.toordinal() % 89


@pytest.mark.parametrize("kind", database_params())
def test_upgrading_fills_the_analytics_tables_from_a_few_thousand_snapshots(
    kind: str, tmp_path: Path
) -> None:
    with temporary_database(kind, tmp_path) as (url, engine_options):
        migrate.upgrade(url, "0006", engine_options=engine_options)
        store = Store(url, SECRET_KEY, engine_options=engine_options)
        try:
            connection = store.create_connection(
                name="acme",
                location_id="loc_acme",
                ghl_token="token",
                crm_url="http://crm.test/hooks/acme",
            )
            created = datetime(2026, 1, 1, tzinfo=UTC)
            snapshots: list[dict[str, Any]] = []
            for offset in range(SNAPSHOTS):  # a daily schedule's 7-day ranges, 8 years of them
                first = FIRST + timedelta(days=offset)
                days = [first + timedelta(days=n) for n in range(7)]
                saved = created + timedelta(minutes=offset)
                snapshots.append(
                    {
                        "id": f"snp_{offset:024d}",
                        "connection_id": connection.id,
                        "location_id": "loc_acme",
                        "start_date": first,
                        "end_date": days[-1],
                        "profile_ids": ["prof_1"],
                        "totals": {"followers": offset},
                        "platforms": {"facebook": {"likes": 14}},
                        "daily": {"likes": [_likes_on(day) for day in days]},
                        "day_range": [],
                        "created_at": saved,
                        "updated_at": saved,
                    }
                )
            posts = [
                {
                    "connection_id": connection.id,
                    "crm_post_id": f"p{number}",
                    "location_id": "loc_acme",
                    "ghl_post_id": None,
                    "title": f"Post {number}",
                    "tags": [],
                    "post_tags": [{"id": "tag_a", "name": "alpha"}]
                    + ([{"id": "tag_b", "name": "beta"}] if number % 2 else []),
                    "tag_details": [],
                    "snapshot_id": None,
                    "created_at": datetime(2026, 3, 1 + number, 9, tzinfo=UTC),
                    "updated_at": datetime(2026, 3, 1 + number, 9, tzinfo=UTC),
                }
                for number in range(5)
            ]
            engine = make_engine(url, engine_options)
            with engine.begin() as db:
                db.execute(insert(SnapshotRow), snapshots)
                db.execute(insert(PostRow), posts)
            engine.dispose()

            migrate.upgrade(url, engine_options=engine_options)

            last_day = FIRST + timedelta(days=SNAPSHOTS - 1 + 6)
            period = Period(last_day - timedelta(days=359), last_day + timedelta(days=5))
            likes = engagement_trend(store, connection.id, metric="likes", period=period)
            expected = [
                _likes_on(day) if day <= last_day else None
                for day in (period.first + timedelta(days=n) for n in range(period.days))
            ]
            assert [point.value for point in likes.points] == expected
            facebook = engagement_trend(
                store, connection.id, metric="likes", platform="facebook", period=period
            )
            assert facebook.points[0].value == pytest.approx(2)  # 14 over 7 days
            followers = engagement_trend(store, connection.id, metric="followers", period=period)
            assert followers.total == SNAPSHOTS - 1  # the last snapshot's count, on its last day

            march = Period(date(2026, 3, 1), date(2026, 3, 31))
            assert [(t.name, t.posts) for t in top_tags(store, connection.id, period=march)] == [
                ("alpha", 5),
                ("beta", 2),
            ]
            assert [p.crm_post_id for p in tag_segment(store, connection.id, "tag_b").posts] == [
                "p3",
                "p1",
            ]
        finally:
            store.dispose()
