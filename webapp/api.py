"""The console's data as JSON: `/api/overview`, `/api/events`, `/api/connections`, read only.

The same sign-in as the pages (without one: 401 JSON, `webapp.auth`); a viewer may read all
of it. Each view calls the service function its page calls (`console.overview`,
`console.events`) and answers with `console.payloads`' JSON of the result: a bad parameter
gets 400 with a message naming it, an unknown id 404. The analytics are in
`webapp.analytics_api`, under `/api/connections/<id>/…`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from console.analytics_params import ParameterError
from console.events import event_detail, event_page
from console.overview import build_overview
from console.payloads import (
    connection_json,
    connection_summary_json,
    event_detail_json,
    event_page_json,
    overview_json,
    read_api_filter,
)
from webapp import context

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/overview")
def overview() -> Any:
    services = context.services()
    found = build_overview(services.store, services.redis, services.ghl_limiter)
    return jsonify(overview_json(found))


@bp.get("/events")
def events() -> Any:
    store = context.services().store
    try:
        form = read_api_filter(request.args, store.list_connections())
    except ParameterError as exc:
        abort(400, description=str(exc))
    return jsonify(event_page_json(event_page(store, form)))


@bp.get("/events/<event_id>")
def event(event_id: str) -> Any:
    detail = event_detail(context.services().store, event_id)
    if detail is None:
        abort(404, description=f"No event {event_id}.")
    return jsonify(event_detail_json(detail))


@bp.get("/connections")
def connections() -> Any:
    found = context.services().store.list_connections()
    return jsonify({"connections": [connection_summary_json(record) for record in found]})


@bp.get("/connections/<connection_id>")
def connection(connection_id: str) -> Any:
    record = context.services().store.get_connection(connection_id)
    if record is None:
        abort(404, description=f"No connection {connection_id}.")
    return jsonify(connection_json(record, context.settings()))
