"""IXACT Contact Groups from the write ledger: the CSV files IXACT's import takes.

IXACT Contact has no API and no tags; its nearest thing is Contact Groups, and the only way in
from outside is its CSV import. `merge_writes` turns what an IXACT connection has written
(the write ledger, one entry per email sent, with its contact, the event's ``data.record``
and the GHL tag names) into contacts, and `plan_files` / `write_csv` into files:

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
  quotes single quotes, and the result names every tag so renamed. Line breaks and other
  control characters become spaces in every cell, since each contact must stay one line.
- UTF-8 with a byte order mark by default: IXACT does not say which encoding it reads; the
  mark lets a spreadsheet opened on the way show accented names right, and importers that
  read UTF-8 skip it. Lines end with CRLF, as a spreadsheet saved as "CSV (Comma delimited)"
  has them.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class LedgerWrite(Protocol):
    """What the export reads of one write-ledger entry (`store.CrmWriteRecord`)."""

    @property
    def contact(self) -> str: ...

    @property
    def record(self) -> Mapping[str, Any]: ...

    @property
    def tags(self) -> Sequence[str]: ...


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


def merge_writes(writes: Iterable[LedgerWrite]) -> Merged:
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
