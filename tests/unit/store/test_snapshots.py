from __future__ import annotations

import re
import threading
from datetime import UTC, date
from typing import Any

import pytest

from store import ConnectionRecord, NotFound, SnapshotRecord, Store

STATS: dict[str, Any] = {
    "profile_ids": ["prof_1", "prof_2"],
    "totals": {"posts": 12.0, "likes": 340.0, "impressions": 10250.5},
    "platforms": {"facebook": {"posts": 8.0, "likes": 300.0}, "instagram": {"posts": 4.0}},
    "daily": {"likes": [10.0, 20.0, 30.5], "posts": [1.0, 0.0, 2.0]},
    "day_range": ["2025-01-01", "2025-01-02", "2025-01-03"],
}


def _save(
    store: Store,
    connection: ConnectionRecord,
    start: date = date(2025, 1, 1),
    end: date = date(2025, 1, 3),
    location_id: str = "loc_acme",
    **changes: Any,
) -> SnapshotRecord:
    return store.save_snapshot(
        connection_id=connection.id,
        location_id=location_id,
        start_date=start,
        end_date=end,
        **{**STATS, **changes},
    )


def test_save_snapshot_keeps_every_figure(store: Store, connection: ConnectionRecord) -> None:
    saved = _save(store, connection)
    assert re.fullmatch(r"snp_[0-9a-f]{24}", saved.id)
    assert (saved.start_date, saved.end_date) == (date(2025, 1, 1), date(2025, 1, 3))
    assert saved.location_id == "loc_acme"
    assert saved.profile_ids == STATS["profile_ids"]
    assert saved.totals == STATS["totals"]
    assert saved.platforms == STATS["platforms"]
    assert saved.daily == STATS["daily"]
    assert saved.day_range == STATS["day_range"]
    assert saved.created_at.tzinfo == UTC
    assert store.get_snapshot(saved.id) == saved
    assert store.get_snapshot("snp_000000000000000000000000") is None


def test_saving_the_same_range_again_updates_it(store: Store, connection: ConnectionRecord) -> None:
    first = _save(store, connection)
    second = _save(store, connection, totals={"posts": 13.0})
    assert second.id == first.id
    assert second.created_at == first.created_at
    assert second.totals == {"posts": 13.0}
    assert store.list_snapshots(connection.id) == [second]


def test_latest_snapshot_is_the_last_saved(store: Store, connection: ConnectionRecord) -> None:
    assert store.latest_snapshot(connection.id) is None
    week = _save(store, connection, date(2025, 1, 1), date(2025, 1, 7))
    month = _save(store, connection, date(2025, 1, 1), date(2025, 1, 31))
    assert store.latest_snapshot(connection.id) == month
    week_again = _save(store, connection, date(2025, 1, 1), date(2025, 1, 7))
    assert week_again.id == week.id
    assert store.latest_snapshot(connection.id) == week_again
    assert [s.id for s in store.list_snapshots(connection.id)] == [week.id, month.id]
    assert [s.id for s in store.list_snapshots(connection.id, limit=1)] == [week.id]
    with pytest.raises(ValueError, match="limit"):
        store.list_snapshots(connection.id, limit=0)


def test_a_snapshot_links_the_posts_of_its_location(
    store: Store, connection: ConnectionRecord
) -> None:
    for crm_post_id, location_id in (("p1", "loc_acme"), ("p2", "loc_acme"), ("p3", "loc_other")):
        store.save_post_tags(
            connection_id=connection.id,
            crm_post_id=crm_post_id,
            location_id=location_id,
            tags=[],
            post_tags=[],
        )
    snapshot = _save(store, connection)
    linked = {post.crm_post_id: post.snapshot_id for post in store.list_posts(connection.id)}
    assert linked == {"p1": snapshot.id, "p2": snapshot.id, "p3": None}


def test_snapshot_dates_and_connection_are_checked(
    store: Store, connection: ConnectionRecord
) -> None:
    with pytest.raises(ValueError, match="before"):
        _save(store, connection, date(2025, 1, 7), date(2025, 1, 1))
    with pytest.raises(NotFound):
        store.save_snapshot(
            connection_id="con_0000000000000000",
            location_id="loc",
            start_date=date(2025, 1, 1),
            end_date=date(2025, 1, 1),
            **STATS,
        )
    assert store.list_snapshots(connection.id) == []


def test_concurrent_saves_of_one_range_make_one_snapshot(
    store: Store, connection: ConnectionRecord
) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    saved: list[SnapshotRecord] = []
    errors: list[BaseException] = []

    def save() -> None:
        try:
            barrier.wait()
            saved.append(_save(store, connection))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=save) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({snapshot.id for snapshot in saved}) == 1
    assert [snapshot.id for snapshot in store.list_snapshots(connection.id)] == [saved[0].id]


def _figures(store: Store, connection: ConnectionRecord, platform: str, metric: str) -> list[Any]:
    return [
        (day.day, day.value, day.estimated)
        for day in store.stat_days(
            connection.id,
            platform=platform,
            metric=metric,
            first=date(2025, 1, 1),
            last=date(2025, 1, 31),
        )
    ]


def test_a_later_snapshot_replaces_only_the_figures_it_gives(
    store: Store, connection: ConnectionRecord
) -> None:
    _save(
        store,
        connection,
        date(2025, 1, 1),
        date(2025, 1, 3),
        totals={"followers": 100.0},
        platforms={"facebook": {"likes": 30.0}},
        daily={"likes": [1.0, 2.0, 3.0], "posts": [1.0, 1.0, 1.0]},
    )
    _save(
        store,
        connection,
        date(2025, 1, 2),
        date(2025, 1, 4),
        totals={"followers": 110.0},
        platforms={"instagram": {"likes": 3.0}},
        # No number for Jan 3: the first snapshot's figure of that day is kept.
        daily={"likes": [20.0, None, 40.0]},  # type: ignore[list-item]
    )

    assert _figures(store, connection, "all", "likes") == [
        (date(2025, 1, 1), 1.0, False),
        (date(2025, 1, 2), 20.0, False),
        (date(2025, 1, 3), 3.0, False),
        (date(2025, 1, 4), 40.0, False),
    ]
    assert _figures(store, connection, "all", "posts") == [
        (date(2025, 1, day), 1.0, False) for day in (1, 2, 3)
    ]
    assert _figures(store, connection, "all", "followers") == [
        (date(2025, 1, 3), 100.0, False),
        (date(2025, 1, 4), 110.0, False),
    ]
    assert _figures(store, connection, "facebook", "likes") == [
        (date(2025, 1, day), 10.0, True) for day in (1, 2, 3)
    ]
    assert _figures(store, connection, "instagram", "likes") == [
        (date(2025, 1, day), 1.0, True) for day in (2, 3, 4)
    ]
    assert store.stat_platforms(connection.id) == ["all", "facebook", "instagram"]


def test_concurrent_saves_of_overlapping_ranges_all_land(
    store: Store, connection: ConnectionRecord
) -> None:
    # Daily schedules of several locations' overlapping weeks at once, their platforms named in
    # different orders: every save commits (no deadlock between their figures' rows), and each
    # day keeps one figure, from one of the snapshots that give it.
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []
    names = ["facebook", "instagram", "linkedin", "tiktok"]

    def save(offset: int) -> None:
        order = names[offset % len(names) :] + names[: offset % len(names)]
        try:
            barrier.wait()
            _save(
                store,
                connection,
                date(2025, 1, 1 + offset),
                date(2025, 1, 7 + offset),
                platforms={name: {"likes": 7.0 * (offset + 1)} for name in order},
                daily={"likes": [float(offset)] * 7},
            )
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=save, args=(offset,)) for offset in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.list_snapshots(connection.id)) == workers
    likes = _figures(store, connection, "all", "likes")
    assert [day for day, _, _ in likes] == [date(2025, 1, n) for n in range(1, 7 + workers)]
    for day, value, _ in likes:
        assert day.day - 7 <= value < day.day  # saved by a snapshot whose range holds the day
