"""Liveness and readiness for load balancers (`/metrics` is webapp/metrics.py)."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, jsonify

from store.migrate import current_revision, head_revision
from webapp import context

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """The process can do its work: the store and the broker answer."""
    checks: dict[str, str] = {}
    try:
        revision = current_revision(context.settings().database_url)
        if revision == head_revision():
            checks["database"] = "ok"
        else:
            # Tables of an older release fail on the first query that needs a new column.
            checks["database"] = (
                f"schema at {revision}, expected {head_revision()}: run socialbridge db upgrade"
            )
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        client = redis.Redis.from_url(context.settings().redis_url, socket_connect_timeout=2)
        client.ping()
        client.close()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (
        200 if ready else 503
    )
