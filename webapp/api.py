"""The console's data as JSON: `/api/overview`, `/api/events`, `/api/connections`, the
replays (`POST /api/events/<id>/replay`, `POST /api/connections/<id>/replay-dead`) and the
retries now (`POST /api/events/<id>/retry-now`, `POST /api/connections/<id>/retry-now`).

The same sign-in as the pages, or a user's API token (without either: 401 JSON,
`webapp.auth`); a viewer may read all of it, a replay or a retry now needs an admin (403).
Each view calls the service function its page calls (`console.overview`, `console.events`,
`console.replay`) and answers with `console.payloads`' JSON of the result: a bad parameter
gets 400 with a message naming it, an unknown id 404. The analytics are in
`webapp.analytics_api`, the connection changes in `webapp.api_connections`, the mappings in
`webapp.api_mappings`.
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
    replayed_json,
)
from console.replay import (
    NotEnqueued,
    NotFinished,
    NotRetrying,
    RetryNotSent,
    replay_dead,
    replay_event,
    retry_all_now,
    retry_now,
)
from schemas.api import EmptySchema
from webapp import context
from webapp.api_common import connection_or_404, json_input, refuse
from webapp.auth import admin_required

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


@bp.post("/events/<event_id>/replay")
@admin_required
def replay(event_id: str) -> Any:
    json_input(EmptySchema())
    store = context.services().store
    found = store.get_event(event_id)
    if found is None:
        abort(404, description=f"No event {event_id}.")
    try:
        done = replay_event(store, context.celery(), found)
    except NotFinished as exc:
        refuse(409, "not_finished", str(exc), event_status=exc.event.status)
    except NotEnqueued as exc:
        refuse(503, "not_enqueued", str(exc))
    return jsonify(replayed_json(done))


@bp.post("/connections/<connection_id>/replay-dead")
@admin_required
def replay_dead_of(connection_id: str) -> Any:
    json_input(EmptySchema())
    record = connection_or_404(connection_id)
    try:
        replayed = replay_dead(context.services().store, context.celery(), record.id)
    except NotEnqueued as exc:
        # The ones before it are queued; it and the rest are still dead: replaying again
        # takes exactly those.
        refuse(503, "not_enqueued", str(exc))
    return jsonify(
        {
            "connection_id": record.id,
            "replayed": [replayed_json(done) for done in replayed],
        }
    )


@bp.post("/events/<event_id>/retry-now")
@admin_required
def retry_now_view(event_id: str) -> Any:
    json_input(EmptySchema())
    store = context.services().store
    found = store.get_event(event_id)
    if found is None:
        abort(404, description=f"No event {event_id}.")
    try:
        sent = retry_now(store, context.celery(), found)
    except NotRetrying as exc:
        refuse(409, "not_retrying", str(exc), event_status=exc.event.status)
    except RetryNotSent as exc:
        # Queued without a message: the recovery sweep sends it, so trying again is not needed.
        refuse(503, "not_sent", str(exc))
    return jsonify(replayed_json(sent))


@bp.post("/connections/<connection_id>/retry-now")
@admin_required
def retry_now_of(connection_id: str) -> Any:
    json_input(EmptySchema())
    record = connection_or_404(connection_id)
    try:
        sent = retry_all_now(context.services().store, context.celery(), record.id)
    except RetryNotSent as exc:
        # The ones before it are sent, it is queued for the sweep, the rest still retrying:
        # retrying now again takes exactly those.
        refuse(503, "not_sent", str(exc))
    return jsonify(
        {
            "connection_id": record.id,
            "sent": [replayed_json(done) for done in sent],
        }
    )
