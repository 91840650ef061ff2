"""`socialbridge connections activate`: un-parking a connection, as a user sees it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from store import Store, migrate


@pytest.fixture
def parked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, str]]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate.upgrade(url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", "cli-test-key")
    store = Store(url, "cli-test-key")
    connection = store.create_connection(
        name="acme", location_id="loc_1", ghl_token="pit-1", crm_url="http://crm.test/hooks"
    )
    store.park_connection(connection.id, "credentials refused: ghl: Invalid JWT (HTTP 401)")
    yield store, connection.id
    store.dispose()


def test_activate_brings_a_parked_connection_back(parked: tuple[Store, str]) -> None:
    store, connection_id = parked

    result = CliRunner().invoke(main, ["connections", "activate", "acme"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{connection_id} (acme) is active again (was parked: credentials refused: "
        "ghl: Invalid JWT (HTTP 401))",
        "replay its dead events with: socialbridge events replay --dead",
    ]
    record = store.get_connection(connection_id)
    assert record is not None
    assert record.status == "active"


def test_activate_an_active_connection_says_so(parked: tuple[Store, str]) -> None:
    store, connection_id = parked
    store.activate_connection(connection_id)

    result = CliRunner().invoke(main, ["connections", "activate", "acme"])

    assert result.exit_code == 0
    assert result.output == f"{connection_id} (acme) is active already\n"


def test_an_unknown_connection_is_a_usage_error_listing_the_known_ones(
    parked: tuple[Store, str],
) -> None:
    result = CliRunner().invoke(main, ["connections", "activate", "nope"])

    assert result.exit_code == 2
    assert "Invalid value for CONNECTION: no connection 'nope' (connections: acme)" in result.output


def test_activate_without_a_recorded_reason_prints_no_none(parked: tuple[Store, str]) -> None:
    store, connection_id = parked
    store.park_connection(connection_id, "")

    result = CliRunner().invoke(main, ["connections", "activate", "acme"])

    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"{connection_id} (acme) is active again (was parked)"
