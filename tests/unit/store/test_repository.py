from __future__ import annotations

from typing import Any

import pytest

from store import ConnectionRecord, Store, StoreError, StoreUnavailable

Database = tuple[str, dict[str, Any]]

# Nothing listens on port 1: connecting is refused at once, no server needed.
UNREACHABLE = "postgresql+psycopg://socialbridge@127.0.0.1:1/socialbridge"


def test_ping_answers_when_the_database_is_up(store: Store, connection: ConnectionRecord) -> None:
    store.ping()  # raises when it does not
    assert store.get_connection(connection.id) == connection


def test_ping_and_every_method_raise_store_unavailable_when_the_database_is_down() -> None:
    store = Store(UNREACHABLE, "key", engine_options={"connect_args": {"connect_timeout": 2}})
    try:
        with pytest.raises(StoreUnavailable, match="unavailable"):
            store.ping()
        with pytest.raises(StoreUnavailable):
            store.list_connections()
        with pytest.raises(StoreUnavailable) as raised:
            store.record_event(connection_id="con_1", type="t", payload={}, webhook_id="w")
        assert isinstance(raised.value, StoreError)
    finally:
        store.dispose()


def test_a_secret_key_is_required(database: Database) -> None:
    url, engine_options = database
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Store(url, "", engine_options=engine_options)


def test_two_stores_on_one_database_see_each_others_writes(
    database: Database, store: Store, connection: ConnectionRecord
) -> None:
    # As the web, worker and beat processes do, each with its own Store.
    url, engine_options = database
    worker = Store(url, "unit-test-secret-key", engine_options=engine_options)
    try:
        event, _ = worker.record_event(connection_id=connection.id, type="t", payload={})
        worker.start_attempt(event.id, "task-1", lease_seconds=20)
        seen = store.get_event(event.id)
        assert seen is not None
        assert seen.status == "processing"
        assert worker.get_connection(connection.id) == connection
    finally:
        worker.dispose()


def test_a_disposed_store_reconnects_when_used_again(
    store: Store, connection: ConnectionRecord
) -> None:
    store.dispose()
    assert store.get_connection(connection.id) == connection


def test_records_do_not_show_secrets(connection: ConnectionRecord) -> None:
    shown = repr(connection)
    assert connection.ghl_token not in shown
    assert connection.crm_secret not in shown
    assert connection.webhook_secrets[0] not in shown
    assert connection.name in shown
