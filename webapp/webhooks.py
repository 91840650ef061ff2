"""`POST /webhooks/crm/<connection_id>`: authenticate, parse, validate, record, enqueue, answer.

Answers (the public contract, docs/webhooks.md):
    202 {"event_id", "status": "queued"}     recorded and enqueued
    200 {"event_id", "status": "duplicate"}  this webhook-id was accepted before; nothing runs
    400 the body could not be read           401 bad, missing or stale signature
    404 unknown connection                   413 body over WEBHOOK_MAX_BYTES
    415 signed, but not a JSON media type    422 {"errors": {"data.post_id": ["…"]}}
    503 could not record or enqueue: nothing was accepted, the CRM should retry

Every input is hostile until checked: the path's connection id and the headers are checked
for form before they reach the store (PostgreSQL raises on NUL in text), and the body is read
and decoded by `webapp.body`, which refuses what could crash the decoder. Only an outage of
the store or the queue is a 5xx.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from marshmallow import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from schemas.events import dump_event, flatten_errors, load_event
from socialbridge.logs import bind, get_logger
from store import ConnectionRecord
from webapp import context
from webapp.body import BodyRefused, is_json_media_type, parse_json, read_body
from webapp.errors import error_body
from workers.dispatch import EnqueueError, enqueue_event

log = get_logger(__name__)
bp = Blueprint("webhooks", __name__)

# The event log keeps webhook-ids in a 255-character column; Standard Webhooks ids are short.
MAX_WEBHOOK_ID = 255
# Our connection ids are `con_` and 16 hex digits; anything far off is not looked up at all.
MAX_CONNECTION_ID = 200
# Seconds since the epoch have 10 digits until the year 2286.
MAX_TIMESTAMP_DIGITS = 20


@bp.post("/webhooks/crm/<connection_id>")
def receive(connection_id: str) -> Any:
    store = context.services().store
    connection = None
    # Only a plain id is sent to the database; no connection has any other.
    if _plain_ascii(connection_id) and len(connection_id) <= MAX_CONNECTION_ID:
        connection = store.get_connection(connection_id)
    if connection is None:
        # !a: the path may hold control or non-ASCII characters; show them escaped.
        shown = f"{connection_id!a}"
        log.info("webhook.rejected", reason="unknown connection", connection_id=shown)
        return jsonify(error_body("not_found", f"No connection {shown}.")), 404

    body = read_body(request, context.settings().webhook_max_bytes)
    webhook_id = request.headers.get("webhook-id", "")
    shown_id = webhook_id if _plain_ascii(webhook_id) else f"{webhook_id!a}"
    with bind(connection_id=connection.id, webhook_id=shown_id):
        failure = _verify(connection, body, dict(request.headers))
        if failure is not None:
            log.info("webhook.rejected", reason=failure)
            return jsonify(error_body("invalid_signature", failure)), 401

        # After the signature, so that an unsigned request learns nothing but 401.
        if not is_json_media_type(request.mimetype):
            return _unsupported_media_type(request.headers.get("content-type"))

        try:
            event = load_event(parse_json(body))
        except BodyRefused as exc:
            return _invalid(exc.errors)
        except ValidationError as exc:
            return _invalid(flatten_errors(exc.messages))

        requested = getattr(event.data, "location_id", None)
        if requested is not None and requested != connection.location_id:
            errors = {
                "data.location_id": [
                    f"This connection serves location {connection.location_id!r}, "
                    f"not {requested!r}."
                ]
            }
            return _invalid(errors)

        record, created = store.record_event(
            connection_id=connection.id,
            type=event.type,
            payload=dump_event(event),
            webhook_id=webhook_id,
        )
        if not created:
            log.info("webhook.duplicate", event_id=record.id)
            return jsonify({"event_id": record.id, "status": "duplicate"}), 200

        try:
            task_id = enqueue_event(context.celery(), record)
        except EnqueueError as exc:
            # Nothing half-accepted: forget the event so the CRM's retry is a first delivery.
            store.discard_event(record.id)
            log.error("webhook.enqueue_failed", event_id=record.id, error=str(exc))
            return jsonify(error_body("unavailable", "The queue is unavailable; retry later.")), 503
        log.info("webhook.accepted", event_id=record.id, event_type=event.type, task_id=task_id)
        return jsonify({"event_id": record.id, "status": "queued"}), 202


def _plain_ascii(value: str) -> bool:
    """Printable ASCII only: no control characters (NUL), nothing a database could refuse."""
    return value.isascii() and value.isprintable()


def _unsupported_media_type(content_type: str | None) -> tuple[Any, int]:
    given = f"Content-Type {content_type!a}" if content_type else "no Content-Type"
    message = (
        "The body must be JSON, sent as Content-Type application/json "
        f"(or application/*+json); this request has {given}."
    )
    log.info("webhook.rejected", reason="unsupported media type", content_type=given)
    return jsonify(error_body("unsupported_media_type", message)), 415


def _invalid(errors: dict[str, list[str]]) -> tuple[Any, int]:
    log.info("webhook.rejected", reason="invalid body", errors=errors)
    return jsonify({"errors": errors}), 422


def _verify(connection: ConnectionRecord, body: bytes, headers: dict[str, str]) -> str | None:
    """None when one of the connection's active secrets signed the body; else why not."""
    lowered = {key.lower(): value for key, value in headers.items()}
    missing = [
        h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if h not in lowered
    ]
    if missing:
        return f"Missing header(s): {', '.join(missing)}."
    timestamp = lowered["webhook-timestamp"].strip()
    # isascii: str.isdigit also takes digits such as "²" that no clock writes.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        return "webhook-timestamp must be whole seconds since the Unix epoch."
    if len(lowered["webhook-id"]) > MAX_WEBHOOK_ID:
        return f"webhook-id is longer than {MAX_WEBHOOK_ID} characters."
    if not _plain_ascii(lowered["webhook-id"]):
        return "webhook-id must be printable ASCII: no control or non-ASCII characters."
    for secret in connection.webhook_secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError as exc:
            text = str(exc)
            if "timestamp" in text.lower():
                # Same for every secret: the timestamp is outside the ±5 minute window.
                return f"{text} (allowed: ±5 minutes)."
        except (ValueError, UnicodeDecodeError):
            return "Malformed webhook-signature or body encoding."
        else:
            return None
    return "No signature matches this connection's webhook secrets."
