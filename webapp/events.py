"""The events pages: the filtered list (`/events`), one event (`/events/<id>`), and for admins
the replays (one event, or every dead event of a connection) and "retry now" (one retrying
event, or every retrying event of a connection).

The views hand the query string and the ids to `console.events` and `console.replay`, as
`socialbridge events` does, and render what comes back.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from console import access
from console.events import STATUSES, event_detail, event_page, read_filter
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
from schemas.events import EVENT_TYPES
from webapp import context
from webapp.auth import admin_required, signed_in_user

bp = Blueprint("events", __name__)


@bp.get("/events")
def index() -> str:
    store = context.services().store
    connections = store.list_connections()
    form = read_filter(request.args, connections)
    page = event_page(store, form)
    # The filter without the cursor: the "newest" link, and the base of the "older" one.
    filters = {key: value for key, value in form.values.items() if value}
    return render_template(
        "events.html",
        form=form,
        page=page,
        filters=filters,
        connections=connections,
        types=EVENT_TYPES,
        statuses=STATUSES,
        paged=form.after is not None,
        may_change=access.may_change(signed_in_user()),
    )


@bp.get("/events/<event_id>")
def show(event_id: str) -> str:
    detail = event_detail(context.services().store, event_id)
    if detail is None:
        abort(404, description=f"No event {event_id}.")
    return render_template(
        "event.html", detail=detail, may_change=access.may_change(signed_in_user())
    )


@bp.post("/events/<event_id>/replay")
@admin_required
def replay(event_id: str) -> Any:
    store = context.services().store
    event = store.get_event(event_id)
    if event is None:
        abort(404, description=f"No event {event_id}.")
    try:
        done = replay_event(store, context.celery(), event)
    except (NotFinished, NotEnqueued) as exc:
        flash(str(exc))
    else:
        flash(f"Replayed: {done.status} again as task {done.task_id} (was {done.was}).")
    return redirect(url_for("events.show", event_id=event_id), 303)


@bp.post("/connections/<connection_id>/replay-dead")
@admin_required
def replay_dead_of(connection_id: str) -> Any:
    store = context.services().store
    connection = store.get_connection(connection_id)
    if connection is None:
        abort(404, description=f"No connection {connection_id}.")
    try:
        replayed = replay_dead(store, context.celery(), connection_id)
    except NotEnqueued as exc:
        flash(str(exc))
    else:
        flash(f"Replayed {len(replayed)} dead event(s) of {connection.name}.")
    return redirect(url_for("events.index", connection=connection_id), 303)


@bp.post("/events/<event_id>/retry-now", endpoint="retry_now")
@admin_required
def retry_now_view(event_id: str) -> Any:
    store = context.services().store
    event = store.get_event(event_id)
    if event is None:
        abort(404, description=f"No event {event_id}.")
    try:
        sent = retry_now(store, context.celery(), event)
    except (NotRetrying, RetryNotSent) as exc:
        flash(str(exc))
    else:
        flash(f"Sent now: {sent.status} as task {sent.task_id} (was {sent.was}).")
    return redirect(url_for("events.show", event_id=event_id), 303)


@bp.post("/connections/<connection_id>/retry-now")
@admin_required
def retry_now_of(connection_id: str) -> Any:
    store = context.services().store
    connection = store.get_connection(connection_id)
    if connection is None:
        abort(404, description=f"No connection {connection_id}.")
    try:
        sent = retry_all_now(store, context.celery(), connection_id)
    except RetryNotSent as exc:
        flash(str(exc))
    else:
        flash(f"Sent {len(sent)} retrying event(s) of {connection.name} now.")
    return redirect(url_for("events.index", connection=connection_id), 303)
