"""The in-process connection cache: how long an entry lives, what drops it, what it never keeps."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from store import ConnectionRecord, Store
from store.connection_cache import CONNECTION_CACHE_SECONDS, ConnectionCache
from tests.dbutil import Database
from tests.unit.store.conftest import SECRET_KEY


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingLoader:
    """`Store.get_connection` with a count of the reads that reached the database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads = 0

    def __call__(self, connection_id: str) -> ConnectionRecord | None:
        self.reads += 1
        return self.store.get_connection(connection_id)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def other_process(database: Database) -> Iterator[Store]:
    """A second Store on the same database: what the CLI is to the web process."""
    url, engine_options = database
    opened = Store(url, SECRET_KEY, engine_options=engine_options)
    yield opened
    opened.dispose()


def test_an_entry_is_read_once_per_ttl(
    store: Store, connection: ConnectionRecord, clock: Clock
) -> None:
    cache = ConnectionCache(2.0, clock=clock)
    load = CountingLoader(store)

    first = cache.get(connection.id, load)
    clock.now += 1.9
    second = cache.get(connection.id, load)
    clock.now += 0.2
    third = cache.get(connection.id, load)

    assert first == second == third == connection
    assert load.reads == 2


def test_a_change_by_another_process_is_seen_once_the_ttl_passed(
    store: Store, other_process: Store, connection: ConnectionRecord, clock: Clock
) -> None:
    cache = ConnectionCache(2.0, clock=clock)
    cache.get(connection.id, store.get_connection)

    rotated = other_process.add_webhook_secret(connection.id)
    still = cache.get(connection.id, store.get_connection)
    clock.now += 2.0
    fresh = cache.get(connection.id, store.get_connection)

    assert still is not None
    assert still.webhook_secrets == connection.webhook_secrets
    assert fresh is not None
    assert fresh.webhook_secrets[0] == rotated


def test_a_cached_record_of_another_version_is_read_again(
    store: Store, other_process: Store, connection: ConnectionRecord, clock: Clock
) -> None:
    cache = ConnectionCache(2.0, clock=clock)
    load = CountingLoader(store)
    cache.get(connection.id, load, version=connection.updated_at)

    same = cache.get(connection.id, load, version=connection.updated_at)
    changed = other_process.update_connection(connection.id, crm_url="http://crm.test/hooks/b")
    fresh = cache.get(connection.id, load, version=changed.updated_at)
    kept = cache.get(connection.id, load, version=changed.updated_at)

    assert same == connection
    assert fresh == kept == changed
    assert load.reads == 2


@pytest.mark.parametrize(
    "change",
    [
        lambda s, c: s.update_connection(c, crm_url="http://crm.test/hooks/moved"),
        lambda s, c: s.update_connection(c, ghl_token="pit-new-token"),
        lambda s, c: s.park_connection(c, "credentials refused"),
        lambda s, c: s.add_webhook_secret(c),
    ],
    ids=["crm_url", "ghl_token", "parked", "webhook_secret"],
)
def test_a_worker_uses_a_change_by_another_process_from_its_next_event(
    store: Store,
    other_process: Store,
    connection: ConnectionRecord,
    change: Callable[[Store, str], object],
) -> None:
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload={}, webhook_id="msg_1"
    )
    first = store.event_for_attempt(event.id)
    assert first is not None
    before = store.connection_at(connection.id, first[1])
    again = store.connection_at(connection.id, first[1])

    change(other_process, connection.id)
    found = store.event_for_attempt(event.id)
    assert found is not None
    after = store.connection_at(connection.id, found[1])

    assert before == connection
    assert again is before  # the same version: kept, not read and decrypted again
    assert after == other_process.get_connection(connection.id)
    assert after != connection


def test_a_worker_finds_no_connection_once_it_is_gone(
    store: Store, other_process: Store, connection: ConnectionRecord
) -> None:
    store.connection_at(connection.id, connection.updated_at)

    other_process.delete_connection(connection.id)

    assert store.connection_at(connection.id, None) is None


def test_changes_through_the_store_drop_the_entry_at_once(
    store: Store, connection: ConnectionRecord
) -> None:
    assert store.cached_connection(connection.id) == connection

    secret = store.add_webhook_secret(connection.id)
    assert store.cached_connection(connection.id).webhook_secrets[0] == secret  # type: ignore[union-attr]
    store.retire_webhook_secrets(connection.id)
    assert store.cached_connection(connection.id).webhook_secrets == (secret,)  # type: ignore[union-attr]
    store.update_connection(connection.id, name="renamed")
    assert store.cached_connection(connection.id).name == "renamed"  # type: ignore[union-attr]
    store.park_connection(connection.id, "refused")
    assert store.cached_connection(connection.id).status == "parked"  # type: ignore[union-attr]
    store.activate_connection(connection.id)
    assert store.cached_connection(connection.id).status == "active"  # type: ignore[union-attr]
    store.delete_connection(connection.id)
    assert store.cached_connection(connection.id) is None


def test_inbound_token_rotation_drops_the_entry(store: Store) -> None:
    connection = store.create_connection(
        name="tok", location_id="loc", ghl_token="t", crm_url="http://crm", inbound_auth="token"
    )
    assert store.cached_connection(connection.id) == connection

    token = store.add_inbound_token(connection.id)
    assert store.cached_connection(connection.id).inbound_tokens[0] == token  # type: ignore[union-attr]
    store.retire_inbound_tokens(connection.id)
    assert store.cached_connection(connection.id).inbound_tokens == (token,)  # type: ignore[union-attr]


def test_an_unknown_connection_is_looked_up_every_time(store: Store, clock: Clock) -> None:
    cache = ConnectionCache(2.0, clock=clock)
    load = CountingLoader(store)

    assert cache.get("con_0000000000000000", load) is None
    assert cache.get("con_0000000000000000", load) is None

    assert load.reads == 2


def test_a_connection_created_elsewhere_is_found_at_once(
    store: Store, other_process: Store
) -> None:
    assert store.cached_connection("con_0000000000000000") is None
    created = other_process.create_connection(
        name="new", location_id="loc", ghl_token="t", crm_url="http://crm"
    )

    assert store.cached_connection(created.id) == created


def test_a_read_that_began_before_a_drop_is_not_kept(
    store: Store, connection: ConnectionRecord, clock: Clock
) -> None:
    cache = ConnectionCache(2.0, clock=clock)
    reading, dropped = threading.Event(), threading.Event()

    def slow_load(connection_id: str) -> ConnectionRecord | None:
        old = store.get_connection(connection_id)  # the row before the change below
        reading.set()
        dropped.wait(timeout=10)
        return old

    reader = threading.Thread(target=cache.get, args=(connection.id, slow_load))
    reader.start()
    reading.wait(timeout=10)
    store.add_webhook_secret(connection.id)
    cache.drop(connection.id)
    dropped.set()
    reader.join(timeout=10)

    load = CountingLoader(store)
    fresh = cache.get(connection.id, load)
    assert load.reads == 1  # the old row was not kept
    assert fresh is not None
    assert fresh.webhook_secrets != connection.webhook_secrets


def test_the_oldest_entry_makes_room(
    store: Store, connection: ConnectionRecord, clock: Clock
) -> None:
    other = store.create_connection(
        name="other", location_id="loc", ghl_token="t", crm_url="http://crm"
    )
    cache = ConnectionCache(2.0, max_entries=1, clock=clock)
    load = CountingLoader(store)

    cache.get(connection.id, load)
    cache.get(other.id, load)
    cache.get(other.id, load)
    cache.get(connection.id, load)

    assert load.reads == 3


def test_clear_forgets_everything_and_ttl_zero_keeps_nothing(
    store: Store, connection: ConnectionRecord, clock: Clock
) -> None:
    load = CountingLoader(store)
    cache = ConnectionCache(2.0, clock=clock)
    cache.get(connection.id, load)
    cache.clear()
    cache.get(connection.id, load)
    uncached = ConnectionCache(0, clock=clock)
    uncached.get(connection.id, load)
    uncached.get(connection.id, load)

    assert load.reads == 4


def test_the_default_ttl_is_short() -> None:
    # The docs promise that another process's change reaches the receiver within seconds.
    assert 0 < CONNECTION_CACHE_SECONDS <= 5
    with pytest.raises(ValueError, match="ttl"):
        ConnectionCache(-1)
    with pytest.raises(ValueError, match="max_entries"):
        ConnectionCache(max_entries=0)
