"""What the JSON API's write endpoints share: reading a JSON body with its schema, the
connection a route names, and JSON refusals that carry more than a message.

Every refusal is ``{"error": …, "message": …}`` (`webapp.errors.error_body`), with extra
fields where they help a script: ``errors`` by field for a body or a connection refused,
``problems`` at their lines for a mapping.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import abort, jsonify, request

from schemas.api import ApiBodyInvalid, load_api_body
from schemas.base import StrictSchema
from store import ConnectionRecord
from webapp import context
from webapp.errors import error_body


def refuse(status: int, error: str, message: str, **extra: Any) -> NoReturn:
    """Answer now with ``status`` and the JSON error (its extra fields too)."""
    response = jsonify(error_body(error, message, **extra))
    response.status_code = status
    abort(response)


def json_input(schema: StrictSchema) -> dict[str, Any]:
    """The request's JSON body loaded by ``schema`` (no body: an empty object); 400 naming
    each refused field otherwise."""
    body: Any = None
    if request.get_data(cache=True):
        body = request.get_json(silent=True)
        if body is None:
            refuse(
                400, "invalid_body", "The body is not JSON (send Content-Type: application/json)."
            )
    try:
        return load_api_body(schema, body)
    except ApiBodyInvalid as exc:
        refuse(400, "invalid_body", str(exc), errors=exc.errors)


def connection_or_404(connection_id: str) -> ConnectionRecord:
    """The connection the route names; 404 when there is none."""
    record = context.services().store.get_connection(connection_id)
    if record is None:
        abort(404, description=f"No connection {connection_id}.")
    return record
