"""The sandbox SmartOffice XML Engine (SmartIntegrator): a real HTTP server of the vendor's API.

    POST   /xml                         the XML Engine: a request document in, an answer out
    GET    /_sandbox/health             {"status": "ok"}
    POST   /_sandbox/accounts           add or replace an account (`state.AccountSchema`)
    GET    /_sandbox/accounts           the accounts, without passwords or api-secrets
    GET    /_sandbox/contacts           every contact, children included
    GET    /_sandbox/smartpads[?contact_id=Contact.1.31]   SmartPads, oldest first
    GET    /_sandbox/requests           the requests received, the latest 5000: who, how they
                                        logged in, what ran, the answer's error codes (never
                                        a password or an api-secret)
    DELETE /_sandbox/state              back to the seed: SmartPads, added contacts, contact
                                        changes, requests, sessions and faults go; accounts stay
    POST   /_sandbox/faults             queue a fault (`sandbox.smartoffice.faults`)
    GET|DELETE /_sandbox/faults         the pending faults; clear them
    GET    /                            an HTML page: each contact's SmartPads, newest first

``POST /xml`` takes any Content-Type: the body is the document. It is parsed with defusedxml
(a DTD or an entity is refused as 1001, never expanded). The engine always answers HTTP 200
with ``<response version="1.0">``: errors are in the body, as the vendor's are, and the
sandbox never uses an HTTP status for them (a body over 4 MiB included: 1001). Only an
injected fault changes that: ``status`` answers an HTML page with that HTTP status (a broken
gateway), and ``drop_answer`` runs and commits the request, then closes the connection
without a byte of answer, which httpx reports as ``RemoteProtocolError`` ("Server
disconnected without sending a response"); where the server offers no socket to close
(Flask's test client), the dropped answer is an HTTP 502 with an empty body instead.

Top-level errors abort the request: 1001 for a body that is not XML, is not a ``<request>``
document, or whose ``<header>`` is not the first child of ``<request>`` (the vendor does not
name that code); 2001 when ``version`` is missing or not ``1.0``; 2002 for a failed login
(`sandbox.smartoffice.auth`). They are shaped as the vendor's example: a closed session and
the error, without ``_status`` or ``_systime``. Any other answer ends with ``<_status>``
(``error`` when any ``<error>`` is in it), ``<_systime>`` (server time, UTC-08:00, no zone)
and a cost comment; its header holds ``<sessionClosed/>`` unless the request kept its
session. User attributes of ``request``, ``header``, ``transaction`` and the operations come
back on the same elements.

With a data folder (``python -m sandbox smartoffice --data-dir DIR``) the objects and the
accounts added at run time survive a restart (`sandbox.smartoffice.state`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from sandbox.smartoffice.auth import LoginRefused, claimed_identity, log_in
from sandbox.smartoffice.catalogue import CATALOGUE, Kind, Record, format_systime, read_value
from sandbox.smartoffice.engine import Engine
from sandbox.smartoffice.faults import load_fault
from sandbox.smartoffice.state import SmartOfficeState, load_account
from sandbox.smartoffice.store import Workspace
from sandbox.smartoffice.xmlio import (
    CONTENT_TYPE,
    XmlRefused,
    error_codes,
    finish,
    new_answer,
    parse_document,
    serialize,
    top_level_error,
    user_attributes,
)
from schemas.events import flatten_errors
from socialbridge.logs import get_logger

log = get_logger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
XML_PATH = "/xml"


def create_sandbox_smartoffice_app(data_dir: Path | None = None) -> Flask:
    """The sandbox XML Engine; with `data_dir`, its objects and added accounts are kept in
    ``data_dir/sandbox-smartoffice.jsonl`` and read back when started again."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    state = SmartOfficeState(None if data_dir is None else Path(data_dir))
    app.extensions["sandbox_smartoffice"] = state

    @app.post(XML_PATH)
    def xml_engine() -> Response:
        fault = state.faults.take()
        if fault is not None and fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)
        entry: dict[str, Any] = {
            "received_at": _utc_now(),
            "fault": None if fault is None else fault.as_json(),
        }
        if fault is not None and fault.status is not None:
            _log(state, entry, None, f"http {fault.status}")
            return _broken_gateway(fault.status)
        if fault is not None and fault.code is not None:
            answer = top_level_error(fault.code, fault.error_message)
        else:
            answer = _execute(state, entry)
        if fault is not None and fault.drop_answer:
            _log(state, entry, answer, "dropped")
            return _drop_connection()
        _log(state, entry, answer, "sent")
        return Response(serialize(answer), status=200, content_type=CONTENT_TYPE)

    @app.get("/_sandbox/health")
    def health() -> Response:
        return jsonify(status="ok")

    @app.post("/_sandbox/accounts")
    def add_account() -> tuple[Response, int]:
        try:
            account = load_account(request.get_json(silent=True))
        except ValidationError as exc:
            return jsonify(errors=flatten_errors(exc.messages)), 422
        with state.lock:
            replaced = state.add_account(account)
        return jsonify(account.public_json()), 200 if replaced else 201

    @app.get("/_sandbox/accounts")
    def list_accounts() -> Response:
        with state.lock:
            accounts = sorted(state.accounts.values(), key=lambda a: a.key)
        return jsonify([account.public_json() for account in accounts])

    @app.get("/_sandbox/contacts")
    def list_contacts() -> Response:
        with state.lock:
            reader = Workspace(state.store)
            return jsonify([_as_json(r, reader) for r in state.store.of_type("Contact")])

    @app.get("/_sandbox/smartpads")
    def list_smartpads() -> Response:
        contact_id = request.args.get("contact_id")
        with state.lock:
            pads = state.store.of_type("SmartPad")
            reader = Workspace(state.store)
            return jsonify(
                [
                    _as_json(pad, reader)
                    for pad in pads
                    if contact_id is None or pad.get("ContactID") == contact_id
                ]
            )

    @app.get("/_sandbox/requests")
    def list_requests() -> Response:
        with state.lock:
            return jsonify(list(state.requests))

    @app.delete("/_sandbox/state")
    def reset() -> Response:
        with state.lock:
            state.reset()
        return jsonify(status="reset")

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

    @app.get("/")
    def index() -> str:
        with state.lock:
            contacts = state.store.of_type("Contact")
            pads = list(reversed(state.store.of_type("SmartPad")))
        shown = [
            {
                **c,
                "FullName": read_value(c, CATALOGUE["Contact"].properties["FullName"]),
                "smartpads": [p for p in pads if p.get("ContactID") == c["id"]],
            }
            for c in contacts
        ]
        return render_template("sandbox_smartoffice.html", contacts=shown, total=len(pads))

    return app


def _execute(state: SmartOfficeState, entry: dict[str, Any]) -> ET.Element:
    """Read, check and run the posted document; the answer to send (never raises)."""
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return top_level_error(1001, f"Request document over {MAX_BODY_BYTES} bytes.")
    try:
        root = parse_document(body)
    except XmlRefused as exc:
        return top_level_error(1001, str(exc))
    if root.tag != "request":
        return top_level_error(1001, f"The document element must be <request>, not <{root.tag}>.")
    attributes = user_attributes(root)
    if root.get("version") != "1.0":
        return top_level_error(2001, 'Version mismatch: send version="1.0".', attributes)
    if not len(root) or root[0].tag != "header":
        message = "<header> must be the first element of <request>."
        return top_level_error(1001, message, attributes)
    header = root[0]
    http_headers = {name.lower(): value for name, value in request.headers.items()}
    entry.update(claimed_identity(header, http_headers))
    started = time.monotonic()
    with state.lock:
        try:
            login = log_in(header, http_headers, state.accounts)
        except LoginRefused as exc:
            answer = top_level_error(exc.code, exc.message, attributes)
            answer[0].attrib.update(user_attributes(header))
            return answer
        entry.update(auth=login.mode, keep_session=login.keep_session, api_key=login.api_key)
        now = state.now()
        answer = new_answer(attributes)
        answer_header = ET.SubElement(answer, "header", user_attributes(header))
        if not login.keep_session:
            ET.SubElement(answer_header, "sessionClosed")
        engine = Engine(state, login.account.key, login.keep_session, now)
        try:
            engine.run(root, answer)
        except Exception:  # a sandbox bug: answered as the engine's internal error
            log.error("sandbox_smartoffice.internal_error", exc_info=True)
            return top_level_error(1, "Internal error.", attributes)
        finally:
            entry["operations"] = engine.summary
            if not login.keep_session:
                state.sessions.close(login.account.key)
    cost_ms = int((time.monotonic() - started) * 1000)
    finish(answer, ok=not error_codes(answer), systime=format_systime(now), cost_ms=cost_ms)
    return answer


def _log(
    state: SmartOfficeState, entry: dict[str, Any], answer: ET.Element | None, delivery: str
) -> None:
    codes = [] if answer is None else error_codes(answer)
    entry.setdefault("auth", None)
    entry.setdefault("operations", [])
    entry.update(codes=codes, status="error" if codes or answer is None else "OK", answer=delivery)
    with state.lock:
        state.log_request(entry)
    log.info(
        "sandbox_smartoffice.request",
        auth=entry["auth"],
        codes=codes,
        answer=delivery,
        operations=[o["operation"] for o in entry["operations"]],
    )


def _broken_gateway(status: int) -> Response:
    reason = HTTP_STATUS_CODES.get(status, "Error")
    page = (
        f"<!doctype html><html><head><title>{status} {reason}</title></head>"
        f"<body><h1>{status} {reason}</h1><p>The gateway could not reach the XML Engine.</p>"
        "</body></html>"
    )
    return Response(page, status=status, content_type="text/html; charset=utf-8")


def _drop_connection() -> Response:
    """Close the client's connection without answering; an empty 502 where there is none."""
    connection = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    if isinstance(connection, socket.socket):
        # Both ways: the client reads end-of-stream before any status line, and the server's
        # own attempt to write the answer below fails quietly as a dropped connection.
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    return Response(b"", status=502)


def _as_json(record: Record, reader: Workspace) -> dict[str, Any]:
    """An object with its simple properties, and its children nested (for the JSON views)."""
    type_ = CATALOGUE[record["_type"]]
    shown: dict[str, Any] = {"id": record["id"]}
    for prop in type_.properties.values():
        if prop.kind.is_simple:
            shown[prop.name] = read_value(record, prop)
        elif prop.kind is Kind.CHILD:
            child = reader.get(record[prop.name]) if record.get(prop.name) else None
            shown[prop.name] = None if child is None else _as_json(child, reader)
        else:
            items = (reader.get(i) for i in record.get(prop.name) or [])
            shown[prop.name] = [_as_json(item, reader) for item in items if item is not None]
    return shown


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
