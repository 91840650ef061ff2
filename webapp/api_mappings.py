"""A connection's mapping as JSON: the current one and its history, one version, check,
preview, save a new version, roll back.

Every signed-in user (or API token) may read, check and preview: nothing is stored or sent.
Saving and rolling back need an admin (403 JSON for a viewer). Each view calls the
`console.mappings` function the console's mappings page and `socialbridge mappings …` call.
A mapping text that does not load is 400 ``{"error": "invalid_mapping", "message": …,
"problems": [{"line": …, "field": …, "message": …}]}``: each problem at its line.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, abort, jsonify

from console import mappings as service
from console.payloads import checked_json, mapping_json, version_json
from mappings import MappingInvalid, MappingProblem
from schemas.api import EmptySchema, MappingTextSchema, PreviewSchema
from store import NotFound
from webapp import context
from webapp.api_common import connection_or_404, json_input, refuse
from webapp.auth import admin_required, signed_in_user

bp = Blueprint("api_mappings", __name__, url_prefix="/api/connections/<connection_id>/mapping")


@bp.get("")
def current(connection_id: str) -> Any:
    record = connection_or_404(connection_id)
    versions = service.history(context.services().store, record.id)
    return jsonify(mapping_json(service.show(record), versions))


@bp.get("/versions/<int:number>")
def version(connection_id: str, number: int) -> Any:
    record = connection_or_404(connection_id)
    found = context.services().store.get_mapping_version(record.id, number)
    if found is None:
        abort(404, description=f"Connection {record.name} has no mapping version {number}.")
    return jsonify(version_json(found, text=True))


@bp.post("/check")
def check(connection_id: str) -> Any:
    given = json_input(MappingTextSchema())
    record = connection_or_404(connection_id)
    return jsonify(checked_json(service.check_text(given["text"], record.crm_kind)))


@bp.post("/preview")
def preview(connection_id: str) -> Any:
    given = json_input(PreviewSchema())
    record = connection_or_404(connection_id)
    result = service.preview(context.services(), record, given["text"], given["body"])
    if result.result is None:  # the text is not a valid mapping: nothing ran
        _invalid(result.problems)
    return jsonify(service.preview_view(result.result))


@bp.put("")
@admin_required
def save(connection_id: str) -> Any:
    given = json_input(MappingTextSchema())
    record = connection_or_404(connection_id)
    try:
        saved = service.save(
            context.services().store, record, given["text"], author=signed_in_user().email
        )
    except MappingInvalid as exc:
        _invalid(exc.problems)
    except ValueError as exc:  # valid YAML the column still refuses
        refuse(400, "refused", str(exc))
    return jsonify(version_json(saved)), 201


@bp.post("/versions/<int:number>/rollback")
@admin_required
def roll_back(connection_id: str, number: int) -> Any:
    json_input(EmptySchema())
    record = connection_or_404(connection_id)
    try:
        restored = service.roll_back(
            context.services().store, record, number, author=signed_in_user().email
        )
    except NotFound as exc:
        abort(404, description=str(exc))
    except MappingInvalid as exc:
        _invalid(exc.problems, f"Version {number} cannot be used by this version of socialbridge.")
    return jsonify(version_json(restored)), 201


def _invalid(problems: list[MappingProblem], message: str = "") -> NoReturn:
    found = len(problems)
    refuse(
        400,
        "invalid_mapping",
        message or f"The mapping is not valid: {found} problem{'s' if found != 1 else ''}.",
        problems=service.problem_views(problems),
    )
