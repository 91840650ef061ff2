from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from analytics.export import SEGMENT_COLUMNS, segment_csv, segment_filename
from analytics.periods import Period
from analytics.tags import tag_segment, tag_usage, top_tags
from store import ConnectionRecord, Store

MONDAY = date(2026, 11, 2)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _tags(*names: str) -> list[dict[str, str]]:
    return [{"id": f"tag_{name}", "name": name} for name in names]


def _post(
    store: Store,
    connection: ConnectionRecord,
    post_id: str,
    day: date | None,
    *names: str,
    title: str | None = None,
) -> None:
    store.save_post_tags(
        connection_id=connection.id,
        crm_post_id=post_id,
        location_id=connection.location_id,
        tags=_tags("open-house", "listing", "sold", "webinar"),
        post_tags=_tags(*names),
        ghl_post_id=f"ghl_{post_id}",
        title=title or f"Post {post_id}",
        published_at=None if day is None else _at(day),
    )


@pytest.fixture
def seeded(store: Store, connection: ConnectionRecord) -> ConnectionRecord:
    _post(store, connection, "p1", MONDAY, "open-house", "listing")
    _post(store, connection, "p2", MONDAY + timedelta(days=1), "open-house")
    _post(store, connection, "p3", MONDAY + timedelta(days=7), "open-house", "sold")
    _post(store, connection, "p4", MONDAY + timedelta(days=8), "listing")
    _post(store, connection, "p5", MONDAY + timedelta(days=30), "webinar")  # after the period
    return connection


PERIOD = Period(MONDAY, MONDAY + timedelta(days=13))


def test_top_tags_count_the_posts_of_the_period_most_first(
    store: Store, seeded: ConnectionRecord
) -> None:
    found = top_tags(store, seeded.id, period=PERIOD)
    assert [(tag.tag_id, tag.name, tag.posts) for tag in found] == [
        ("tag_open-house", "open-house", 3),
        ("tag_listing", "listing", 2),
        ("tag_sold", "sold", 1),
    ]
    assert [tag.name for tag in top_tags(store, seeded.id, period=PERIOD, limit=1)] == [
        "open-house"
    ]


def test_saving_a_post_again_replaces_its_tags(store: Store, seeded: ConnectionRecord) -> None:
    _post(store, seeded, "p1", MONDAY, "sold")  # a replay after the post's tags changed

    found = top_tags(store, seeded.id, period=PERIOD)
    assert [(tag.name, tag.posts) for tag in found] == [
        ("open-house", 2),
        ("sold", 2),
        ("listing", 1),
    ]


def test_tag_usage_counts_posts_per_tag_and_week(store: Store, seeded: ConnectionRecord) -> None:
    usage = tag_usage(store, seeded.id, period=PERIOD, bucket_size="week", top=2)

    assert [(b.first, b.last) for b in usage.buckets] == [
        (MONDAY, MONDAY + timedelta(days=6)),
        (MONDAY + timedelta(days=7), MONDAY + timedelta(days=13)),
    ]
    assert [(one.tag.name, one.counts) for one in usage.series] == [
        ("open-house", (2, 1)),
        ("listing", (1, 1)),
    ]
    by_day = tag_usage(store, seeded.id, period=PERIOD, bucket_size="day", top=1)
    assert by_day.series[0].counts == (1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)


def test_a_post_without_published_at_counts_on_the_day_it_was_recorded(
    store: Store, connection: ConnectionRecord
) -> None:
    before = datetime.now(UTC).date()
    _post(store, connection, "p9", None, "listing")
    after = datetime.now(UTC).date()  # the same day, unless midnight passed meanwhile
    found = top_tags(store, connection.id, period=Period(before, after))
    assert store.get_post(connection.id, "p9") is not None
    [link] = tag_segment(store, connection.id, "tag_listing").posts
    assert link.posted_at == store.get_post(connection.id, "p9").created_at  # type: ignore[union-attr]
    assert [(tag.name, tag.posts) for tag in found] == [("listing", 1)]


def test_the_segment_lists_the_posts_carrying_the_tag_newest_first(
    store: Store, seeded: ConnectionRecord, other_connection: ConnectionRecord
) -> None:
    _post(store, other_connection, "p1", MONDAY, "open-house")  # another connection's post

    segment = tag_segment(store, seeded.id, "tag_open-house")

    assert segment.tag_name == "open-house"
    assert [post.crm_post_id for post in segment.posts] == ["p3", "p2", "p1"]
    assert segment.posts[0].tags == ("open-house", "sold")
    assert segment.posts[0].ghl_post_id == "ghl_p3"
    assert segment.posts[0].posted_at == _at(MONDAY + timedelta(days=7))
    assert not segment.truncated
    shorter = tag_segment(store, seeded.id, "tag_open-house", limit=2)
    assert [post.crm_post_id for post in shorter.posts] == ["p3", "p2"]
    assert shorter.truncated
    unknown = tag_segment(store, seeded.id, "tag_nothing")
    assert (unknown.tag_name, unknown.posts) == (None, ())


def test_deleting_the_connection_removes_its_tag_rows(
    store: Store, seeded: ConnectionRecord
) -> None:
    store.delete_connection(seeded.id)
    assert top_tags(store, seeded.id, period=PERIOD) == []


def test_the_segment_csv_reads_back_row_for_row(store: Store, connection: ConnectionRecord) -> None:
    _post(store, connection, "p1", MONDAY, "open-house", title='Open house, "Saturday"\nat 2')
    _post(store, connection, "p2", MONDAY + timedelta(days=1), "open-house", title="=HYPERLINK(1)")
    segment = tag_segment(store, connection.id, "tag_open-house")

    rows = list(csv.reader(io.StringIO(segment_csv(segment), newline="")))

    assert tuple(rows[0]) == SEGMENT_COLUMNS
    assert rows[1] == [
        "p2",
        "ghl_p2",
        "'=HYPERLINK(1)",  # a spreadsheet shows it as text, never runs it
        _at(MONDAY + timedelta(days=1)).isoformat(),
        "open-house",
    ]
    assert rows[2] == [
        "p1",
        "ghl_p1",
        'Open house, "Saturday"\nat 2',
        _at(MONDAY).isoformat(),
        "open-house",
    ]
    assert len(rows) == 3
    assert segment_filename(segment) == "segment-tag_open-house.csv"


def test_an_empty_segment_exports_the_header_alone(
    store: Store, connection: ConnectionRecord
) -> None:
    rows = list(csv.reader(io.StringIO(segment_csv(tag_segment(store, connection.id, "x")))))
    assert rows == [list(SEGMENT_COLUMNS)]
