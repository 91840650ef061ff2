"""The write ledger: begin, count attempts, mark sent, list; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from store import ConnectionRecord, NotFound, Store, WriteStatus


@pytest.fixture
def connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="ixact", location_id="loc", ghl_token="t", crm_url="", crm_kind="ixact"
    )


def _begin(store: Store, connection: ConnectionRecord, key: str = "evt_1.post.tags_synced", **kw):  # type: ignore[no-untyped-def]
    values = {
        "writeback_type": "post.tags_synced",
        "contact": "ann@example.com",
        "record": {"contact_email": "ann@example.com", "first_name": "Ann"},
        "tags": ["open house", "spring"],
    }
    values.update(kw)
    return store.begin_write(connection.id, key, **values)


def test_a_new_write_is_sending_with_one_attempt(
    store: Store, connection: ConnectionRecord
) -> None:
    entry = _begin(store, connection)
    assert (entry.status, entry.attempts, entry.sent_at) == (WriteStatus.SENDING, 1, None)
    assert entry.tags == ["open house", "spring"]
    assert entry.record["first_name"] == "Ann"


def test_beginning_again_before_sent_counts_an_attempt_and_takes_the_newest_values(
    store: Store, connection: ConnectionRecord
) -> None:
    _begin(store, connection)
    again = _begin(store, connection, tags=["spring"])
    assert (again.status, again.attempts, again.tags) == (WriteStatus.SENDING, 2, ["spring"])


def test_a_sent_write_is_returned_unchanged(store: Store, connection: ConnectionRecord) -> None:
    _begin(store, connection)
    sent = store.mark_write_sent(connection.id, "evt_1.post.tags_synced")
    assert sent.status == WriteStatus.SENT
    assert sent.sent_at is not None
    later = _begin(store, connection, tags=["other"])
    assert later == sent
    # Marking twice keeps the first time.
    assert store.mark_write_sent(connection.id, "evt_1.post.tags_synced").sent_at == sent.sent_at


def test_marking_a_write_never_begun_is_not_found(
    store: Store, connection: ConnectionRecord
) -> None:
    with pytest.raises(NotFound):
        store.mark_write_sent(connection.id, "nope")


def test_list_writes_by_connection_and_status(store: Store, connection: ConnectionRecord) -> None:
    other = store.create_connection(name="other", location_id="l", ghl_token="t", crm_url="")
    _begin(store, connection, "a")
    _begin(store, connection, "b")
    _begin(store, other, "c")
    store.mark_write_sent(connection.id, "b")
    assert [w.idempotency_key for w in store.list_writes(connection.id)] == ["a", "b"]
    assert [w.idempotency_key for w in store.list_writes(connection.id, status="sent")] == ["b"]


def test_deleting_the_connection_deletes_its_writes(
    store: Store, connection: ConnectionRecord
) -> None:
    _begin(store, connection)
    store.delete_connection(connection.id)
    assert store.list_writes(connection.id) == []


def test_concurrent_beginnings_of_one_new_write_make_one_entry(
    store: Store, connection: ConnectionRecord
) -> None:
    results: list[int] = []
    barrier = threading.Barrier(4)

    def begin() -> None:
        barrier.wait()
        results.append(_begin(store, connection).attempts)

    threads = [threading.Thread(target=begin) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [1, 2, 3, 4]
    [entry] = store.list_writes(connection.id)
    assert entry.attempts == 4


def test_unstorable_keys_are_refused(store: Store, connection: ConnectionRecord) -> None:
    with pytest.raises(ValueError, match="idempotency_key: at most 255"):
        _begin(store, connection, "k" * 256)
    assert store.list_writes(connection.id) == []
