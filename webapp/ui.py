"""A read-only overview page: connections, recent events and their statuses."""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp import context

bp = Blueprint("ui", __name__)


@bp.get("/")
def index() -> str:
    store = context.services().store
    settings = context.settings()
    return render_template(
        "index.html",
        base_url=settings.base_url,
        connections=store.list_connections(),
        events=store.list_events(limit=30),
        counts=store.count_events_by_status(),
    )
