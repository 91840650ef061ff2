"""The analytics as JSON: `/api/connections/<id>/…`, behind the same sign-in as the pages.

Each route reads its parameters with `console.analytics_params` (a bad one: 400 with a message
naming it) and answers with the `analytics` functions' results (`analytics.payloads`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, jsonify, request

from analytics.payloads import segment_json, tag_usage_json, top_tags_json, trend_json
from analytics.tags import tag_segment, tag_usage, top_tags
from analytics.trends import engagement_trend, trend_platforms
from console.analytics_params import (
    USAGE_TOP,
    ParameterError,
    segment_limit,
    tags_query,
    trend_query,
)
from store import Store
from webapp import context

T = TypeVar("T")

bp = Blueprint("analytics_api", __name__, url_prefix="/api/connections/<connection_id>")


@bp.get("/trends")
def trends(connection_id: str) -> Any:
    store = _store_for(connection_id)
    query = _checked(lambda: trend_query(request.args, trend_platforms(store, connection_id)))
    trend = engagement_trend(
        store,
        connection_id,
        metric=query.metric,
        period=query.period,
        platform=query.platform,
        bucket_size=query.bucket,
    )
    return jsonify(trend_json(trend))


@bp.get("/tags/top")
def tags_top(connection_id: str) -> Any:
    store = _store_for(connection_id)
    query = _checked(lambda: tags_query(request.args))
    found = top_tags(store, connection_id, period=query.period, limit=query.limit)
    return jsonify(top_tags_json(connection_id, query.period, found))


@bp.get("/tags/usage")
def tags_usage(connection_id: str) -> Any:
    store = _store_for(connection_id)
    query = _checked(lambda: tags_query(request.args, default_limit=USAGE_TOP))
    usage = tag_usage(
        store, connection_id, period=query.period, bucket_size=query.bucket, top=query.limit
    )
    return jsonify(tag_usage_json(usage))


@bp.get("/tags/<tag_id>/posts")
def tag_posts(connection_id: str, tag_id: str) -> Any:
    store = _store_for(connection_id)
    limit = _checked(lambda: segment_limit(request.args))
    return jsonify(segment_json(tag_segment(store, connection_id, tag_id, limit=limit)))


def _store_for(connection_id: str) -> Store:
    store = context.services().store
    if store.get_connection(connection_id) is None:
        abort(404, description=f"No connection {connection_id}.")
    return store


def _checked(read: Callable[[], T]) -> T:
    try:
        return read()
    except ParameterError as exc:
        abort(400, description=str(exc))
