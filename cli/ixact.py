"""`socialbridge ixact export-groups CONNECTION --out DIR`: GHL tags as IXACT Contact Groups.

IXACT Contact has no API and no tags; its nearest thing is Contact Groups, and the only way in
from outside is its CSV import. So this command turns what an IXACT connection has written
(the write ledger, `store.writes`: every email sent, with its contact, the event's
``data.record`` and the GHL tag names) into CSV files for IXACT's importer:

- one row per contact (merged by email, compared without case): ``First Name``, ``Last
  Name``, ``Company`` from the newest write that carried each (``record.first_name``,
  ``record.last_name``, ``record.company``; a later write without one keeps the earlier),
  ``Email``, and ``Contact Groups``: every tag name written to that contact, first seen
  first, in one cell separated by commas;
- at most 2,000 rows a file (IXACT's limit): ``groups-1.csv``, ``groups-2.csv``, …, each with
  the header row;
- a contact with none of first name, last name and company goes to ``needs-names.csv``
  (same columns) instead: IXACT refuses such a row, and names are never invented;
- a contact that was only ever written statistics (no tag) has no group and is left out.

The files' form, chosen for IXACT's importer (docs/connectors/ixact.md):

- every cell in double quotes. IXACT asks for the groups "in a single column separated by
  commas and wrapped in double-quote characters"; quoting every cell keeps that true for a
  single group too, and for names with commas. A doubled quote inside a cell is standard CSV.
- a group name cannot hold a comma (IXACT would split it in two) or a double quote (a
  careless reader would end the cell there): a tag's commas become spaces and its double
  quotes single quotes, and the output names every tag so renamed. Line breaks and other
  control characters become spaces in every cell, since each contact must stay one line.
- UTF-8 with a byte order mark by default: IXACT does not say which encoding it reads; the
  mark lets a spreadsheet opened on the way show accented names right, and importers that
  read UTF-8 skip it. ``--no-bom`` leaves it out. Lines end with CRLF, as a spreadsheet
  saved as "CSV (Comma delimited)" has them.

Existing export files in DIR (``groups-N.csv``, ``needs-names.csv``) are never overwritten
without ``--force``; with it, the ones this export does not write again are removed, so the
folder holds one export, never a mix of two.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from cli.render import emit_json, emit_table
from cli.runtime import Runtime, json_option, pass_runtime
from store import ConnectionRecord, CrmWriteRecord, WriteStatus

IXACT_KIND = "ixact"
ROWS_PER_FILE = 2000
"""IXACT imports at most 2,000 contacts from one file."""
COLUMNS = ("First Name", "Last Name", "Company", "Email", "Contact Groups")
GROUPS_FILE = "groups-{number}.csv"
NEEDS_NAMES_FILE = "needs-names.csv"
# What an earlier export may have left in DIR: replaced only with --force.
EXPORT_FILE = re.compile(r"groups-[0-9]+\.csv|needs-names\.csv")
GROUP_SEPARATOR = ","

# Control characters, line breaks and runs of white space: one space each (a cell must stay
# on its line for importers that read a row per line).
_SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
# Lone surrogates (text that was not UTF-8 on its way in) cannot be written as UTF-8.
_SURROGATES = re.compile(r"[\ud800-\udfff]")


@click.group("ixact")
def group() -> None:
    """IXACT Contact: what its email capture cannot carry (Contact Groups)."""


# --- merging the ledger into contacts ---------------------------------------------------------


@dataclass
class Contact:
    """One IXACT contact as the export writes it."""

    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    groups: list[str] = field(default_factory=list)

    @property
    def has_name(self) -> bool:
        """IXACT imports a contact only with a first name, last name or company."""
        return bool(self.first_name or self.last_name or self.company)

    def row(self) -> tuple[str, str, str, str, str]:
        return (
            self.first_name,
            self.last_name,
            self.company,
            self.email,
            GROUP_SEPARATOR.join(self.groups),
        )


@dataclass(frozen=True)
class Renamed:
    """A GHL tag whose name cannot be an IXACT group as it is."""

    tag: str
    group: str  # "" when nothing is left of it (then it is not written)


@dataclass
class Merged:
    """The ledger as contacts: those with groups, and what was changed or left out."""

    contacts: list[Contact]
    without_tags: int
    renamed: list[Renamed]


def clean_cell(value: str) -> str:
    """``value`` on one line: control characters and white-space runs as one space, stripped;
    a lone surrogate as U+FFFD."""
    return _SURROGATES.sub("\ufffd", _SPACES.sub(" ", value)).strip()


def group_name(tag: str) -> str:
    """The IXACT Contact Group for a GHL tag name ("" when nothing usable is left).

    A comma would split the group in two on import, so it becomes a space; a double quote
    would end the quoted cell in a careless reader, so it becomes a single quote.
    """
    return clean_cell(tag.replace(GROUP_SEPARATOR, " ").replace('"', "'"))


def merge_writes(writes: Iterable[CrmWriteRecord]) -> Merged:
    """The sent writes (oldest first), merged per contact.

    A name field takes the newest non-empty value (so a write whose event carried no
    company does not erase an earlier one); groups are unioned in first-seen order, compared
    without case (IXACT would see ``Buyers`` and ``buyers`` as one group anyway).
    """
    contacts: dict[str, Contact] = {}
    seen_groups: dict[str, set[str]] = {}
    renamed: dict[str, Renamed] = {}
    for write in writes:
        email = clean_cell(write.contact)
        if not email:
            continue
        key = email.casefold()
        contact = contacts.get(key)
        if contact is None:
            contact = contacts[key] = Contact(email=email)
            seen_groups[key] = set()
        contact.email = email
        record: Mapping[str, Any] = write.record
        for name in ("first_name", "last_name", "company"):
            value = record.get(name)
            if isinstance(value, str) and clean_cell(value):
                setattr(contact, name, clean_cell(value))
        for tag in write.tags:
            name = group_name(tag)
            shown = clean_cell(tag)
            if name != shown:
                renamed.setdefault(shown, Renamed(tag=shown, group=name))
            if name and name.casefold() not in seen_groups[key]:
                seen_groups[key].add(name.casefold())
                contact.groups.append(name)
    with_groups = [contact for contact in contacts.values() if contact.groups]
    return Merged(
        contacts=with_groups,
        without_tags=len(contacts) - len(with_groups),
        renamed=list(renamed.values()),
    )


# --- files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    """One file to write: its name in DIR and its contacts."""

    name: str
    contacts: Sequence[Contact]


def plan_files(contacts: Sequence[Contact]) -> tuple[list[ExportFile], ExportFile | None]:
    """The groups files (at most ROWS_PER_FILE rows each) and needs-names.csv (None if empty)."""
    named = [contact for contact in contacts if contact.has_name]
    unnamed = [contact for contact in contacts if not contact.has_name]
    groups = [
        ExportFile(GROUPS_FILE.format(number=number), named[start : start + ROWS_PER_FILE])
        for number, start in enumerate(range(0, len(named), ROWS_PER_FILE), start=1)
    ]
    return groups, (ExportFile(NEEDS_NAMES_FILE, unnamed) if unnamed else None)


def existing_export_files(folder: Path) -> list[str]:
    """The names of earlier export files in ``folder``, sorted as people count."""
    found = [entry.name for entry in folder.iterdir() if EXPORT_FILE.fullmatch(entry.name)]
    return sorted(found, key=_counted)


def _counted(name: str) -> list[Any]:
    """A sort key putting groups-2.csv before groups-10.csv."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split("([0-9]+)", name)]


def write_csv(path: Path, contacts: Sequence[Contact], *, bom: bool) -> None:
    """One CSV file, written whole or not at all (a temporary file renamed into place)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(handle, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as stream:
            writer = csv.writer(stream, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            writer.writerows(contact.row() for contact in contacts)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- the command ------------------------------------------------------------------------------


@group.command("export-groups")
@click.argument("connection")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the CSV files (created when missing).",
)
@click.option("--force", is_flag=True, help="Replace the files of an earlier export in --out.")
@click.option(
    "--no-bom", is_flag=True, help="Write UTF-8 without the byte order mark spreadsheets need."
)
@json_option
@pass_runtime
def export_groups(
    runtime: Runtime, connection: str, out: Path, force: bool, no_bom: bool, as_json: bool
) -> None:
    """Write the GHL tags sent to each contact as IXACT Contact Groups CSV files.

    Reads what CONNECTION (an IXACT Contact connection) has sent and writes, in --out,
    groups-1.csv, groups-2.csv, … (at most 2,000 contacts each, IXACT's limit) for IXACT's
    Import Contacts screen, and needs-names.csv for the contacts with no first name, last
    name or company, which IXACT would refuse. Commas in a tag become spaces (a comma would
    split the group). Existing export files are only replaced with --force.
    """
    record = runtime.connection(connection)
    if record.crm_kind != IXACT_KIND:
        raise click.BadParameter(
            f"connection {record.name} is a {record.crm_kind} connection; Contact Groups are "
            f"exported from IXACT Contact connections (--crm {IXACT_KIND}) only",
            param_hint="CONNECTION",
        )
    merged = merge_writes(runtime.store.list_writes(record.id, status=WriteStatus.SENT.value))
    groups_files, needs_names = plan_files(merged.contacts)
    planned = [*groups_files, *([needs_names] if needs_names else [])]

    removed: list[str] = []
    if planned:
        try:
            out.mkdir(parents=True, exist_ok=True)
            earlier = existing_export_files(out)
        except OSError as exc:
            raise click.ClickException(f"cannot use {out}: {exc.strerror or exc}") from None
        if earlier and not force:
            raise click.ClickException(
                f"{out} already holds {', '.join(earlier)} from an earlier export; "
                "pass --force to replace them"
            )
        written = {export.name for export in planned}
        try:
            for export in planned:
                write_csv(out / export.name, export.contacts, bom=not no_bom)
            for name in earlier:
                if name not in written:
                    (out / name).unlink()
                    removed.append(name)
        except OSError as exc:
            raise click.ClickException(f"cannot write in {out}: {exc.strerror or exc}") from None

    view = _export_view(record, out, groups_files, needs_names, merged, removed, bom=not no_bom)
    if as_json:
        emit_json(view)
        return
    _emit_export(view)


def _export_view(
    record: ConnectionRecord,
    out: Path,
    groups_files: Sequence[ExportFile],
    needs_names: ExportFile | None,
    merged: Merged,
    removed: Sequence[str],
    *,
    bom: bool,
) -> dict[str, Any]:
    """What both forms of ``export-groups`` print."""
    warnings: list[str] = []
    if needs_names is not None:
        count = _contacts(len(needs_names.contacts))
        warnings.append(
            f"{count} without a first name, last name or company: IXACT refuses such rows, "
            f"so they are in {NEEDS_NAMES_FILE}, not in the groups files; fill in a name "
            "there before importing it (or have the events carry record.first_name, "
            "record.last_name or record.company, and export again)"
        )
        if len(needs_names.contacts) > ROWS_PER_FILE:
            warnings.append(
                f"{NEEDS_NAMES_FILE} holds more than {ROWS_PER_FILE:,} contacts, more than "
                "IXACT imports from one file: split it before importing it"
            )
    for renamed in merged.renamed:
        if renamed.group:
            warnings.append(
                f'tag "{renamed.tag}" is written as group "{renamed.group}": an IXACT group '
                "name cannot hold a comma or a double quote"
            )
        else:
            warnings.append(f'tag "{renamed.tag}" leaves no group name and is left out')
    return {
        "connection": {"id": record.id, "name": record.name},
        "out": str(out),
        "encoding": "UTF-8 with BOM" if bom else "UTF-8",
        "files": [
            {"file": export.name, "contacts": len(export.contacts)} for export in groups_files
        ],
        "needs_names": None
        if needs_names is None
        else {"file": needs_names.name, "contacts": len(needs_names.contacts)},
        "contacts": len(merged.contacts),
        "contacts_without_tags": merged.without_tags,
        "renamed_tags": [{"tag": r.tag, "group": r.group} for r in merged.renamed],
        "removed": list(removed),
        "warnings": warnings,
    }


def _emit_export(view: Mapping[str, Any]) -> None:
    connection = view["connection"]
    if not view["contacts"]:
        click.echo(
            f"nothing to export: connection {connection['name']} ({connection['id']}) has "
            "sent no tags to any contact yet; no file written"
        )
    else:
        click.echo(
            f"Contact Groups of connection {connection['name']} ({connection['id']}) "
            f"written to {view['out']} ({view['encoding']}):"
        )
        rows = [(entry["file"], _contacts(entry["contacts"])) for entry in view["files"]]
        if view["needs_names"] is not None:
            entry = view["needs_names"]
            rows.append(
                (entry["file"], f"{_contacts(entry['contacts'])}, no name: not for import as is")
            )
        emit_table(rows, ["FILE", "ROWS"], indent="  ")
    if view["contacts_without_tags"]:
        click.echo(
            f"{_contacts(view['contacts_without_tags'])} written to without any tag "
            "(statistics only): no group, left out"
        )
    if view["removed"]:
        click.echo(f"removed from the earlier export: {', '.join(view['removed'])}")
    for warning in view["warnings"]:
        click.echo(f"warning: {warning}", err=True)


def _contacts(count: int) -> str:
    return f"{count:,} contact{'' if count == 1 else 's'}"
