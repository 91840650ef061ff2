"""`socialbridge connections activate`: resuming a connection and its waiting events.

On SQLite, and on PostgreSQL when TEST_DATABASE_URL is set. The queue is the unit tests' own
Redis database, read as a worker would find it (tests/brokerutil.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store import ConnectionRecord, EventRecord
from tests.brokerutil import queued_tasks
from tests.dbutil import database_params, temporary_database
from tests.unit.cli.conftest import PUBLIC_URL, Cli, lines

PARKED_REASON = "credentials refused: ghl: Invalid JWT (HTTP 401)"


@pytest.fixture(scope="module", params=database_params())
def cli_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """This module's store: SQLite, and PostgreSQL when configured (the `cli` fixture's)."""
    folder = tmp_path_factory.mktemp("cli-activate")
    with temporary_database(request.param, folder, upgrade=True) as (url, _):
        yield url


@pytest.fixture
def parked(cli: Cli) -> ConnectionRecord:
    connection = cli.connection("acme")
    cli.store.park_connection(connection.id, PARKED_REASON)
    return connection


def waiting_events(cli: Cli, connection: ConnectionRecord, count: int) -> list[EventRecord]:
    """``count`` events that arrived while the connection was not active, oldest first."""
    made = []
    for number in range(count):
        event, _ = cli.store.record_event(
            connection_id=connection.id,
            type="statistics.requested",
            payload={},
            webhook_id=f"msg_{number}",
        )
        waiting = cli.store.mark_waiting(event.id, f"the connection is {connection.status}")
        assert waiting is not None
        made.append(waiting)
    return made


def test_activate_puts_the_waiting_events_back_on_the_queue_in_order(
    cli: Cli, parked: ConnectionRecord, redis_url: str
) -> None:
    waiting = waiting_events(cli, parked, 3)

    result = cli("connections", "activate", "acme")

    assert result.exit_code == 0, result.output
    assert lines(result.output) == [
        f"{parked.id} (acme) is active again (was parked: {PARKED_REASON})",
        "3 waiting event(s) went back on the queue, in the order they came",
    ]
    record = cli.store.get_connection(parked.id)
    assert record is not None
    assert (record.status, record.status_reason) == ("active", None)
    released = [cli.store.get_event(event.id) for event in waiting]
    assert [event.status if event else None for event in released] == ["queued"] * 3
    assert [task.args[0] for task in queued_tasks(redis_url)] == [event.id for event in waiting]


def test_activate_without_waiting_events_says_none_went_back(
    cli: Cli, parked: ConnectionRecord, redis_url: str
) -> None:
    result = cli("connections", "activate", "acme")

    assert result.exit_code == 0, result.output
    assert lines(result.output)[1] == (
        "0 waiting event(s) went back on the queue, in the order they came"
    )
    assert queued_tasks(redis_url) == []


def test_activate_points_at_dead_events_only_when_there_are_some(
    cli: Cli, parked: ConnectionRecord
) -> None:
    event, _ = cli.store.record_event(
        connection_id=parked.id, type="statistics.requested", payload={}
    )
    cli.store.mark_dead(event.id, "ghl: Invalid JWT (HTTP 401)", "auth")

    result = cli("connections", "activate", "acme")

    assert result.exit_code == 0, result.output
    assert lines(result.output)[-1] == (
        "replay its dead events with: socialbridge events replay --dead"
    )


def test_activate_an_active_connection_says_so(cli: Cli) -> None:
    connection = cli.connection("acme")

    result = cli("connections", "activate", "acme")

    assert result.exit_code == 0
    assert result.output == f"{connection.id} (acme) is active already\n"


def test_activate_without_a_recorded_reason_prints_no_none(
    cli: Cli, parked: ConnectionRecord
) -> None:
    cli.store.park_connection(parked.id, "")

    result = cli("connections", "activate", "acme")

    assert result.exit_code == 0
    assert lines(result.output)[0] == f"{parked.id} (acme) is active again (was parked)"


def test_activate_of_a_disconnected_connection_asks_for_a_token_first(cli: Cli) -> None:
    connection = cli.connection("acme")
    cli.store.disconnect_connection(connection.id, "GHL uninstalled the app")
    [event] = waiting_events(cli, connection, 1)

    result = cli("connections", "activate", "acme")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: acme has no GHL token (disconnected: GHL uninstalled the app): reconnect it "
        "with: socialbridge connections update acme --ghl-token TOKEN, then: socialbridge "
        "connections activate acme (its waiting events run then)\n"
    )
    assert cli.store.get_event(event.id) == event


def test_activate_of_an_oauth_connection_not_installed_gives_its_install_url(cli: Cli) -> None:
    connection = cli.connection("acme", ghl_auth="oauth", ghl_token="", location_id="")

    result = cli("connections", "activate", "acme")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: acme has no GHL token (needs_reauth: not installed yet): authorize it by "
        f"opening {PUBLIC_URL}/oauth/ghl/start?connection={connection.id} (choose the "
        "location and approve); its waiting events run once the install completes\n"
    )


def test_a_reconnected_pit_connection_runs_its_waiting_events_on_activate(
    cli: Cli, redis_url: str
) -> None:
    connection = cli.connection("acme")
    assert cli("connections", "disconnect", "acme", "--yes").exit_code == 0
    waiting = waiting_events(cli, connection, 2)
    assert cli("connections", "update", "acme", "--ghl-token", "pit-sandbox-demo").exit_code == 0

    result = cli("connections", "activate", "acme")

    assert result.exit_code == 0, result.output
    assert lines(result.output)[1] == (
        "2 waiting event(s) went back on the queue, in the order they came"
    )
    assert [task.args[0] for task in queued_tasks(redis_url)] == [event.id for event in waiting]


def test_an_unknown_connection_is_a_usage_error_listing_the_known_ones(
    cli: Cli, parked: ConnectionRecord
) -> None:
    result = cli("connections", "activate", "nope")

    assert result.exit_code == 2
    assert "Invalid value for CONNECTION: no connection 'nope' (connections: acme)" in (
        result.output
    )
