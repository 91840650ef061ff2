"""Injected latency: every answer of a sandbox's own API delayed by the same number of ms.

    latency = Latency(100)
    add_latency_routes(app, latency)   # GET / POST /_sandbox/latency {"latency_ms": N}
    ...
    latency.wait()                     # in the sandbox's after_request, for its API answers

A real GHL answers in 100-300 ms and a real CRM in tens of ms; the sandboxes on 127.0.0.1
answer in about one. Benchmarks set a latency so that a worker waits on the network as it would
in production. The wait is a plain `time.sleep` in the request's own thread: the sandboxes run
on werkzeug's threaded server (one thread per connection), so a delayed answer holds back no
other request. Unlike a fault (`/_sandbox/faults`), the latency is never used up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, request

MAX_LATENCY_MS = 60_000
LATENCY_PATH = "/_sandbox/latency"


class LatencyError(ValueError):
    """A latency that cannot be used; the message says why."""


def check_latency_ms(value: Any) -> int:
    """`value` as a latency in ms (an integer from 0 to `MAX_LATENCY_MS`), or LatencyError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LatencyError(f"latency_ms: expected an integer from 0 to {MAX_LATENCY_MS}")
    if not 0 <= value <= MAX_LATENCY_MS:
        raise LatencyError(f"latency_ms: expected an integer from 0 to {MAX_LATENCY_MS}")
    return value


class Latency:
    """The delay of every answer, in ms; changed at run time from any thread."""

    def __init__(self, ms: int = 0, *, sleep: Callable[[float], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._ms = check_latency_ms(ms)
        self._sleep = sleep  # None: time.sleep, looked up at each wait

    @property
    def ms(self) -> int:
        with self._lock:
            return self._ms

    def set(self, ms: Any) -> None:
        """Use `ms` from the next answer on (LatencyError if it is not a latency)."""
        checked = check_latency_ms(ms)
        with self._lock:
            self._ms = checked

    def wait(self) -> None:
        """Sleep the current latency (nothing when it is 0)."""
        ms = self.ms
        if ms:
            (self._sleep or time.sleep)(ms / 1000)


def add_latency_routes(app: Flask, latency: Latency) -> None:
    """`GET /_sandbox/latency` (the current one) and `POST /_sandbox/latency {"latency_ms"}`."""

    def show() -> Response:
        return jsonify({"latency_ms": latency.ms})

    def change() -> Response | tuple[Response, int]:
        data = request.get_json(silent=True)
        value = data.get("latency_ms") if isinstance(data, dict) else None
        try:
            latency.set(value)
        except LatencyError as error:
            return jsonify({"error": str(error)}), HTTPStatus.BAD_REQUEST
        return jsonify({"latency_ms": latency.ms})

    app.add_url_rule(LATENCY_PATH, endpoint="get_sandbox_latency", view_func=show, methods=["GET"])
    app.add_url_rule(
        LATENCY_PATH, endpoint="post_sandbox_latency", view_func=change, methods=["POST"]
    )
