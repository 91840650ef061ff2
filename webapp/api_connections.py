"""Connection changes as JSON: create, update, check, activate, disconnect, rotate, delete.

Admins only (403 JSON for a viewer). Each view loads its body with its `schemas.api` schema
(400 naming the refused fields) and calls the `console.connections` function the console's
connections pages and `socialbridge connections …` call; a refusal of that function is 400
with its ``errors`` by field (409 for an activation that needs an authorization first).

Secrets are write-only: an answer never holds a GHL token, a secret CRM setting or a stored
webhook secret or inbound token. The one a creation or a rotation has just generated is in
that answer's ``revealed`` only (the CRM needs it; no other answer shows it), as the
console's page shows it once.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, jsonify

from console import connections
from console.connections import DEFAULT_KIND, ConnectionRefused, NewConnection
from console.payloads import (
    activation_json,
    check_json,
    connection_json,
    revealed_json,
    rotation_json,
)
from schemas.api import (
    CheckSchema,
    ConnectionCreateSchema,
    ConnectionUpdateSchema,
    DisconnectSchema,
    EmptySchema,
    RotateSchema,
)
from store import ConnectionRecord
from webapp import context
from webapp.api_common import connection_or_404, json_input, refuse
from webapp.auth import admin_required, signed_in_user

bp = Blueprint("api_connections", __name__, url_prefix="/api/connections")


@bp.post("")
@admin_required
def create() -> Any:
    given = json_input(ConnectionCreateSchema())
    try:
        record = connections.create_connection(
            context.services().store,
            context.settings(),
            NewConnection(
                name=given["name"].strip(),
                crm_kind=given["crm_kind"] or DEFAULT_KIND,
                ghl_auth=given["ghl_auth"],
                location_id=given["location_id"].strip(),
                ghl_token=given["ghl_token"].strip(),
                crm_url=given["crm_url"].strip(),
                crm_settings=given["crm_settings"],
                inbound_auth=given["inbound_auth"],
                mapping=given["mapping"],
                mapping_author=signed_in_user().email,
                stats_interval_seconds=given["stats_interval_seconds"],
            ),
        )
    except ConnectionRefused as exc:
        _refused(exc)
    answer = {
        "connection": connection_json(record, context.settings()),
        "revealed": revealed_json(*connections.newest_credential(record)),
    }
    return jsonify(answer), 201


@bp.patch("/<connection_id>")
@admin_required
def update(connection_id: str) -> Any:
    given = json_input(ConnectionUpdateSchema())
    record = connection_or_404(connection_id)
    changes = given.get("crm_settings")
    try:
        updated = connections.update_connection(
            context.services().store,
            record,
            name=given.get("name"),
            ghl_token=given.get("ghl_token"),
            crm_url=given.get("crm_url"),
            crm_settings=None if changes is None else connections.patched_settings(record, changes),
            stats_interval_seconds=given.get("stats_interval_seconds"),
        )
    except ConnectionRefused as exc:
        _refused(exc)
    return jsonify({"connection": connection_json(updated, context.settings())})


@bp.post("/<connection_id>/check")
@admin_required
def check(connection_id: str) -> Any:
    given = json_input(CheckSchema())
    record = connection_or_404(connection_id)
    result = connections.check_connection(
        context.services(), context.settings(), record, post_id=given["post_id"] or None
    )
    return jsonify(check_json(result))


@bp.post("/<connection_id>/rotate-secret")
@admin_required
def rotate(connection_id: str) -> Any:
    given = json_input(RotateSchema())
    record = connection_or_404(connection_id)
    rotation = connections.rotate_secret(context.services().store, record, retire=given["retire"])
    answer: dict[str, Any] = {"connection_id": record.id, **rotation_json(rotation)}
    if not given["retire"]:
        answer["revealed"] = revealed_json(rotation.what, rotation.active[0])
    return jsonify(answer)


@bp.post("/<connection_id>/activate")
@admin_required
def activate(connection_id: str) -> Any:
    json_input(EmptySchema())
    record = connection_or_404(connection_id)
    try:
        done = connections.activate(
            context.services().store, context.celery(), context.settings(), record
        )
    except ConnectionRefused as exc:
        refuse(409, "refused", exc.messages, errors=exc.errors)
    return jsonify({**activation_json(done), "connection": _current(record)})


@bp.post("/<connection_id>/disconnect")
@admin_required
def disconnect(connection_id: str) -> Any:
    given = json_input(DisconnectSchema())
    record = connection_or_404(connection_id)
    reason = given["reason"] or f"disconnected through the API by {signed_in_user().email}"
    changed = connections.disconnect(context.services().store, record, reason)
    return jsonify({"disconnected": changed, "connection": _current(record)})


@bp.delete("/<connection_id>")
@admin_required
def delete(connection_id: str) -> Any:
    json_input(EmptySchema())
    record = connection_or_404(connection_id)
    found = connections.delete_connection(context.services().store, record.id)
    if found is None:  # deleted by someone else since it was read
        refuse(404, "not_found", f"No connection {connection_id}.")
    return jsonify({"deleted": {"id": found[0], "name": found[1]}})


def _refused(exc: ConnectionRefused) -> NoReturn:
    refuse(400, "refused", str(exc), errors=exc.errors)


def _current(record: ConnectionRecord) -> dict[str, Any]:
    """The connection as it is now (after the change), as GET /api/connections/<id> shows it."""
    return connection_json(connection_or_404(record.id), context.settings())
