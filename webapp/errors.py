"""Errors -> HTTP, in one place.

Every error answer is JSON with a message that says what is wrong.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from socialbridge.logs import get_logger
from store import StoreUnavailable

log = get_logger(__name__)


def error_body(error: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "message": message, **extra}


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = exc.code or 500
        if code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            message = f"Body is larger than the limit of {limit} bytes."
        else:
            message = exc.description or exc.name
        log.info("http.error", status=code, path=request.path)
        return jsonify(error_body(exc.name.lower().replace(" ", "_"), message)), code

    @app.errorhandler(StoreUnavailable)
    def _store(exc: StoreUnavailable) -> Any:
        log.error("store.unavailable", path=request.path, error=str(exc))
        return jsonify(
            error_body("unavailable", "The event store is unavailable; retry later.")
        ), 503
