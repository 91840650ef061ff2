from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from analytics.periods import Period
from analytics.trends import engagement_trend, trend_platforms
from store import ConnectionRecord, Store

NOV_1 = date(2026, 11, 1)  # a Sunday


def _day(number: int) -> date:
    return NOV_1 + timedelta(days=number - 1)


def _save(
    store: Store,
    connection: ConnectionRecord,
    first: date,
    last: date,
    *,
    daily: dict[str, list[float]] | None = None,
    platforms: dict[str, dict[str, float]] | None = None,
    totals: dict[str, float] | None = None,
) -> None:
    store.save_snapshot(
        connection_id=connection.id,
        location_id=connection.location_id,
        start_date=first,
        end_date=last,
        profile_ids=["prof_1"],
        totals=totals or {},
        platforms=platforms or {},
        daily=daily or {},
        day_range=[],
    )


def _values(trend: Any) -> list[float | None]:
    return [point.value for point in trend.points]


def test_a_daily_series_gives_each_day_exactly(store: Store, connection: ConnectionRecord) -> None:
    _save(store, connection, _day(1), _day(7), daily={"likes": [1, 2, 3, 4, 5, 6, 7]})

    trend = engagement_trend(store, connection.id, metric="likes", period=Period(_day(1), _day(7)))

    assert _values(trend) == [1, 2, 3, 4, 5, 6, 7]
    assert [point.bucket.first for point in trend.points] == [_day(n) for n in range(1, 8)]
    assert trend.total == 28
    assert trend.aggregation == "sum"
    assert not trend.estimated
    assert trend.days_with_data == 7


def test_weeks_run_monday_to_sunday_and_are_cut_to_the_period(
    store: Store, connection: ConnectionRecord
) -> None:
    _save(store, connection, _day(1), _day(14), daily={"likes": list(range(1, 15))})

    trend = engagement_trend(
        store, connection.id, metric="likes", period=Period(_day(1), _day(14)), bucket_size="week"
    )

    assert [(p.bucket.first, p.bucket.last) for p in trend.points] == [
        (_day(1), _day(1)),
        (_day(2), _day(8)),
        (_day(9), _day(14)),
    ]
    assert _values(trend) == [1, sum(range(2, 9)), sum(range(9, 15))]
    assert trend.total == sum(range(1, 15))


def test_the_newest_snapshot_of_a_day_wins(store: Store, connection: ConnectionRecord) -> None:
    _save(store, connection, _day(1), _day(7), daily={"likes": [10] * 7})
    _save(store, connection, _day(4), _day(10), daily={"likes": [20] * 7})
    period = Period(_day(1), _day(10))

    assert _values(engagement_trend(store, connection.id, metric="likes", period=period)) == [
        10, 10, 10, 20, 20, 20, 20, 20, 20, 20,
    ]  # fmt: skip

    # The first range asked again (saved last): its days take the new numbers.
    _save(store, connection, _day(1), _day(7), daily={"likes": [30] * 7})
    trend = engagement_trend(store, connection.id, metric="likes", period=period)
    assert _values(trend) == [30, 30, 30, 30, 30, 30, 30, 20, 20, 20]
    assert trend.total == 30 * 7 + 20 * 3


def test_platform_totals_are_spread_evenly_and_marked_estimated(
    store: Store, connection: ConnectionRecord
) -> None:
    _save(
        store,
        connection,
        _day(1),
        _day(7),
        platforms={"facebook": {"likes": 70, "reach": 700}, "instagram": {"reach": 350}},
    )
    period = Period(_day(1), _day(7))

    facebook = engagement_trend(
        store, connection.id, metric="likes", platform="facebook", period=period
    )
    assert _values(facebook) == [10] * 7
    assert facebook.total == 70
    assert facebook.estimated
    # GHL sends reach per platform only: the location's is the platforms' sum.
    reach = engagement_trend(store, connection.id, metric="reach", period=period)
    assert _values(reach) == [150] * 7
    assert reach.total == 1050
    instagram_likes = engagement_trend(
        store, connection.id, metric="likes", platform="instagram", period=period
    )
    assert _values(instagram_likes) == [None] * 7
    assert instagram_likes.total is None
    assert trend_platforms(store, connection.id) == ["all", "facebook", "instagram"]


def test_followers_are_a_count_so_a_bucket_shows_its_last_known_day(
    store: Store, connection: ConnectionRecord
) -> None:
    _save(store, connection, _day(1), _day(7), totals={"followers": 100})
    _save(store, connection, _day(8), _day(14), totals={"followers": 200})

    by_day = engagement_trend(
        store, connection.id, metric="followers", period=Period(_day(1), _day(14))
    )
    assert by_day.aggregation == "last"
    assert [(p.bucket.first, p.value) for p in by_day.points if p.value is not None] == [
        (_day(7), 100),
        (_day(14), 200),
    ]
    assert by_day.total == 200

    by_week = engagement_trend(
        store,
        connection.id,
        metric="followers",
        period=Period(_day(2), _day(15)),
        bucket_size="week",
    )
    assert _values(by_week) == [100, 200]


def test_no_snapshot_gives_a_trend_without_data(
    store: Store, connection: ConnectionRecord, other_connection: ConnectionRecord
) -> None:
    _save(store, other_connection, _day(1), _day(7), daily={"likes": [5] * 7})

    trend = engagement_trend(
        store, connection.id, metric="likes", period=Period.last_days(30, today=_day(20))
    )

    assert len(trend.points) == 30
    assert _values(trend) == [None] * 30
    assert trend.total is None
    assert trend.days_with_data == 0
    assert trend_platforms(store, connection.id) == ["all"]


def test_clicks_are_accepted_and_have_no_data_since_ghl_reports_none(
    store: Store, connection: ConnectionRecord
) -> None:
    _save(store, connection, _day(1), _day(7), daily={"likes": [1] * 7}, totals={"clicks": 9})
    trend = engagement_trend(store, connection.id, metric="clicks", period=Period(_day(1), _day(7)))
    assert trend.total is None


def test_unknown_metrics_buckets_and_periods_are_refused(
    store: Store, connection: ConnectionRecord
) -> None:
    period = Period(_day(1), _day(7))
    with pytest.raises(ValueError, match="metric must be one of"):
        engagement_trend(store, connection.id, metric="hearts", period=period)
    with pytest.raises(ValueError, match="bucket must be one of"):
        engagement_trend(store, connection.id, metric="likes", period=period, bucket_size="month")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="before it starts"):
        Period(_day(7), _day(1))
    with pytest.raises(ValueError, match="days must be"):
        Period.last_days(0)


@contextmanager
def _counted_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def _likes_on(day: date) -> int:
    return day.toordinal() % 97


def test_a_year_of_daily_schedules_reads_in_one_query(
    store: Store, connection: ConnectionRecord
) -> None:
    # What a daily schedule saves: the last 7 days, every day, for 400 days.
    start = date(2025, 10, 1)
    for offset in range(400):
        first = start + timedelta(days=offset)
        days = [first + timedelta(days=n) for n in range(7)]
        _save(
            store,
            connection,
            first,
            days[-1],
            daily={"likes": [_likes_on(day) for day in days]},
            platforms={"facebook": {"shares": 7}},
            totals={"followers": 1000 + offset},
        )
    period = Period(date(2025, 11, 1), date(2026, 10, 31))

    with _counted_queries() as statements:
        trend = engagement_trend(store, connection.id, metric="likes", period=period)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1

    expected = [_likes_on(period.first + timedelta(days=n)) for n in range(period.days)]
    assert _values(trend) == expected
    assert trend.total == sum(expected)
    shares = engagement_trend(
        store,
        connection.id,
        metric="shares",
        platform="facebook",
        period=period,
        bucket_size="week",
    )
    assert shares.total == pytest.approx(period.days)  # 7 per 7 days, spread one a day
    followers = engagement_trend(store, connection.id, metric="followers", period=period)
    # The count of the period's last day: the snapshot that ends on it.
    last_offset = (period.last - start).days - 6
    assert followers.total == 1000 + last_offset
    assert followers.days_with_data == period.days  # every day ends one snapshot
