"""The analytics pages: engagement trends and tag usage per connection, and a tag's segment
with its CSV. Read-only, for viewers and admins alike.

The views only look the connection up and hand the query to `console.analytics_pages`, which
calls the `analytics` functions (as the API and the CLI do); the charts are server-made SVG,
inlined in the page with their tables.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from analytics.export import segment_csv, segment_filename
from analytics.tags import tag_segment
from console import analytics_pages
from store import ConnectionRecord
from webapp import context

bp = Blueprint("analytics", __name__)


@bp.get("/analytics")
def index() -> str:
    return render_template(
        "analytics_index.html", connections=context.services().store.list_connections()
    )


@bp.get("/connections/<connection_id>/analytics")
def trends(connection_id: str) -> Any:
    connection = _connection(connection_id)
    page = analytics_pages.trend_page(context.services().store, connection.id, request.args)
    html = render_template("analytics_trends.html", connection=connection, page=page)
    return html, 400 if page.error else 200


@bp.get("/connections/<connection_id>/tags")
def tags(connection_id: str) -> Any:
    connection = _connection(connection_id)
    page = analytics_pages.tags_page(context.services().store, connection.id, request.args)
    html = render_template("analytics_tags.html", connection=connection, page=page)
    return html, 400 if page.error else 200


@bp.get("/connections/<connection_id>/tags/<tag_id>")
def segment(connection_id: str, tag_id: str) -> str:
    connection = _connection(connection_id)
    page = analytics_pages.segment_page(context.services().store, connection.id, tag_id)
    return render_template("analytics_segment.html", connection=connection, page=page)


@bp.get("/connections/<connection_id>/tags/<tag_id>/segment.csv")
def segment_download(connection_id: str, tag_id: str) -> Response:
    connection = _connection(connection_id)
    found = tag_segment(context.services().store, connection.id, tag_id)
    return Response(
        segment_csv(found),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{segment_filename(found)}"'},
    )


def _connection(connection_id: str) -> ConnectionRecord:
    found = context.services().store.get_connection(connection_id)
    if found is None:
        abort(404, description=f"No connection {connection_id}.")
    return found
