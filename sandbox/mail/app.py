"""The HTTP side of the sandbox mail server: what it took, as a page and as JSON.

    GET    /                       an HTML page of the messages, newest first
    GET    /messages[?to=ADDRESS]  the messages as JSON, oldest first (`sandbox.mail.messages`
                                   says each field); with ``to``, only those whose envelope,
                                   To or Cc holds that address (any case)
    GET    /messages/<id>          one message; 404 when there is none
    GET    /_sandbox/health        {"status": "ok"}
    DELETE /_sandbox/messages      forget every message: {"deleted": n}
    POST   /_sandbox/faults        queue a fault (`sandbox.mail.faults`): 201 {"faults": [...]}
    GET|DELETE /_sandbox/faults    the pending faults; clear them

Bodies are shown as text: the page escapes everything it shows (Jinja's autoescape), so a
message cannot put markup on it.
"""

from __future__ import annotations

from flask import Flask, Response, abort, jsonify, render_template, request
from marshmallow import ValidationError

from sandbox.mail.faults import load_fault
from sandbox.mail.state import MailState
from schemas.events import flatten_errors


def create_sandbox_mail_app(state: MailState) -> Flask:
    """The HTTP app over `state`, which the SMTP server fills."""
    app = Flask(__name__)
    app.extensions["sandbox_mail"] = state

    @app.get("/")
    def index() -> str:
        messages = list(reversed(state.messages()))
        return render_template("sandbox_mail.html", messages=messages)

    @app.get("/messages")
    def list_messages() -> Response:
        to = request.args.get("to") or None
        return jsonify(state.messages(to=to))

    @app.get("/messages/<int:number>")
    def one_message(number: int) -> Response:
        message = state.message(number)
        if message is None:
            abort(404)
        return jsonify(message)

    @app.get("/_sandbox/health")
    def health() -> Response:
        return jsonify(status="ok")

    @app.delete("/_sandbox/messages")
    def delete_messages() -> Response:
        return jsonify(deleted=state.delete_messages())

    @app.post("/_sandbox/faults")
    def add_fault() -> tuple[Response, int]:
        try:
            fault = load_fault(request.get_json(silent=True))
        except ValidationError as exc:
            return jsonify(errors=flatten_errors(exc.messages)), 422
        pending = state.faults.add(fault)
        return jsonify(faults=[f.as_json() for f in pending]), 201

    @app.get("/_sandbox/faults")
    def list_faults() -> Response:
        return jsonify(faults=[f.as_json() for f in state.faults.pending()])

    @app.delete("/_sandbox/faults")
    def clear_faults() -> Response:
        state.faults.clear()
        return jsonify(faults=[])

    return app
