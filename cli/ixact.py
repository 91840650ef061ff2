"""`socialbridge ixact export-groups CONNECTION --out DIR`: GHL tags as IXACT Contact Groups.

What the files hold and why is `crm.ixact.contact_groups`' docstring (and
docs/connectors/ixact.md); this is the command around it. ``--no-bom`` leaves the byte order
mark out. Existing export files in DIR (``groups-N.csv``, ``needs-names.csv``) are never
overwritten without ``--force``; with it, the ones this export does not write again are
removed, so the folder holds one export, never a mix of two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from cli.render import emit_json, emit_table
from cli.runtime import Runtime, json_option, pass_runtime
from crm.ixact.contact_groups import (
    EXPORT_FILE,
    NEEDS_NAMES_FILE,
    ROWS_PER_FILE,
    ExportFile,
    Merged,
    merge_writes,
    plan_files,
    write_csv,
)
from store import ConnectionRecord, WriteStatus

IXACT_KIND = "ixact"


@click.group("ixact")
def group() -> None:
    """IXACT Contact: what its email capture cannot carry (Contact Groups)."""


# --- the folder ------------------------------------------------------------------------------


def existing_export_files(folder: Path) -> list[str]:
    """The names of earlier export files in ``folder``, sorted as people count."""
    found = [entry.name for entry in folder.iterdir() if EXPORT_FILE.fullmatch(entry.name)]
    return sorted(found, key=_counted)


def _counted(name: str) -> list[Any]:
    """A sort key putting groups-2.csv before groups-10.csv."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split("([0-9]+)", name)]


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
