"""Seeded analytics data for the console tests: one snapshot and four tagged posts, on days
a few days before today, so that the last 7 (or 30) days hold all of them even when the date
changes during a test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from store import ConnectionRecord, Store

LIKES: list[float] = [3, 5, 8, 13]
"""The location's likes on each of the snapshot's four days (today-5 to today-2)."""
FOLLOWERS = 250
FACEBOOK_LIKES = 20
TOP_TAGS = [("open-house", 3), ("listing", 2), ("sold", 1)]
FORMULA_TITLE = "=HYPERLINK(1)"


def days_ago(count: int) -> date:
    return datetime.now(UTC).date() - timedelta(days=count)


def seed_snapshot(store: Store, connection: ConnectionRecord) -> None:
    store.save_snapshot(
        connection_id=connection.id,
        location_id=connection.location_id or "loc",
        start_date=days_ago(5),
        end_date=days_ago(2),
        profile_ids=["prof_1"],
        totals={"followers": FOLLOWERS},
        platforms={"facebook": {"likes": FACEBOOK_LIKES}},
        daily={"likes": LIKES, "impressions": [100, 200, 300, 400]},
        day_range=[],
    )


def _tags(*names: str) -> list[dict[str, str]]:
    return [{"id": f"tag_{name}", "name": name} for name in names]


def seed_posts(store: Store, connection: ConnectionRecord) -> None:
    posts = [
        ("p1", 4, "Open house on Elm", ("open-house", "listing")),
        ("p2", 3, "Open house on Oak", ("open-house",)),
        ("p3", 2, "Sold: Oak", ("open-house", "sold")),
        ("p4", 3, FORMULA_TITLE, ("listing",)),
    ]
    for post_id, ago, title, names in posts:
        when = datetime.combine(days_ago(ago), datetime.min.time(), UTC) + timedelta(hours=12)
        store.save_post_tags(
            connection_id=connection.id,
            crm_post_id=post_id,
            location_id=connection.location_id or "loc",
            tags=_tags("open-house", "listing", "sold"),
            post_tags=_tags(*names),
            ghl_post_id=f"ghl_{post_id}",
            title=title,
            published_at=when,
        )
