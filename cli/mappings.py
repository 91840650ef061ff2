"""`socialbridge mappings validate|show|preview`: a connection's field mapping, checked and tried.

- ``validate FILE``: every problem of a mapping file on stderr, one ``line N: field:
  message`` each, and exit 1; else a summary of what it maps. ``--crm KIND`` also checks the
  outbound field names against that CRM kind's.
- ``show CONNECTION``: the connection's mapping text and its summary.
- ``preview CONNECTION --event FILE``: what the receiver would make of a CRM body, and the
  requests the connector would send for it, without storing or sending anything
  (`console.mappings.preview`); exit 1 when the body makes no valid event or a write
  would be refused.
- ``history CONNECTION``: the connection's mapping versions, newest first.
- ``rollback CONNECTION VERSION``: make an earlier version current again, as a new version.

The format of mappings: docs/mappings.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import click

from cli.mapping_file import (
    MappingFileNotUTF8,
    MappingFileTooLarge,
    MappingFileUnreadable,
    read_mapping_file,
)
from cli.render import NOTHING, emit_fields, emit_json, emit_table, json_value, words
from cli.runtime import Runtime, json_option, pass_runtime
from console import mappings as service
from crm.registry import KIND_NAMES
from mappings import MappingInvalid, MappingProblem
from store import NotFound

EVENT_MAX_BYTES = service.BODY_MAX_BYTES
COMMAND_LINE = "command line"
"""Who saved a mapping version from the command line (the console names the user)."""


@click.group("mappings")
def group() -> None:
    """Field mappings: check a file, show a connection's, preview a body, versions, roll back."""


# --- validate ---------------------------------------------------------------------------------


@group.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--crm",
    "crm_kind",
    type=click.Choice(KIND_NAMES),
    default=None,
    help="Also check the outbound field names against this CRM kind's.",
)
@json_option
def validate(file: Path, crm_kind: str | None, as_json: bool) -> None:
    """Check a mapping file; print every problem (exit 1) or what it maps."""
    problems: list[MappingProblem] = []
    summary = None
    try:
        text = read_mapping_file(file)
    except MappingFileUnreadable as exc:
        raise click.ClickException(str(exc)) from None
    except MappingFileNotUTF8 as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    except MappingFileTooLarge as exc:
        # Listed as the file's one problem, in --json too: the file was read, and refused.
        problems = [MappingProblem(0, "", str(exc))]
    else:
        checked = service.check_text(text, crm_kind)
        problems, summary = checked.problems, checked.summary
    if as_json:
        emit_json(
            {
                "valid": summary is not None,
                "problems": service.problem_views(problems),
                "summary": summary,
            }
        )
    elif summary is not None:
        kind_note = f" (outbound fields checked for {crm_kind})" if crm_kind else ""
        click.echo(f"{file}: valid mapping, version {summary['version']}{kind_note}")
        emit_summary(summary)
    else:
        for problem in problems:
            click.echo(str(problem), err=True)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        click.echo(f"{file}: not a valid mapping ({count})", err=True)
    if summary is None:
        raise SystemExit(1)


def emit_summary(summary: Mapping[str, Any]) -> None:
    """A mapping's summary (`ConnectionMapping.summary`) in words."""
    inbound = summary["inbound"]
    if inbound is None:
        click.echo("inbound: none (the CRM sends our own event format)")
    else:
        click.echo("inbound:")
        emit_fields(
            {
                "event types": inbound["event_types"],
                "type from": inbound["type"],
                "delivery id": inbound["id"],
            },
            indent="  ",
        )
        click.echo("  fields:")
        emit_table(
            [(name, source) for name, source in inbound["fields"].items()],
            ["FIELD", "FROM"],
            indent="    ",
        )
    outbound = summary["outbound"]
    if not outbound:
        click.echo("outbound: none (the connector writes its default format)")
        return
    click.echo("outbound:")
    emit_table(
        [
            (writeback, name, source)
            for writeback, fields in outbound.items()
            for name, source in fields.items()
        ],
        ["WRITE-BACK", "FIELD", "FROM"],
        indent="  ",
    )


# --- show -------------------------------------------------------------------------------------


@group.command("show")
@click.argument("connection")
@json_option
@pass_runtime
def show(runtime: Runtime, connection: str, as_json: bool) -> None:
    """A connection's mapping (by id or name): its summary and its text."""
    record = runtime.connection(connection)
    current = service.show(record)
    text = current.text
    problems = [] if current.checked is None else current.checked.problems
    summary = None if current.checked is None else current.checked.summary
    if as_json:
        emit_json(
            {
                "connection": {"id": record.id, "name": record.name, "crm_kind": record.crm_kind},
                "mapping": text,
                "summary": summary,
                "problems": service.problem_views(problems),
            }
        )
    elif text is None:
        click.echo(
            f"connection {record.name} ({record.id}) has no mapping: its CRM posts our own "
            "event format"
        )
    else:
        click.echo(f"mapping of connection {record.name} ({record.id}), CRM {record.crm_kind}")
        if summary is not None:
            emit_summary(summary)
        for problem in problems:
            click.echo(f"no longer valid: {problem}", err=True)
        click.echo("text:")
        for line in text.splitlines():
            click.echo(f"  {line}".rstrip())
    if problems:
        raise SystemExit(1)


# --- preview ----------------------------------------------------------------------------------


@group.command("preview")
@click.argument("connection")
@click.option(
    "--event",
    "event_file",
    required=True,
    type=click.File("rb", lazy=False),
    help="The CRM's JSON body (- for standard input).",
)
@json_option
@pass_runtime
def preview(runtime: Runtime, connection: str, event_file: IO[bytes], as_json: bool) -> None:
    """What CONNECTION makes of a CRM body, and what its connector would send; sends nothing.

    GHL is read as for a real event (the flow needs its answers); nothing is stored and
    nothing reaches the CRM. Exit 1 when the body makes no valid event or a write would be
    refused.
    """
    record = runtime.connection(connection)
    body = _read_body(event_file)
    result = service.preview(runtime.services, record, None, body).result
    assert result is not None  # no text given: the stored mapping, nothing to check first
    view: dict[str, Any] = json_value(service.preview_view(result))
    if as_json:
        emit_json(view)
    else:
        emit_preview(view)
    if not view["ok"]:
        raise SystemExit(1)


def _read_body(stream: IO[bytes]) -> Any:
    name = getattr(stream, "name", "-")
    try:
        return service.read_body(stream.read(EVENT_MAX_BYTES + 1))
    except service.BodyUnreadable as exc:
        raise click.ClickException(f"--event {name}: {exc}") from None


def emit_preview(view: Mapping[str, Any]) -> None:
    """A preview view in words: the event or its errors, then each write."""
    if view["event"] is not None:
        click.echo("event:")
        emit_fields(view["event"], indent="  ")
    if view["errors"]:
        click.echo("the body makes no valid event (the receiver answers 422):", err=True)
        for path, messages in view["errors"].items():
            for message in messages:
                click.echo(f"  {path}: {message}", err=True)
    for number, write in enumerate(view["writes"], start=1):
        record = ", ".join(f"{key}={value}" for key, value in write["record"].items())
        click.echo(
            f"write {number}: {write['type']} (key {write['idempotency_key']}, "
            f"record {record or NOTHING})"
        )
        if write["error"] is not None:
            click.echo(f"  refused: {write['error']}", err=True)
        for index, request in enumerate(write["requests"], start=1):
            purpose = f" ({request['purpose']})" if request["purpose"] else ""
            click.echo(f"  request {index}{purpose}: {request['method']} {request['url']}")
            for name, value in request["headers"].items():
                click.echo(f"    {name}: {words(value)}")
            click.echo("    body:")
            for line in request["body"].splitlines() or [""]:
                click.echo(f"      {line}".rstrip())
    if view["event"] is not None and not view["writes"]:
        click.echo("writes: none")
    if view["note"]:
        click.echo(f"note: {view['note']}")


# --- history and rollback -----------------------------------------------------------------------


@group.command("history")
@click.argument("connection")
@json_option
@pass_runtime
def history(runtime: Runtime, connection: str, as_json: bool) -> None:
    """The versions of a connection's mapping, newest first."""
    record = runtime.connection(connection)
    versions = service.history(runtime.store, record.id)
    if as_json:
        emit_json(
            {
                "connection": {"id": record.id, "name": record.name},
                "current": record.mapping,
                "versions": [
                    {
                        "number": version.number,
                        "created_at": version.created_at,
                        "author": version.author,
                        "restored_from": version.restored_from,
                        "current": index == 0 and version.text == record.mapping,
                        "text": version.text,
                    }
                    for index, version in enumerate(versions)
                ],
            }
        )
        return
    click.echo(f"mapping versions of connection {record.name} ({record.id}), newest first")
    emit_table(
        [
            (
                version.number,
                version.created_at,
                version.author or "unknown",
                _version_note(version.restored_from, index == 0 and version.text == record.mapping),
            )
            for index, version in enumerate(versions)
        ],
        ["VERSION", "SAVED", "BY", "NOTE"],
    )


def _version_note(restored_from: int | None, current: bool) -> str:
    notes = ["current"] if current else []
    if restored_from is not None:
        notes.append(f"restores version {restored_from}")
    return ", ".join(notes) or NOTHING


@group.command("rollback")
@click.argument("connection")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_runtime
def rollback(runtime: Runtime, connection: str, version: int, yes: bool) -> None:
    """Make VERSION of CONNECTION's mapping current again (saved as a new version)."""
    record = runtime.connection(connection)
    if not yes:
        click.confirm(f"Make version {version} the mapping of {record.name} again?", abort=True)
    try:
        restored = service.roll_back(runtime.store, record, version, author=COMMAND_LINE)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    except MappingInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"version {version} cannot be used by this version of socialbridge"
        ) from None
    click.echo(
        f"rolled back: version {restored.number} of {record.name}'s mapping is version "
        f"{version} again"
    )
