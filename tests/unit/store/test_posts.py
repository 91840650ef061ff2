from __future__ import annotations

import threading
from datetime import date

import pytest

from store import ConnectionRecord, NotFound, PostRecord, Store

TAGS = [{"id": "t1", "name": "news"}, {"id": "t2", "name": "listing"}]
POST_TAGS = [{"id": "t2", "name": "listing"}]
DETAILS = [{"id": "t2", "name": "listing", "locationId": "loc_acme", "createdAt": "2025-01-01"}]


def _save_tags(store: Store, connection: ConnectionRecord, crm_post_id: str = "p1") -> PostRecord:
    return store.save_post_tags(
        connection_id=connection.id,
        crm_post_id=crm_post_id,
        location_id="loc_acme",
        tags=TAGS,
        post_tags=POST_TAGS,
        ghl_post_id="ghl_1",
        title="Open house",
    )


def _save_snapshot(
    store: Store, connection: ConnectionRecord, location_id: str, end_date: date
) -> str:
    return store.save_snapshot(
        connection_id=connection.id,
        location_id=location_id,
        start_date=date(2025, 1, 1),
        end_date=end_date,
        profile_ids=["prof_1"],
        totals={"posts": 3.0},
        platforms={},
        daily={},
        day_range=[],
    ).id


def test_save_post_tags_creates_the_record(store: Store, connection: ConnectionRecord) -> None:
    saved = _save_tags(store, connection)
    assert (saved.connection_id, saved.crm_post_id, saved.location_id) == (
        connection.id,
        "p1",
        "loc_acme",
    )
    assert (saved.ghl_post_id, saved.title) == ("ghl_1", "Open house")
    assert (saved.tags, saved.post_tags, saved.tag_details) == (TAGS, POST_TAGS, [])
    assert saved.snapshot_id is None
    assert store.get_post(connection.id, "p1") == saved


def test_saving_the_same_tags_again_is_idempotent(
    store: Store, connection: ConnectionRecord
) -> None:
    first = _save_tags(store, connection)
    second = _save_tags(store, connection)
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert (second.tags, second.post_tags, second.ghl_post_id) == (TAGS, POST_TAGS, "ghl_1")
    assert store.list_posts(connection.id) == [second]


def test_missing_ghl_post_id_and_title_keep_what_was_known(
    store: Store, connection: ConnectionRecord
) -> None:
    _save_tags(store, connection)
    updated = store.save_post_tags(
        connection_id=connection.id,
        crm_post_id="p1",
        location_id="loc_acme",
        tags=TAGS[:1],
        post_tags=[],
    )
    assert (updated.ghl_post_id, updated.title) == ("ghl_1", "Open house")
    assert (updated.tags, updated.post_tags) == (TAGS[:1], [])


def test_tag_details_are_kept_apart_from_tags(store: Store, connection: ConnectionRecord) -> None:
    only_details = store.save_tag_details(
        connection_id=connection.id, crm_post_id="p2", location_id="loc_acme", details=DETAILS
    )
    assert (only_details.tags, only_details.tag_details) == ([], DETAILS)

    _save_tags(store, connection)
    with_details = store.save_tag_details(
        connection_id=connection.id, crm_post_id="p1", location_id="loc_acme", details=DETAILS
    )
    again = store.save_tag_details(
        connection_id=connection.id, crm_post_id="p1", location_id="loc_acme", details=DETAILS
    )
    assert (with_details.tags, with_details.tag_details) == (TAGS, DETAILS)
    assert (again.tags, again.tag_details, again.created_at) == (
        TAGS,
        DETAILS,
        with_details.created_at,
    )


def test_list_posts_most_recent_first(store: Store, connection: ConnectionRecord) -> None:
    for crm_post_id in ("p1", "p2", "p3"):
        _save_tags(store, connection, crm_post_id)
    _save_tags(store, connection, "p1")
    assert [post.crm_post_id for post in store.list_posts(connection.id)] == ["p1", "p3", "p2"]
    assert [post.crm_post_id for post in store.list_posts(connection.id, limit=1)] == ["p1"]
    assert store.get_post(connection.id, "nope") is None
    with pytest.raises(ValueError, match="limit"):
        store.list_posts(connection.id, limit=0)


def test_posts_need_a_connection(store: Store) -> None:
    with pytest.raises(NotFound):
        store.save_tag_details(
            connection_id="con_0000000000000000", crm_post_id="p", location_id="l", details=[]
        )


def test_post_tags_need_a_connection(store: Store) -> None:
    with pytest.raises(NotFound):
        store.save_post_tags(
            connection_id="con_0000000000000000",
            crm_post_id="p",
            location_id="l",
            tags=TAGS,
            post_tags=[],
        )
    assert store.list_posts("con_0000000000000000") == []


def test_an_existing_post_keeps_its_snapshot_and_creation_time(
    store: Store, connection: ConnectionRecord
) -> None:
    first = _save_tags(store, connection)
    _save_snapshot(store, connection, "loc_acme", date(2025, 1, 8))
    linked = store.get_post(connection.id, "p1")
    assert linked is not None

    again = _save_tags(store, connection)

    assert (again.snapshot_id, again.created_at) == (linked.snapshot_id, first.created_at)
    assert again.updated_at >= first.updated_at


def test_a_new_post_starts_linked_to_the_latest_snapshot_of_its_location(
    store: Store, connection: ConnectionRecord
) -> None:
    _save_snapshot(store, connection, "loc_acme", date(2025, 1, 7))
    latest = _save_snapshot(store, connection, "loc_acme", date(2025, 1, 8))
    _save_snapshot(store, connection, "loc_elsewhere", date(2025, 1, 9))  # not this location
    assert _save_tags(store, connection).snapshot_id == latest


def test_concurrent_saves_of_a_new_post_make_one_record(
    store: Store, connection: ConnectionRecord
) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def save() -> None:
        try:
            barrier.wait()
            _save_tags(store, connection)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=save) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [post.crm_post_id for post in store.list_posts(connection.id)] == ["p1"]


def test_tag_details_of_a_new_post_link_it_to_the_latest_snapshot(
    store: Store, connection: ConnectionRecord
) -> None:
    latest = _save_snapshot(store, connection, "loc_acme", date(2025, 1, 8))
    _save_snapshot(store, connection, "loc_elsewhere", date(2025, 1, 9))  # not this location

    saved = store.save_tag_details(
        connection_id=connection.id, crm_post_id="p2", location_id="loc_acme", details=DETAILS
    )

    assert saved.snapshot_id == latest
    assert (saved.ghl_post_id, saved.title, saved.tags, saved.post_tags) == (None, None, [], [])
    assert store.get_post(connection.id, "p2") == saved


def test_tag_details_keep_everything_else_the_post_record_knows(
    store: Store, connection: ConnectionRecord
) -> None:
    first = _save_tags(store, connection)
    linked = _save_snapshot(store, connection, "loc_acme", date(2025, 1, 8))
    # The latest snapshot of the location the details name is another one: a known record
    # keeps its own link (only a new record takes the latest).
    elsewhere = _save_snapshot(store, connection, "loc_moved", date(2025, 1, 9))

    saved = store.save_tag_details(
        connection_id=connection.id, crm_post_id="p1", location_id="loc_moved", details=DETAILS
    )

    assert saved == store.get_post(connection.id, "p1")
    assert saved.location_id == "loc_moved"
    assert (saved.ghl_post_id, saved.title) == ("ghl_1", "Open house")
    assert (saved.tags, saved.post_tags, saved.tag_details) == (TAGS, POST_TAGS, DETAILS)
    assert (saved.snapshot_id, saved.created_at) == (linked, first.created_at)
    assert linked != elsewhere
    assert saved.updated_at >= first.updated_at


def test_concurrent_tag_details_of_a_new_post_make_one_record(
    store: Store, connection: ConnectionRecord
) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def save() -> None:
        try:
            barrier.wait()
            store.save_tag_details(
                connection_id=connection.id,
                crm_post_id="p1",
                location_id="loc_acme",
                details=DETAILS,
            )
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=save) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    posts = store.list_posts(connection.id)
    assert [(post.crm_post_id, post.tag_details) for post in posts] == [("p1", DETAILS)]
