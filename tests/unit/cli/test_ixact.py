"""`socialbridge ixact export-groups`, run with click's CliRunner over a real SQLite store.

The ledger rows are written as the IXACT connector writes them (`Store.begin_write`, then
`Store.mark_write_sent` once the mail server said 250); the files are read back both as bytes
(quoting, BOM, line ends: what IXACT's importer sees) and with the csv module (the values).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert

from cli import ixact as command
from cli.runtime import Runtime
from crm.ixact.contact_groups import COLUMNS
from store import ConnectionRecord, Store
from store.engine import make_engine
from store.models import CrmWriteRow
from tests.dbutil import clear_database, temporary_database

SECRET_KEY = "ixact-export-test-key"
HEADER = '"First Name","Last Name","Company","Email","Contact Groups"\r\n'
BOM = b"\xef\xbb\xbf"


class StoreRuntime(Runtime):
    """The CLI's runtime with a given store (no settings, no Redis: the export needs neither)."""

    def __init__(self, store: Store) -> None:
        super().__init__(env_file=None)
        self._store = store

    @property
    def store(self) -> Store:
        return self._store


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporary_database("sqlite", tmp_path_factory.mktemp("ixact"), upgrade=True) as (url, _):
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    clear_database(database_url)
    store = Store(database_url, SECRET_KEY)
    yield store
    store.dispose()


@pytest.fixture
def connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="agent-ixact",
        location_id="loc_1",
        ghl_token="ghl-token",
        crm_kind="ixact",
        crm_settings={
            "smtp_host": "smtp.example.com",
            "sender": "agent@example.com",
            "smtp_user": "agent@example.com",
            "smtp_password": "app-password",
        },
        inbound_auth="token",
    )


def sent(
    store: Store,
    connection: ConnectionRecord,
    key: str,
    contact: str,
    tags: Sequence[str] = (),
    *,
    writeback_type: str = "post.tags_synced",
    **record: str,
) -> None:
    """One write as the connector leaves it after the server's 250."""
    store.begin_write(
        connection.id, key, writeback_type=writeback_type, contact=contact, record=record, tags=tags
    )
    store.mark_write_sent(connection.id, key)


def run(store: Store, *args: str) -> Result:
    return CliRunner().invoke(command.group, list(args), obj=StoreRuntime(store))


def export(store: Store, out: Path, *args: str, name: str = "agent-ixact") -> Result:
    return run(store, "export-groups", name, "--out", str(out), *args)


def rows(path: Path) -> list[list[str]]:
    """The file's rows, header included, as a CSV reader sees them."""
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


# --- what a file holds ------------------------------------------------------------------------


def test_one_row_per_contact_every_cell_quoted_utf8_with_bom_and_crlf(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(
        store,
        connection,
        "e1.post.tags_synced",
        "ann@example.com",
        ["Listing", "Open house"],
        first_name="Ann",
        last_name="Lee",
    )
    sent(
        store,
        connection,
        "e2.post.tags_synced",
        "bob@example.com",
        ["Buyers"],
        company="Bob's Realty",
    )
    out = tmp_path / "export"

    result = export(store, out)

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["groups-1.csv"]
    raw = (out / "groups-1.csv").read_bytes()
    assert raw.startswith(BOM)
    assert raw[len(BOM) :].decode("utf-8") == (
        HEADER
        + '"Ann","Lee","","ann@example.com","Listing,Open house"\r\n'
        # One group is still wrapped in double quotes, as IXACT asks for the groups column.
        + '"","","Bob\'s Realty","bob@example.com","Buyers"\r\n'
    )
    assert "groups-1.csv  2 contacts" in result.stdout
    assert result.stderr == ""


def test_names_with_commas_quotes_and_accents_come_back_whole(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(
        store,
        connection,
        "e1.post.tags_synced",
        "jose@example.com",
        ["Vendeurs"],
        first_name="José",
        last_name='O"Brien, Jr.',
        company="Zoë\nHomes",
    )

    assert export(store, tmp_path).exit_code == 0

    assert rows(tmp_path / "groups-1.csv")[1] == [
        "José",
        'O"Brien, Jr.',
        "Zoë Homes",  # a line break would split the contact over two lines
        "jose@example.com",
        "Vendeurs",
    ]
    assert b'"O""Brien, Jr."' in (tmp_path / "groups-1.csv").read_bytes()


def test_no_bom_leaves_the_mark_out(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(store, connection, "e1.post.tags_synced", "ann@example.com", ["Listing"], first_name="Ann")

    result = export(store, tmp_path, "--no-bom")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "groups-1.csv").read_bytes().decode("utf-8").startswith(HEADER)
    assert "(UTF-8)" in result.stdout


# --- merging ----------------------------------------------------------------------------------


def test_writes_merge_per_contact_newest_names_win_groups_unioned_in_first_seen_order(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(
        store,
        connection,
        "e1.post.tags_synced",
        "ann@example.com",
        ["Listing", "Spring"],
        first_name="Anne",
        last_name="Lee",
        company="Lee Homes",
    )
    sent(store, connection, "e2.post.tags_synced", "bob@example.com", ["Buyers"], first_name="Bob")
    # The same contact, spelt with capitals; no company this time: the earlier one stays.
    sent(
        store,
        connection,
        "e3.post.tag_details_attached",
        "Ann@Example.com",
        ["spring", "Open house", "Listing"],
        writeback_type="post.tag_details_attached",
        first_name="Ann",
        last_name="  ",
    )

    result = export(store, tmp_path)

    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "groups-1.csv")[1:] == [
        ["Ann", "Lee", "Lee Homes", "Ann@Example.com", "Listing,Spring,Open house"],
        ["Bob", "", "", "bob@example.com", "Buyers"],
    ]


def test_only_sent_writes_are_exported(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(store, connection, "e1.post.tags_synced", "ann@example.com", ["Listing"], first_name="Ann")
    # Begun but never confirmed by the mail server: not known to be in IXACT.
    store.begin_write(
        connection.id,
        "e2.post.tags_synced",
        writeback_type="post.tags_synced",
        contact="bob@example.com",
        record={"first_name": "Bob"},
        tags=["Buyers"],
    )

    assert export(store, tmp_path).exit_code == 0

    assert [row[3] for row in rows(tmp_path / "groups-1.csv")[1:]] == ["ann@example.com"]


def test_statistics_only_contacts_have_no_group_and_are_left_out(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(store, connection, "e1.post.tags_synced", "ann@example.com", ["Listing"], first_name="Ann")
    sent(
        store,
        connection,
        "e2.location.statistics_synced",
        "office@example.com",
        writeback_type="location.statistics_synced",
        company="Lee Homes",
    )

    result = export(store, tmp_path)

    assert result.exit_code == 0, result.output
    assert [row[3] for row in rows(tmp_path / "groups-1.csv")[1:]] == ["ann@example.com"]
    assert "1 contact written to without any tag (statistics only): no group, left out" in (
        result.stdout
    )


# --- tag names IXACT cannot take as they are -------------------------------------------------


def test_commas_and_double_quotes_in_tags_are_replaced_and_named(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(
        store,
        connection,
        "e1.post.tags_synced",
        "ann@example.com",
        ["Buyers, 2026", 'The "Oaks"', ",", "Plain"],
        first_name="Ann",
    )

    result = export(store, tmp_path)

    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "groups-1.csv")[1][4] == "Buyers 2026,The 'Oaks',Plain"
    assert (
        'warning: tag "Buyers, 2026" is written as group "Buyers 2026": an IXACT group name '
        "cannot hold a comma or a double quote"
    ) in result.stderr
    assert 'warning: tag "The "Oaks"" is written as group "The \'Oaks\'"' in result.stderr
    assert 'warning: tag "," leaves no group name and is left out' in result.stderr
    assert "Plain" not in result.stderr


# --- contacts without names ------------------------------------------------------------------


def test_contacts_without_any_name_go_to_needs_names_with_a_warning_never_invented_names(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(store, connection, "e1.post.tags_synced", "ann@example.com", ["Listing"], first_name="Ann")
    sent(store, connection, "e2.post.tags_synced", "nobody@example.com", ["Buyers"])
    sent(
        store,
        connection,
        "e3.post.tags_synced",
        "blank@example.com",
        ["Spring"],
        first_name=" ",
        last_name="",
        company="\t",
    )

    result = export(store, tmp_path)

    assert result.exit_code == 0, result.output
    assert [row[3] for row in rows(tmp_path / "groups-1.csv")[1:]] == ["ann@example.com"]
    assert rows(tmp_path / "needs-names.csv") == [
        list(COLUMNS),
        ["", "", "", "nobody@example.com", "Buyers"],
        ["", "", "", "blank@example.com", "Spring"],
    ]
    assert "needs-names.csv  2 contacts, no name: not for import as is" in result.stdout
    assert (
        "warning: 2 contacts without a first name, last name or company: IXACT refuses such rows"
    ) in result.stderr


def test_only_contacts_without_names_write_needs_names_alone(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(store, connection, "e1.post.tags_synced", "nobody@example.com", ["Buyers"])

    assert export(store, tmp_path).exit_code == 0

    assert sorted(p.name for p in tmp_path.iterdir()) == ["needs-names.csv"]


# --- 2,000 rows a file -----------------------------------------------------------------------


def test_2001_contacts_make_two_files_of_2000_and_1_rows_each_with_the_header(
    store: Store, connection: ConnectionRecord, database_url: str, tmp_path: Path
) -> None:
    # 2,001 rows through begin_write and mark_write_sent take about 15 s on SQLite: they are
    # inserted in one statement instead, as those two leave them (sent, one attempt).
    start = datetime(2026, 11, 1, tzinfo=UTC)
    values: list[dict[str, Any]] = [
        {
            "connection_id": connection.id,
            "idempotency_key": f"evt_{number:04d}.post.tags_synced",
            "writeback_type": "post.tags_synced",
            "contact": f"contact{number:04d}@example.com",
            "record": {"first_name": f"First{number:04d}"},
            "tags": ["Listing"],
            "status": "sent",
            "attempts": 1,
            "created_at": start + timedelta(seconds=number),
            "updated_at": start + timedelta(seconds=number),
            "sent_at": start + timedelta(seconds=number),
        }
        for number in range(2001)
    ]
    engine = make_engine(database_url)
    try:
        with engine.begin() as session:
            session.execute(insert(CrmWriteRow), values)
    finally:
        engine.dispose()

    result = export(store, tmp_path)

    assert result.exit_code == 0, result.output
    first, second = rows(tmp_path / "groups-1.csv"), rows(tmp_path / "groups-2.csv")
    assert first[0] == second[0] == list(COLUMNS)
    assert len(first) == 1 + 2000
    assert len(second) == 1 + 1
    assert first[1][3] == "contact0000@example.com"
    assert first[2000][3] == "contact1999@example.com"
    assert second[1] == ["First2000", "", "", "contact2000@example.com", "Listing"]
    assert "groups-1.csv  2,000 contacts" in result.stdout
    assert "groups-2.csv  1 contact" in result.stdout


# --- refusals and files already there --------------------------------------------------------


def test_a_connection_of_another_kind_is_refused(store: Store, tmp_path: Path) -> None:
    store.create_connection(
        name="acme",
        location_id="loc_1",
        ghl_token="ghl-token",
        crm_url="https://crm.example.com/hooks",
    )
    out = tmp_path / "export"

    result = export(store, out, name="acme")

    assert result.exit_code == 2
    assert (
        "connection acme is a webhook connection; Contact Groups are exported from IXACT "
        "Contact connections (--crm ixact) only"
    ) in result.stderr
    assert not out.exists()


def test_an_unknown_connection_is_refused(store: Store, tmp_path: Path) -> None:
    result = export(store, tmp_path / "export", name="nope")

    assert result.exit_code == 2
    assert "no connection 'nope'" in result.stderr


def test_earlier_export_files_are_kept_without_force(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(store, connection, "e1.post.tags_synced", "ann@example.com", ["Listing"], first_name="Ann")
    (tmp_path / "groups-1.csv").write_text("earlier", encoding="utf-8")
    (tmp_path / "needs-names.csv").write_text("earlier", encoding="utf-8")

    result = export(store, tmp_path)

    assert result.exit_code == 1
    assert (
        f"{tmp_path} already holds groups-1.csv, needs-names.csv from an earlier export; "
        "pass --force to replace them"
    ) in result.stderr
    assert (tmp_path / "groups-1.csv").read_text(encoding="utf-8") == "earlier"


def test_force_replaces_the_earlier_export_and_removes_its_files_not_written_again(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(store, connection, "e1.post.tags_synced", "ann@example.com", ["Listing"], first_name="Ann")
    for name in ("groups-1.csv", "groups-2.csv", "groups-10.csv", "needs-names.csv"):
        (tmp_path / name).write_text("earlier", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("the user's own", encoding="utf-8")

    result = export(store, tmp_path, "--force")

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groups-1.csv", "notes.txt"]
    assert rows(tmp_path / "groups-1.csv")[1][3] == "ann@example.com"
    assert "removed from the earlier export: groups-2.csv, groups-10.csv, needs-names.csv" in (
        result.stdout
    )


def test_out_that_is_a_file_is_refused(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(store, connection, "e1.post.tags_synced", "ann@example.com", ["Listing"], first_name="Ann")
    out = tmp_path / "export"
    out.write_text("a file", encoding="utf-8")

    result = export(store, out)

    assert result.exit_code == 2
    assert "is a file" in result.stderr


def test_nothing_sent_yet_writes_nothing(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    out = tmp_path / "export"

    result = export(store, out)

    assert result.exit_code == 0, result.output
    assert "nothing to export: connection agent-ixact" in result.stdout
    assert not out.exists()


# --- --json -----------------------------------------------------------------------------------


def test_json_names_the_files_their_rows_and_the_warnings(
    store: Store, connection: ConnectionRecord, tmp_path: Path
) -> None:
    sent(
        store,
        connection,
        "e1.post.tags_synced",
        "ann@example.com",
        ["Buyers, 2026"],
        first_name="Ann",
    )
    sent(store, connection, "e2.post.tags_synced", "nobody@example.com", ["Buyers"])

    result = export(store, tmp_path, "--json")

    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["connection"] == {"id": connection.id, "name": "agent-ixact"}
    assert view["files"] == [{"file": "groups-1.csv", "contacts": 1}]
    assert view["needs_names"] == {"file": "needs-names.csv", "contacts": 1}
    assert view["contacts"] == 2
    assert view["contacts_without_tags"] == 0
    assert view["renamed_tags"] == [{"tag": "Buyers, 2026", "group": "Buyers 2026"}]
    assert view["encoding"] == "UTF-8 with BOM"
    assert len(view["warnings"]) == 2
    assert result.stderr == ""
