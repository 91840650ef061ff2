"""console.events: the events page's filter, its pages and one event's detail."""

from __future__ import annotations

import datetime as dt

from console.events import event_detail, event_page, read_cursor, read_filter, write_cursor
from store import Store
from tests.unit.console.eventutil import record


def test_the_filter_reads_every_field(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")

    form = read_filter(
        {
            "connection": acme.id,
            "type": "post.published",
            "status": "dead",
            "from": "2026-11-01T08:30",
            "to": "2026-11-02",
        },
        [acme],
    )

    assert form.problems == {}
    assert form.where.connection_id == acme.id
    assert form.where.type == "post.published"
    assert form.where.status == "dead"
    assert form.where.created_from == dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)
    assert form.where.created_to == dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def test_unreadable_fields_are_reported_and_ignored(store: Store) -> None:
    form = read_filter(
        {"connection": "nope", "type": "x", "status": "lost", "from": "yesterday"}, []
    )

    assert set(form.problems) == {"connection", "type", "status", "from"}
    assert form.where.connection_id is None
    assert form.where.status is None
    assert form.where.created_from is None
    assert form.values["from"] == "yesterday"


def test_filtering_by_connection_status_and_type(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    zeta = store.create_connection(name="zeta", location_id="loc_z", ghl_token="t")
    dead = record(store, acme, "dead")
    record(store, acme, "done")
    record(store, zeta, "dead")
    record(store, acme, "dead", event_type="statistics.requested")

    form = read_filter(
        {"connection": acme.id, "status": "dead", "type": "post.published"}, [acme, zeta]
    )
    page = event_page(store, form)

    assert [e.id for e in page.events] == [dead.id]
    assert page.names == {acme.id: "acme", zeta.id: "zeta"}
    assert page.next_cursor is None


def test_filtering_by_time(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    event = record(store, acme)
    minute = event.created_at.replace(second=0, microsecond=0)

    def ids(**args: str) -> list[str]:
        return [e.id for e in event_page(store, read_filter(args, [acme])).events]

    later = (minute + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    at = minute.strftime("%Y-%m-%dT%H:%M")
    assert ids(**{"from": at}) == [event.id]
    assert ids(**{"from": later}) == []
    assert ids(to=later) == [event.id]
    assert ids(to=at) == []


def test_pages_follow_each_other_newest_first_without_gaps(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    made = [record(store, acme) for _ in range(7)]
    newest_first = [e.id for e in sorted(made, key=lambda e: (e.created_at, e.id), reverse=True)]

    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = event_page(store, read_filter({"after": cursor}, [acme]), size=3)
        seen += [e.id for e in page.events]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == newest_first
    assert pages == 3


def test_a_garbled_cursor_is_the_first_page() -> None:
    assert read_cursor("") is None
    assert read_cursor("not a cursor") is None
    assert read_cursor("2026-13-01~ev_1") is None
    assert read_cursor("2026-11-01T00:00:00~ev_1") is None  # no time zone


def test_a_cursor_reads_back(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    event = record(store, acme)

    cursor = read_cursor(write_cursor(event))

    assert cursor is not None
    assert (cursor.created_at, cursor.id) == (event.created_at, event.id)


def test_the_detail_has_the_connection_the_writes_and_the_post(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    event = record(store, acme, "done", post_id="crm-9")
    other = record(store, acme, "done", post_id="crm-8")
    store.save_post_tags(
        connection_id=acme.id,
        crm_post_id="crm-9",
        location_id="loc_a",
        ghl_post_id="ghl-9",
        title="Open house",
        tags=[{"id": "t1", "name": "open house"}],
        post_tags=[{"id": "t1", "name": "open house"}],
    )
    store.begin_write(
        acme.id,
        f"{event.id}.post.tags_synced",
        writeback_type="post.tags_synced",
        contact="ann@example.com",
        record={"name": "Ann"},
        tags=["open house"],
    )
    store.begin_write(
        acme.id,
        f"{other.id}.post.tags_synced",
        writeback_type="post.tags_synced",
        contact="bob@example.com",
        record={},
        tags=[],
    )

    detail = event_detail(store, event.id)

    assert detail is not None
    assert detail.connection is not None
    assert detail.connection.name == "acme"
    assert [w.contact for w in detail.writes] == ["ann@example.com"]
    assert detail.post is not None
    assert detail.post.title == "Open house"
    assert detail.replayable


def test_the_detail_of_an_event_under_way_is_not_replayable(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    event = record(store, acme, event_type="statistics.requested")

    detail = event_detail(store, event.id)

    assert detail is not None
    assert not detail.replayable
    assert detail.post is None
    assert detail.writes == []
    assert event_detail(store, "ev_unknown") is None


def test_the_detail_lists_the_attempts_and_what_may_be_done(store: Store) -> None:
    acme = store.create_connection(name="acme", location_id="loc_a", ghl_token="t")
    event = record(store, acme)
    store.start_attempt(event.id, "task-1", lease_seconds=20)
    store.mark_retrying(event.id, "ghl: 503", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))

    detail = event_detail(store, event.id)

    assert detail is not None
    assert [(a.number, a.outcome, a.error) for a in detail.attempts] == [
        (1, "retrying", "ghl: 503")
    ]
    assert detail.retry_now
    assert not detail.replayable
    assert not detail.waits_for_connection

    store.park_connection(acme.id, "held")
    assert store.mark_waiting(event.id, "connection is parked: held") is not None
    waiting = event_detail(store, event.id)
    assert waiting is not None
    assert (waiting.retry_now, waiting.waits_for_connection) == (False, True)
