"""`POST /webhooks/crm/<connection_id>`: authenticate, parse, map, validate, record, enqueue.

Answers (the public contract, docs/webhooks.md):
    202 {"event_id", "status": "queued"}     recorded and enqueued
    200 {"event_id", "status": "duplicate"}  this delivery was accepted before; nothing runs
    400 the body could not be read           401 bad, missing or stale signature or token
    404 unknown connection                   413 body over WEBHOOK_MAX_BYTES
    415 signed, but not a JSON media type    422 {"errors": {"data.post_id": ["…"]}}
    503 could not record or enqueue: nothing was accepted, the CRM should retry

How the CRM authenticates, and what makes a delivery a repeat, is `webapp.inbound_auth`'s.
A connection with a mapping takes the CRM's own JSON and maps it to our event first
(`mappings.map_inbound`); a 422 then names the event field and the JSONPath it came from.

Every input is hostile until checked: the path's connection id and the headers are checked
for form before they reach the store (PostgreSQL raises on NUL in text), and the body is read
and decoded by `webapp.body`, which refuses what could crash the decoder. Only an outage of
the store or the queue is a 5xx.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, after_this_request, jsonify, request

from console.demo_events import Delivery
from schemas.events import dump_event
from socialbridge.inbound_auth import InboundAuth
from socialbridge.logs import bind, get_logger
from store import ConnectionRecord, NotFound
from store.events import NewEvent
from webapp import context
from webapp.body import BodyRefused, is_json_media_type, parse_json, read_body
from webapp.errors import error_body
from webapp.inbound_auth import authenticate, delivery_key, plain_ascii, refusal_code
from workers.dispatch import EnqueueError
from workers.intake import BodyInvalid, event_from_body

log = get_logger(__name__)
bp = Blueprint("webhooks", __name__)

# Our connection ids are `con_` and 16 hex digits; anything far off is not looked up at all.
MAX_CONNECTION_ID = 200
# How long a browser may keep a preflight's answer.
CORS_MAX_AGE_SECONDS = 600


# Its OPTIONS is `preflight`, not Flask's automatic answer.
@bp.post("/webhooks/crm/<connection_id>", provide_automatic_options=False)
def receive(connection_id: str) -> Any:
    received_at = dt.datetime.now(dt.UTC)
    connection = _connection(connection_id)
    if connection is None:
        return _unknown_connection(connection_id)
    if connection.inbound_auth == InboundAuth.TOKEN:
        after_this_request(_allow_any_origin)

    body = read_body(request, context.settings().webhook_max_bytes)
    return accept(connection, body, dict(request.headers), request.mimetype, received_at)


def deliver_in_process(
    connection: ConnectionRecord, body: bytes, headers: Mapping[str, str]
) -> Delivery:
    """A delivery made inside this process (the console's test event) through `accept`, the
    path every CRM's POST takes once its connection is found: nothing is sent over HTTP."""
    received_at = dt.datetime.now(dt.UTC)
    mimetype = headers.get("content-type", "").partition(";")[0].strip().lower()
    response, status = accept(connection, body, dict(headers), mimetype, received_at)
    return Delivery(status, response.get_json())


def accept(
    connection: ConnectionRecord,
    body: bytes,
    headers: dict[str, str],
    mimetype: str,
    received_at: dt.datetime,
) -> tuple[Response, int]:
    """Authenticate, parse, map, validate, record and enqueue one delivery; the answer."""
    webhook_id = _header(headers, "webhook-id")
    shown_id = webhook_id if plain_ascii(webhook_id) else f"{webhook_id!a}"
    with bind(connection_id=connection.id, webhook_id=shown_id, auth=connection.inbound_auth):
        failure = authenticate(connection, body, headers)
        if failure is not None:
            log.info("webhook.rejected", reason=failure)
            return jsonify(error_body(refusal_code(connection), failure)), 401

        # After authentication, so that an unauthenticated request learns nothing but 401.
        if not is_json_media_type(mimetype):
            return _unsupported_media_type(_header(headers, "content-type") or None)

        try:
            intake = event_from_body(connection, parse_json(body), received_at=received_at)
        except (BodyRefused, BodyInvalid) as exc:
            return _invalid(exc.errors)
        event = intake.event

        new = NewEvent(
            connection_id=connection.id,
            type=event.type,
            payload=dump_event(event),
            webhook_id=delivery_key(connection, body, headers, intake.delivery_id),
        )
        try:
            # Recorded and enqueued together with the webhooks this process is taking at the
            # same moment: one commit and one Redis round trip for all (webapp/group_commit.py).
            accepted = context.group_commit().accept(new)
        except NotFound:
            # Removed by another process while this one still had it cached.
            context.services().store.connection_cache.drop(connection.id)
            return _unknown_connection(connection.id)
        except EnqueueError as exc:
            # Nothing half-accepted: the event was removed again, so the CRM's retry is a
            # first delivery.
            log.error("webhook.enqueue_failed", error=str(exc))
            return jsonify(error_body("unavailable", "The queue is unavailable; retry later.")), 503
        record = accepted.event
        if not accepted.created:
            log.info("webhook.duplicate", event_id=record.id)
            return jsonify({"event_id": record.id, "status": "duplicate"}), 200
        log.info(
            "webhook.accepted", event_id=record.id, event_type=event.type, task_id=accepted.task_id
        )
        return jsonify({"event_id": record.id, "status": "queued"}), 202


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header's value whatever the case of its name (request headers come capitalised)."""
    return next((value for key, value in headers.items() if key.lower() == name), "")


@bp.route("/webhooks/crm/<connection_id>", methods=["OPTIONS"])
def preflight(connection_id: str) -> Any:
    """A browser's CORS preflight: allowed for token connections only (see `_allow_any_origin`)."""
    connection = _connection(connection_id)
    if connection is None:
        return _unknown_connection(connection_id)
    response = Response(status=204)
    response.headers["Allow"] = "POST, OPTIONS"
    if connection.inbound_auth == InboundAuth.TOKEN:
        _allow_any_origin(response)
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "authorization, content-type"
        response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_SECONDS)
    return response


def _allow_any_origin(response: Response) -> Response:
    """Let a page of any origin POST to a token connection and read the answer.

    Safe because the credential is the Bearer token, which a browser never adds by itself
    (no cookies, no ambient authority): a page can do nothing a script on a server could
    not. It is what lets a bookmarklet on the CRM's own page send an event. Signature
    connections get no CORS headers: their CRMs are servers.
    """
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _connection(connection_id: str) -> ConnectionRecord | None:
    # Only a plain id is sent to the database; no connection has any other.
    if plain_ascii(connection_id) and len(connection_id) <= MAX_CONNECTION_ID:
        # Cached for a few seconds: reading and decrypting it was a fifth of a webhook's
        # time (store/connection_cache.py says how fresh it stays).
        return context.services().store.cached_connection(connection_id)
    return None


def _unknown_connection(connection_id: str) -> tuple[Response, int]:
    # !a: the path may hold control or non-ASCII characters; show them escaped.
    shown = f"{connection_id!a}"
    log.info("webhook.rejected", reason="unknown connection", connection_id=shown)
    return jsonify(error_body("not_found", f"No connection {shown}.")), 404


def _unsupported_media_type(content_type: str | None) -> tuple[Response, int]:
    given = f"Content-Type {content_type!a}" if content_type else "no Content-Type"
    message = (
        "The body must be JSON, sent as Content-Type application/json "
        f"(or application/*+json); this request has {given}."
    )
    log.info("webhook.rejected", reason="unsupported media type", content_type=given)
    return jsonify(error_body("unsupported_media_type", message)), 415


def _invalid(errors: dict[str, list[str]]) -> tuple[Response, int]:
    log.info("webhook.rejected", reason="invalid body", errors=errors)
    return jsonify({"errors": errors}), 422
