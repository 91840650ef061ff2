"""`socialbridge mappings history|rollback` on a real store, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.cli.conftest import Cli, columns, lines

FIRST = "version: 1\ninbound:\n  type: {value: post.published}\n"
SECOND = "version: 1\ninbound:\n  type: {value: statistics.requested}\n"


def test_history_lists_the_versions_newest_first(cli: Cli) -> None:
    connection = cli.connection()
    cli.store.save_mapping(connection.id, FIRST, author="ann@example.com")
    cli.store.save_mapping(connection.id, SECOND)

    result = cli("mappings", "history", "acme")

    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert out[0] == f"mapping versions of connection acme ({connection.id}), newest first"
    assert columns(out[1]) == ["VERSION", "SAVED", "BY", "NOTE"]
    assert [columns(line)[0] for line in out[2:]] == ["2", "1"]
    assert columns(out[2])[-2:] == ["unknown", "current"]
    assert columns(out[3])[-2:] == ["ann@example.com", "-"]


def test_history_json(cli: Cli) -> None:
    connection = cli.connection()
    cli.store.save_mapping(connection.id, FIRST)

    shown = json.loads(cli("mappings", "history", "acme", "--json").stdout)

    assert shown["current"] == FIRST
    [version] = shown["versions"]
    assert (version["number"], version["current"], version["text"]) == (1, True, FIRST)


def test_rollback_saves_the_old_text_as_a_new_version(cli: Cli) -> None:
    connection = cli.connection()
    cli.store.save_mapping(connection.id, FIRST)
    cli.store.save_mapping(connection.id, SECOND)

    result = cli("mappings", "rollback", "acme", "1", "--yes")

    assert result.exit_code == 0, result.output
    assert result.stdout == "rolled back: version 3 of acme's mapping is version 1 again\n"
    found = cli.store.get_connection(connection.id)
    assert found is not None
    assert found.mapping == FIRST
    newest = cli.store.list_mapping_versions(connection.id)[0]
    assert (newest.restored_from, newest.author) == (1, "command line")


def test_rollback_asks_first(cli: Cli) -> None:
    connection = cli.connection()
    cli.store.save_mapping(connection.id, FIRST)
    cli.store.save_mapping(connection.id, SECOND)

    result = cli("mappings", "rollback", "acme", "1", input="n\n")

    assert result.exit_code == 1
    assert len(cli.store.list_mapping_versions(connection.id)) == 2


def test_rollback_to_a_version_that_does_not_exist(cli: Cli) -> None:
    cli.connection()

    result = cli("mappings", "rollback", "acme", "5", "--yes")

    assert result.exit_code == 1
    assert "connection acme has no mapping version 5" in result.stderr


def test_a_mapping_given_to_connections_update_is_a_version_by_the_command_line(
    cli: Cli, tmp_path: Path
) -> None:
    connection = cli.connection()
    path = tmp_path / "mapping.yaml"
    path.write_text(FIRST, encoding="utf-8")

    result = cli("connections", "update", "acme", "--mapping", str(path))

    assert result.exit_code == 0, result.output
    [version] = cli.store.list_mapping_versions(connection.id)
    assert (version.number, version.text, version.author) == (1, FIRST, "command line")
