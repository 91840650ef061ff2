"""The mappings pages: edit a connection's mapping with its problems at their line, preview a
pasted CRM body, and the history of versions with roll back.

Every signed-in user may read, check and preview (nothing is stored or sent); saving and
rolling back need an admin (403 for a viewer). The views only read the form and call
`console.mappings`, as `socialbridge mappings …` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from console import access
from console import mappings as service
from mappings import MappingInvalid, MappingProblem
from store import ConnectionRecord, NotFound
from webapp import context
from webapp.auth import admin_required, signed_in_user

bp = Blueprint("mappings", __name__)

# What the editor offers for a connection without a mapping: the one line every mapping needs.
STARTER = "version: 1\n"


@dataclass(frozen=True)
class Line:
    """One line of the checked text, for the numbered listing; ``problems`` on it, if any."""

    number: int
    text: str
    problems: list[MappingProblem]


@bp.get("/mappings")
def index() -> Any:
    connections = context.services().store.list_connections()
    return render_template("mappings_index.html", connections=connections)


@bp.get("/mappings/<connection_id>")
def edit(connection_id: str) -> Any:
    connection = _connection(connection_id)
    current = service.show(connection)
    return _page(
        connection,
        current.text if current.text is not None else STARTER,
        checked=current.checked,
    )


@bp.post("/mappings/<connection_id>/check")
def check(connection_id: str) -> Any:
    connection = _connection(connection_id)
    text = _form_text("mapping")
    checked = service.check_text(text, connection.crm_kind)
    return _page(connection, text, checked=checked, body=_form_text("body"))


@bp.post("/mappings/<connection_id>/preview")
def preview(connection_id: str) -> Any:
    connection = _connection(connection_id)
    text, raw = _form_text("mapping"), _form_text("body")
    try:
        body = service.read_body(raw)
    except service.BodyUnreadable as exc:
        page = _page(connection, text, body=raw, body_error=f"The CRM body: {exc}")
        return page, 400
    result = service.preview(context.services(), connection, text, body)
    if result.result is None:  # the text is not a valid mapping: its problems, nothing ran
        checked = service.Checked(text, None, result.problems)
        return _page(connection, text, checked=checked, body=raw), 400
    view = service.preview_view(result.result)
    return _page(connection, text, body=raw, preview=_preview_display(view))


@bp.post("/mappings/<connection_id>")
@admin_required
def save(connection_id: str) -> Any:
    connection = _connection(connection_id)
    text = _form_text("mapping")
    try:
        version = service.save(
            context.services().store, connection, text, author=signed_in_user().email
        )
    except MappingInvalid as exc:
        checked = service.Checked(text, None, exc.problems)
        return _page(connection, text, checked=checked, body=_form_text("body")), 400
    except ValueError as exc:  # valid YAML the column still refuses (a NUL, say)
        return _page(connection, text, body=_form_text("body"), save_error=str(exc)), 400
    flash(f"Saved the mapping of {connection.name} as version {version.number}.")
    return redirect(url_for("mappings.edit", connection_id=connection.id), 303)


@bp.get("/mappings/<connection_id>/versions/<int:number>")
def version(connection_id: str, number: int) -> Any:
    connection = _connection(connection_id)
    found = context.services().store.get_mapping_version(connection.id, number)
    if found is None:
        abort(404, description=f"Connection {connection.name} has no mapping version {number}.")
    return render_template(
        "mapping_version.html",
        connection=connection,
        version=found,
        current=found.text == connection.mapping,
        may_change=access.may_change(signed_in_user()),
    )


@bp.post("/mappings/<connection_id>/versions/<int:number>/rollback")
@admin_required
def roll_back(connection_id: str, number: int) -> Any:
    connection = _connection(connection_id)
    try:
        restored = service.roll_back(
            context.services().store, connection, number, author=signed_in_user().email
        )
    except NotFound as exc:
        abort(404, description=str(exc))
    except MappingInvalid as exc:
        text = connection.mapping or STARTER
        problems = "; ".join(str(problem) for problem in exc.problems)
        error = f"Version {number} cannot be used by this version of socialbridge: {problems}"
        return _page(connection, text, save_error=error), 400
    flash(f"Rolled back: version {restored.number} is version {number} again.")
    return redirect(url_for("mappings.edit", connection_id=connection.id), 303)


def _connection(connection_id: str) -> ConnectionRecord:
    found = context.services().store.get_connection(connection_id)
    if found is None:
        abort(404, description=f"No connection {connection_id}.")
    return found


def _form_text(name: str) -> str:
    # Browsers send a textarea's lines with CRLF; the mapping is stored with the LF it is
    # written with everywhere else (files, the CLI).
    return request.form.get(name, "").replace("\r\n", "\n")


def _lines(text: str, problems: list[MappingProblem]) -> list[Line]:
    by_line: dict[int, list[MappingProblem]] = {}
    for problem in problems:
        by_line.setdefault(problem.line, []).append(problem)
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no line of its own
    return [
        Line(number, line, by_line.get(number, [])) for number, line in enumerate(lines, start=1)
    ]


def _preview_display(view: dict[str, Any]) -> dict[str, Any]:
    """The preview view with its JSON parts written out for the page."""
    event = view["event"]
    return {
        **view,
        "event_json": None if event is None else json.dumps(event, indent=2, ensure_ascii=False),
        "writes": [
            {**write, "data_json": json.dumps(write["data"], indent=2, ensure_ascii=False)}
            for write in view["writes"]
        ],
    }


def _page(
    connection: ConnectionRecord,
    text: str,
    *,
    checked: service.Checked | None = None,
    body: str = "",
    body_error: str = "",
    save_error: str = "",
    preview: dict[str, Any] | None = None,
) -> str:
    problems = [] if checked is None else checked.problems
    return render_template(
        "mappings.html",
        connection=connection,
        text=text,
        checked=checked,
        problems=problems,
        lines=_lines(text, problems) if problems else [],
        body=body,
        body_error=body_error,
        save_error=save_error,
        preview=preview,
        versions=service.history(context.services().store, connection.id),
        may_change=access.may_change(signed_in_user()),
    )
