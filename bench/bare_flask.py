"""The bare Flask app `bench.receiver` measures the receiver against.

    gunicorn … 'bench.bare_flask:create_app()'

One view on the receiver's path that reads the body and answers 202 with a JSON body of the
same shape, and nothing else: no store, no queue, no extensions, no logging. What gunicorn
and Flask cost per request, so that the receiver's own work is the difference.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks/crm/<connection_id>")
    def receive(connection_id: str) -> Any:
        request.get_data()
        return jsonify({"event_id": "evt_" + "0" * 24, "status": "queued"}), 202

    return app
